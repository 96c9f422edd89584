#pragma once
// Unicode for the tokenizers: the character classes BERT and GPT-2 split on, UTF-8
// decoding and encoding, and BERT's normalizer. Internal: not installed, not for public
// headers.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "relprop/text/unicode_tables.hpp"

namespace relprop::text::detail {

// The coarse general category of c (exact where text/unicode_tables.cpp describes it).
Cat category(char32_t c);
// Unicode's White_Space property (Rust's char::is_whitespace, Oniguruma's \s).
bool is_whitespace(char32_t c);
// BERT's punctuation: all ASCII non-alphanumeric printables (including $+<=>^`|~, which
// Unicode calls symbols), and Unicode punctuation.
bool is_bert_punctuation(char32_t c);

// One UTF-8 sequence at s[i]: its length and code point when well-formed; otherwise ok is
// false and len is the maximal ill-formed subpart (>= 1), which a lossy decoder replaces
// by one U+FFFD.
struct Utf8Step {
  std::size_t len;
  bool ok;
  char32_t cp;
};
Utf8Step utf8_step(std::string_view s, std::size_t i);

// Byte offset of the first malformed sequence, if any.
std::optional<std::size_t> utf8_error_at(std::string_view s);
// A ValueError naming the byte offset when text is not valid UTF-8.
void check_utf8(std::string_view text);
// Decodes text already known to be valid.
std::u32string utf8_decode(std::string_view s);
// The code point that ends at byte `end` of valid UTF-8 text, and where it starts.
std::pair<char32_t, std::size_t> code_point_before(std::string_view s, std::size_t end);
void append_utf8(std::string& out, char32_t c);
std::string utf8_encode(std::u32string_view s);
// Bytes to text, each maximal ill-formed subpart replaced by U+FFFD (Rust's
// String::from_utf8_lossy, which `tokenizers` decodes with).
std::string utf8_lossy(std::string_view bytes);

// BERT's normalizer (tokenizer.json's BertNormalizer); every step off by default.
struct Normalizer {
  bool clean_text = false;
  bool handle_chinese_chars = false;
  bool strip_accents = false;
  bool lowercase = false;

  // The steps in `tokenizers`' order: clean, space out CJK, strip accents, lower-case.
  std::u32string apply(std::u32string s) const;
};

}  // namespace relprop::text::detail
