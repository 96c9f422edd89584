// Unicode for the tokenizers: character classes (over the generated tables of
// text/unicode_tables.cpp), UTF-8, and BERT's normalizer.

#include "relprop/text/unicode.hpp"

#include <algorithm>
#include <iterator>
#include <span>

#include "relprop/tensor/error.hpp"

namespace relprop::text::detail {

Cat category(char32_t c) {
  const auto runs = category_runs();
  const auto it = std::upper_bound(runs.begin(), runs.end(), c,
                                   [](char32_t v, const CategoryRun& r) { return v < r.first; });
  return std::prev(it)->cat;  // runs start at U+0000
}

bool is_whitespace(char32_t c) { return (c >= 0x09 && c <= 0x0D) || c == 0x85 || category(c) == Cat::Sep; }

namespace {

// The category `tokenizers`' BERT normalizer and pre-tokenizer see. Its tables (the
// unicode_categories crate) predate Unicode 10: the code points below, assigned or
// reclassified since, are plain characters there (or keep their old category), so BERT
// keeps rather than strips, drops or splits them. Found by running every BMP code point
// through tokenizers 0.23.3; Unicode 14 elsewhere.
Cat bert_category(char32_t c) {
  struct Override {
    char32_t first, last;
    Cat cat;
  };
  static constexpr Override kOlder[] = {
      {0x061D, 0x061D, Cat::Ltr}, {0x07FD, 0x07FD, Cat::Ltr}, {0x0890, 0x0891, Cat::Ltr},
      {0x0898, 0x089F, Cat::Ltr}, {0x08CA, 0x08E2, Cat::Ltr}, {0x09FD, 0x09FE, Cat::Ltr},
      {0x0A76, 0x0A76, Cat::Ltr}, {0x0AFA, 0x0AFF, Cat::Ltr}, {0x0B55, 0x0B55, Cat::Ltr},
      {0x0C04, 0x0C04, Cat::Ltr}, {0x0C3C, 0x0C3C, Cat::Ltr}, {0x0C77, 0x0C77, Cat::Ltr},
      {0x0C84, 0x0C84, Cat::Ltr}, {0x0D00, 0x0D00, Cat::Ltr}, {0x0D3B, 0x0D3C, Cat::Ltr},
      {0x0D81, 0x0D81, Cat::Ltr}, {0x0EBA, 0x0EBA, Cat::Ltr}, {0x166D, 0x166D, Cat::Pun},
      {0x1734, 0x1734, Cat::Mn},  {0x180F, 0x180F, Cat::Ltr}, {0x1885, 0x1886, Cat::Ltr},
      {0x1ABF, 0x1ACE, Cat::Ltr}, {0x1B7D, 0x1B7E, Cat::Ltr}, {0x1DF6, 0x1DFB, Cat::Ltr},
      {0x2E43, 0x2E5D, Cat::Ltr}, {0xA82C, 0xA82C, Cat::Ltr}, {0xA8C5, 0xA8C5, Cat::Ltr},
      {0xA8FF, 0xA8FF, Cat::Ltr}, {0xA9BD, 0xA9BD, Cat::Ltr}};
  for (const Override& o : kOlder)
    if (c >= o.first && c <= o.last) return o.cat;
  return category(c);
}

// BERT's control characters: other (Cc, Cf, Cs, Co) except tab, newline, carriage return.
// Unassigned code points stay, as in `tokenizers`.
bool is_bert_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  const Cat k = bert_category(c);
  return k == Cat::Cc || k == Cat::Cf || k == Cat::Cs || k == Cat::Co;
}

// The CJK ideograph blocks BERT puts spaces around (not kana, not Hangul). Extension E
// starts at U+2B920 here, not U+2B820, as in `tokenizers` (whose ids this reproduces).
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Appends the simple lower-case mapping of c (U+0130 İ: "i" + U+0307, as Rust gives it).
void append_lower(std::u32string& out, char32_t c) {
  if (c == 0x130) {
    out += U'i';
    out += char32_t{0x307};
    return;
  }
  const auto runs = lower_runs();
  const auto it = std::upper_bound(runs.begin(), runs.end(), c,
                                   [](char32_t v, const LowerRun& r) { return v < r.first; });
  if (it != runs.begin()) {
    const LowerRun& r = *std::prev(it);
    if (c <= r.last && (c - r.first) % r.stride == 0) {
      out += static_cast<char32_t>(static_cast<std::int64_t>(c) + r.delta);
      return;
    }
  }
  out += c;
}

// Appends c's canonical decomposition without nonspacing marks (BERT's accent stripping).
void append_stripped(std::u32string& out, char32_t c) {
  constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
  constexpr char32_t kTCount = 28, kNCount = 21 * 28, kSCount = 19 * 21 * 28;
  if (c >= kSBase && c < kSBase + kSCount) {  // Hangul syllable -> leading, vowel, trailing jamo
    const char32_t s = c - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount != 0) out += kTBase + s % kTCount;
    return;
  }
  const auto pairs = strip_pairs();
  const auto it = std::lower_bound(pairs.begin(), pairs.end(), c,
                                   [](const StripPair& p, char32_t v) { return p.cp < v; });
  if (it != pairs.end() && it->cp == c) {
    out += it->base;
    if (it->base2 != 0) out += it->base2;
    return;
  }
  if (bert_category(c) != Cat::Mn) out += c;
}

}  // namespace

bool is_bert_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return bert_category(c) == Cat::Pun;
}

Utf8Step utf8_step(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {1, true, b0};
  std::size_t need = 0;
  char32_t cp = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the next byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {1, false, 0};
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return {k, false, 0};
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < lo || b > hi) return {k, false, 0};
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  return {need + 1, true, cp};
}

std::optional<std::size_t> utf8_error_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Step st = utf8_step(s, i);
    if (!st.ok) return i;
    i += st.len;
  }
  return std::nullopt;
}

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Step st = utf8_step(s, i);
    RELPROP_ASSERT(st.ok, "utf8_decode on unchecked text");
    out += st.cp;
    i += st.len;
  }
  return out;
}

std::pair<char32_t, std::size_t> code_point_before(std::string_view s, std::size_t end) {
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return {utf8_step(s, start).cp, start};
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    const Utf8Step st = utf8_step(bytes, i);
    if (st.ok)
      out.append(bytes.substr(i, st.len));
    else
      append_utf8(out, 0xFFFD);
    i += st.len;
  }
  return out;
}

void check_utf8(std::string_view text) {
  if (const auto at = utf8_error_at(text))
    throw ValueError("text is not valid UTF-8 (malformed sequence at byte " + std::to_string(*at) + ")");
}

std::u32string Normalizer::apply(std::u32string s) const {
  if (clean_text) {
    std::u32string t;
    t.reserve(s.size());
    for (char32_t c : s) {
      if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
      t += is_whitespace(c) ? U' ' : c;
    }
    s = std::move(t);
  }
  if (handle_chinese_chars) {
    std::u32string t;
    t.reserve(s.size());
    for (char32_t c : s) {
      if (is_chinese_char(c)) {
        t += U' ';
        t += c;
        t += U' ';
      } else {
        t += c;
      }
    }
    s = std::move(t);
  }
  if (strip_accents) {
    std::u32string t;
    t.reserve(s.size());
    for (char32_t c : s) append_stripped(t, c);
    s = std::move(t);
  }
  if (lowercase) {
    std::u32string t;
    t.reserve(s.size());
    for (char32_t c : s) append_lower(t, c);
    s = std::move(t);
  }
  return s;
}

}  // namespace relprop::text::detail
