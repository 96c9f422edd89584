// Text tokenizers: the pipeline both models share (added tokens cut out of the raw text,
// the post-processor's template, decoding) and the vocabulary. The models are in
// text/wordpiece.cpp and text/bpe.cpp, their loading in text/loaders.cpp, Unicode and
// UTF-8 in text/unicode.cpp over the generated tables of text/unicode_tables.cpp.
//
// Text is handled as UTF-32 (std::u32string) between the added-token split and the model:
// normalization and pre-tokenization look at code points, the models at UTF-8 strings.

#include "relprop/text/tokenizer.hpp"

#include <algorithm>
#include <utility>

#include "relprop/tensor/error.hpp"
#include "relprop/text/unicode.hpp"

namespace relprop::text {

using namespace detail;

void Vocab::add(std::string token, std::int64_t id) {
  tokens_[id] = token;
  ids_[std::move(token)] = id;
  max_id_ = std::max(max_id_, id);
}

std::optional<std::int64_t> Vocab::find(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* Vocab::token(std::int64_t id) const {
  const auto it = tokens_.find(id);
  return it == tokens_.end() ? nullptr : &it->second;
}

Tokenizer::Tokenizer(Vocab vocab, std::vector<AddedToken> added, PostProcessor post, std::string origin)
    : vocab_(std::move(vocab)), added_(std::move(added)), post_(std::move(post)), origin_(std::move(origin)) {
  for (std::size_t i = 0; i < added_.size(); ++i) {
    added_by_id_.emplace(added_[i].id, i);
    if (!added_[i].content.empty())
      added_first_byte_[static_cast<unsigned char>(added_[i].content[0])] = true;
  }
}

std::optional<std::int64_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken& a : added_)
    if (a.content == token) return a.id;
  return vocab_.find(token);
}

const std::string& Tokenizer::id_to_token(std::int64_t id) const {
  if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) return added_[it->second].content;
  if (const std::string* t = vocab_.token(id)) return *t;
  throw IndexError("no token has id " + std::to_string(id) + " in the tokenizer from '" + origin_ + "'");
}

std::int64_t Tokenizer::vocab_size() const {
  std::int64_t top = vocab_.max_id();
  for (const AddedToken& a : added_) top = std::max(top, a.id);
  return top + 1;
}

namespace {

bool is_word_char(char32_t c) {
  const Cat k = category(c);
  return c == U'_' || k == Cat::Ltr || k == Cat::Num || k == Cat::Mn || k == Cat::Mco;
}

void append_piece(Encoding& out, const Encoding& part, std::int64_t type_id) {
  out.ids.insert(out.ids.end(), part.ids.begin(), part.ids.end());
  out.tokens.insert(out.tokens.end(), part.tokens.begin(), part.tokens.end());
  out.type_ids.insert(out.type_ids.end(), part.ids.size(), type_id);
}

Encoding apply_template(const std::vector<TemplatePiece>& steps, const Encoding& a, const Encoding* b) {
  Encoding out;
  for (const TemplatePiece& step : steps) {
    if (step.sequence == 0) {
      append_piece(out, a, step.type_id);
    } else if (step.sequence == 1) {
      RELPROP_ASSERT(b != nullptr, "a single-sequence template uses $B");
      append_piece(out, *b, step.type_id);
    } else {
      out.ids.insert(out.ids.end(), step.ids.begin(), step.ids.end());
      out.tokens.insert(out.tokens.end(), step.tokens.begin(), step.tokens.end());
      out.type_ids.insert(out.type_ids.end(), step.ids.size(), step.type_id);
    }
  }
  return out;
}

}  // namespace

Encoding Tokenizer::encode_sequence(std::string_view text, std::int64_t type_id) const {
  check_utf8(text);
  Encoding out;
  std::size_t plain = 0;  // start of the text not yet encoded
  std::size_t i = 0;
  while (i < text.size()) {
    // The longest added token starting here (`tokenizers` matches leftmost-longest, and a
    // match refused for single_word is skipped whole, not retried with a shorter token).
    const AddedToken* best = nullptr;
    if (added_first_byte_[static_cast<unsigned char>(text[i])]) {
      for (const AddedToken& a : added_) {
        if (a.content.empty() || (best != nullptr && a.content.size() <= best->content.size())) continue;
        if (text.compare(i, a.content.size(), a.content) == 0) best = &a;
      }
    }
    if (best == nullptr) {
      i += utf8_step(text, i).len;
      continue;
    }
    std::size_t start = i, end = i + best->content.size();
    if (best->single_word && ((start > 0 && is_word_char(code_point_before(text, start).first)) ||
                              (end < text.size() && is_word_char(utf8_step(text, end).cp)))) {
      i = end;
      continue;
    }
    if (best->lstrip) {
      while (start > plain) {
        const auto [c, at] = code_point_before(text, start);
        if (!is_whitespace(c)) break;
        start = at;
      }
    }
    if (best->rstrip) {
      while (end < text.size()) {
        const Utf8Step st = utf8_step(text, end);
        if (!is_whitespace(st.cp)) break;
        end += st.len;
      }
    }
    if (start > plain) encode_piece(text.substr(plain, start - plain), out);
    out.ids.push_back(best->id);
    out.tokens.emplace_back(text.substr(start, end - start));  // with what lstrip/rstrip took
    plain = i = end;
  }
  if (plain < text.size()) encode_piece(text.substr(plain), out);
  out.type_ids.assign(out.ids.size(), type_id);
  return out;
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  Encoding a = encode_sequence(text, 0);
  if (!add_special_tokens || post_.single.empty()) return a;
  return apply_template(post_.single, a, nullptr);
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second,
                                bool add_special_tokens) const {
  Encoding a = encode_sequence(first, 0);
  const Encoding b = encode_sequence(second, 1);
  if (!add_special_tokens || post_.pair.empty()) {
    append_piece(a, b, 1);
    return a;
  }
  return apply_template(post_.pair, a, &b);
}

std::string Tokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int64_t id : ids) {
    const std::string& token = id_to_token(id);
    if (skip_special_tokens) {
      const auto it = added_by_id_.find(id);
      if (it != added_by_id_.end() && added_[it->second].special) continue;
    }
    tokens.push_back(token);
  }
  return decode_tokens(tokens);
}

}  // namespace relprop::text
