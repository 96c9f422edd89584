// BERT's WordPiece model: BERT's pre-tokenizer (whitespace and punctuation splits), greedy
// longest-match-first pieces, and the WordPiece decoder.

#include "relprop/text/wordpiece.hpp"

#include <optional>
#include <string_view>
#include <utility>

#include "relprop/tensor/error.hpp"

namespace relprop::text::detail {

namespace {

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(Vocab vocab, std::vector<AddedToken> added, PostProcessor post, std::string origin,
                     Normalizer normalizer, bool split_words, std::string unk_token, std::string prefix,
                     std::size_t max_chars, WordPieceDecoder decoder)
      : Tokenizer(std::move(vocab), std::move(added), std::move(post), std::move(origin)),
        normalizer_(normalizer),
        split_words_(split_words),
        unk_token_(std::move(unk_token)),
        prefix_(std::move(prefix)),
        max_chars_(max_chars),
        decoder_(std::move(decoder)) {
    const auto unk = this->vocab().find(unk_token_);
    if (!unk)
      throw FormatError(this->origin() + ": the unknown token '" + unk_token_ + "' is not in the vocabulary");
    unk_id_ = *unk;
  }

  std::string_view model_type() const override { return "WordPiece"; }

 private:
  void encode_piece(std::string_view piece, Encoding& out) const override {
    const std::u32string text = normalizer_.apply(utf8_decode(piece));
    if (!split_words_) {
      if (!text.empty()) encode_word(text, out);
      return;
    }
    // BERT's pre-tokenizer: whitespace separates words and is dropped; every punctuation
    // character is a word of its own.
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
      const bool at_end = i == text.size();
      if (!at_end && !is_whitespace(text[i]) && !is_bert_punctuation(text[i])) continue;
      if (i > start) encode_word(std::u32string_view(text).substr(start, i - start), out);
      if (!at_end && !is_whitespace(text[i])) encode_word(std::u32string_view(text).substr(i, 1), out);
      start = i + 1;
    }
  }

  // Greedy longest match first: the longest vocabulary entry at the start of the word,
  // then the longest "##" entry after it, and so on; the word is unk_token when a
  // position has none, or when it is longer than max_chars_ code points.
  void encode_word(std::u32string_view word, Encoding& out) const {
    if (word.size() > max_chars_) return push(unk_id_, unk_token_, out);
    std::vector<std::size_t> offset(word.size() + 1, 0);  // byte offset of each code point
    std::string utf8;
    for (std::size_t k = 0; k < word.size(); ++k) {
      offset[k] = utf8.size();
      append_utf8(utf8, word[k]);
    }
    offset[word.size()] = utf8.size();

    const std::size_t first = out.ids.size();
    std::string candidate;
    for (std::size_t start = 0; start < word.size();) {
      std::size_t end = word.size();
      std::optional<std::int64_t> id;
      for (; end > start; --end) {
        candidate.assign(start > 0 ? prefix_ : std::string());
        candidate.append(utf8, offset[start], offset[end] - offset[start]);
        if ((id = vocab().find(candidate))) break;
      }
      if (!id) {  // no piece fits here: the whole word is unknown
        out.ids.resize(first);
        out.tokens.resize(first);
        return push(unk_id_, unk_token_, out);
      }
      push(*id, candidate, out);
      start = end;
    }
  }

  static void push(std::int64_t id, const std::string& token, Encoding& out) {
    out.ids.push_back(id);
    out.tokens.push_back(token);
  }

  // `tokenizers`' WordPiece decoder: pieces glued to the previous token, words joined by
  // spaces, then (cleanup) the spaces BERT put before punctuation and contractions taken out.
  std::string decode_tokens(const std::vector<std::string>& tokens) const override {
    static constexpr std::pair<std::string_view, std::string_view> kCleanup[] = {
        {" .", "."},   {" ?", "?"},           {" !", "!"},   {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string t = tokens[i];
      if (i > 0) {
        if (t.starts_with(decoder_.prefix))
          t.erase(0, decoder_.prefix.size());
        else
          t.insert(0, " ");
      }
      if (decoder_.cleanup) {
        for (const auto& [from, to] : kCleanup) {
          for (std::size_t at = t.find(from); at != std::string::npos; at = t.find(from, at + to.size()))
            t.replace(at, from.size(), to);
        }
      }
      out += t;
    }
    return out;
  }

  Normalizer normalizer_;
  bool split_words_;
  std::string unk_token_;
  std::string prefix_;
  std::size_t max_chars_;
  WordPieceDecoder decoder_;
  std::int64_t unk_id_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> make_wordpiece(Vocab vocab, std::vector<AddedToken> added, PostProcessor post,
                                          std::string origin, Normalizer normalizer, bool split_words,
                                          std::string unk_token, std::string prefix, std::size_t max_chars,
                                          WordPieceDecoder decoder) {
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(added), std::move(post),
                                              std::move(origin), normalizer, split_words, std::move(unk_token),
                                              std::move(prefix), max_chars, std::move(decoder));
}

}  // namespace relprop::text::detail
