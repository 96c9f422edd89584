// GPT-2's byte-level BPE model: the byte-level alphabet, GPT-2's pre-tokenizer pattern,
// merges by rank, and byte-level decoding.

#include "relprop/text/bpe.hpp"

#include <array>
#include <functional>
#include <queue>
#include <string_view>
#include <utility>

#include "relprop/tensor/error.hpp"

namespace relprop::text::detail {

namespace {

// Every byte gets a printable code point: the printable Latin-1 bytes keep theirs, the
// other 68 (controls, space, DEL, NBSP, soft hyphen) take U+0100 onwards in byte order.
struct ByteAlphabet {
  std::array<std::string, 256> utf8;  // byte -> its code point as UTF-8
  std::unordered_map<char32_t, unsigned char> byte_of;

  ByteAlphabet() {
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      append_utf8(utf8[static_cast<std::size_t>(b)], c);
      byte_of.emplace(c, static_cast<unsigned char>(b));
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

// GPT-2's pre-tokenizer pattern, matched by hand at s[i]; returns where the match ends:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::size_t gpt2_match(std::u32string_view s, std::size_t i) {
  const std::size_t n = s.size();
  if (s[i] == U'\'' && i + 1 < n) {
    const char32_t a = s[i + 1];
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return i + 2;
    if (i + 2 < n) {
      const char32_t b = s[i + 2];
      if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return i + 3;
    }
  }
  // The three classes that may follow one optional space: letters, numbers, and the rest
  // (neither space, letter nor number).
  enum class Kind { Space, Letter, Number, Other };
  const auto kind = [](char32_t c) {
    if (is_whitespace(c)) return Kind::Space;
    const Cat k = category(c);
    return k == Cat::Ltr ? Kind::Letter : k == Cat::Num ? Kind::Number : Kind::Other;
  };
  const std::size_t j = (s[i] == U' ' && i + 1 < n && kind(s[i + 1]) != Kind::Space) ? i + 1 : i;
  if (const Kind k = kind(s[j]); k != Kind::Space) {
    std::size_t end = j + 1;
    while (end < n && kind(s[end]) == k) ++end;
    return end;
  }
  // A run of whitespace: all of it at the end of the text; otherwise all but its last
  // character (\s+(?!\S) backtracks one), which then leads the next word; a single
  // whitespace character before a word is a match of its own (\s+).
  std::size_t end = i;
  while (end < n && is_whitespace(s[end])) ++end;
  if (end == n || end - i == 1) return end;
  return end - 1;
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(Vocab vocab, std::vector<AddedToken> added, PostProcessor post, std::string origin,
               Normalizer normalizer, BpeModel model, bool add_prefix_space, bool use_regex)
      : Tokenizer(std::move(vocab), std::move(added), std::move(post), std::move(origin)),
        normalizer_(normalizer),
        model_(std::move(model)),
        add_prefix_space_(add_prefix_space),
        use_regex_(use_regex) {
    if (model_.unk_token) {
      const auto unk = this->vocab().find(*model_.unk_token);
      if (!unk)
        throw FormatError(this->origin() + ": the unknown token '" + *model_.unk_token +
                          "' is not in the vocabulary");
      unk_id_ = *unk;
    }
  }

  std::string_view model_type() const override { return "BPE"; }

 private:
  void encode_piece(std::string_view piece, Encoding& out) const override {
    std::u32string text = normalizer_.apply(utf8_decode(piece));
    if (text.empty()) return;
    if (add_prefix_space_ && text.front() != U' ') text.insert(text.begin(), U' ');
    const std::u32string_view view(text);
    if (!use_regex_) return encode_word(utf8_encode(view), out);
    for (std::size_t i = 0; i < view.size();) {
      const std::size_t end = gpt2_match(view, i);
      encode_word(utf8_encode(view.substr(i, end - i)), out);
      i = end;
    }
  }

  // One word's bytes, each as its byte-level character, merged pair by pair: always the
  // pair of lowest rank, the leftmost of equals (a heap, as `tokenizers` does it).
  void encode_word(const std::string& bytes, Encoding& out) const {
    const ByteAlphabet& alphabet = byte_alphabet();
    std::string word;
    for (unsigned char b : bytes) word += alphabet.utf8[b];
    if (model_.ignore_merges) {
      if (const auto id = vocab().find(word)) {
        out.ids.push_back(*id);
        out.tokens.push_back(word);
        return;
      }
    }

    struct Symbol {
      std::int64_t id;
      std::int64_t prev, next;  // neighbours in the list, -1 at the ends
      bool alive;
    };
    std::vector<Symbol> symbols;
    bool last_unk = false;
    for (unsigned char b : bytes) {
      const auto id = vocab().find(alphabet.utf8[b]);
      if (!id) {
        if (!model_.unk_token) continue;  // no unknown token: the character is dropped
        if (model_.fuse_unk && last_unk) continue;
        last_unk = true;
        symbols.push_back({unk_id_, 0, 0, true});
        continue;
      }
      last_unk = false;
      symbols.push_back({*id, 0, 0, true});
    }
    const auto count = static_cast<std::int64_t>(symbols.size());
    for (std::int64_t k = 0; k < count; ++k) {
      symbols[static_cast<std::size_t>(k)].prev = k - 1;
      symbols[static_cast<std::size_t>(k)].next = k + 1 < count ? k + 1 : -1;
    }

    struct Candidate {
      std::int32_t rank;
      std::int64_t pos;     // the left symbol
      std::int64_t new_id;  // what the merge makes, to spot stale entries
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto consider = [&](std::int64_t left) {
      if (left < 0) return;
      const Symbol& l = symbols[static_cast<std::size_t>(left)];
      if (l.next < 0) return;
      const auto it = model_.merges.find(BpeModel::key(l.id, symbols[static_cast<std::size_t>(l.next)].id));
      if (it != model_.merges.end()) queue.push({it->second.rank, left, it->second.id});
    };
    for (std::int64_t k = 0; k < count; ++k) consider(k);
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& l = symbols[static_cast<std::size_t>(top.pos)];
      if (!l.alive || l.next < 0) continue;
      Symbol& r = symbols[static_cast<std::size_t>(l.next)];
      const auto it = model_.merges.find(BpeModel::key(l.id, r.id));
      if (it == model_.merges.end() || it->second.id != top.new_id) continue;  // stale
      l.id = top.new_id;
      r.alive = false;
      l.next = r.next;
      if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = top.pos;
      consider(l.prev);
      consider(top.pos);
    }
    for (const Symbol& s : symbols) {
      if (!s.alive) continue;
      out.ids.push_back(s.id);
      out.tokens.push_back(id_to_token(s.id));
    }
  }

  // Byte-level decoding: each token's characters back to bytes (a token with a character
  // outside the alphabet, like an added token, contributes its own UTF-8), then the bytes
  // as UTF-8 with U+FFFD for what is malformed.
  std::string decode_tokens(const std::vector<std::string>& tokens) const override {
    const ByteAlphabet& alphabet = byte_alphabet();
    std::string bytes;
    std::string mapped;
    for (const std::string& t : tokens) {
      mapped.clear();
      bool all_mapped = true;
      for (std::size_t i = 0; i < t.size() && all_mapped;) {
        const Utf8Step st = utf8_step(t, i);
        const auto it = st.ok ? alphabet.byte_of.find(st.cp) : alphabet.byte_of.end();
        if (it == alphabet.byte_of.end()) {
          all_mapped = false;
        } else {
          mapped += static_cast<char>(it->second);
        }
        i += st.len;
      }
      bytes += all_mapped ? mapped : t;
    }
    return utf8_lossy(bytes);
  }

  Normalizer normalizer_;
  BpeModel model_;
  bool add_prefix_space_;
  bool use_regex_;
  std::int64_t unk_id_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe(Vocab vocab, std::vector<AddedToken> added, PostProcessor post,
                                    std::string origin, Normalizer normalizer, BpeModel model,
                                    bool add_prefix_space, bool use_regex) {
  return std::make_unique<BpeTokenizer>(std::move(vocab), std::move(added), std::move(post), std::move(origin),
                                        normalizer, std::move(model), add_prefix_space, use_regex);
}

}  // namespace relprop::text::detail
