// WordPiece (BERT) and byte-level BPE (GPT-2) tokenizers, matching Hugging Face's
// `tokenizers` id for id. Sections: Unicode (UTF-8, categories, case, accents), reading
// files, the shared pipeline (added tokens, templates, decode), WordPiece, BPE, loaders,
// and at the end the generated Unicode tables.
//
// Text is handled as UTF-32 (std::u32string) between the added-token split and the model:
// normalization and pre-tokenization look at code points, the models at UTF-8 strings.

#include "relprop/text/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <queue>
#include <span>
#include <utility>

#include <nlohmann/json.hpp>

#include "relprop/tensor/error.hpp"

namespace relprop::text {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- Unicode ------------------------------------------------------------------------------

// Coarse general categories: L*, Mn, Mc+Me, N*, P*, S*, Z*, then Cc, Cf, Cs, Co, Cn.
enum class Cat : std::uint8_t { Ltr, Mn, Mco, Num, Pun, Sym, Sep, Cc, Cf, Cs, Co, Cn };

struct CategoryRun {
  char32_t first;  // the run lasts until the next run's first
  Cat cat;
};
struct LowerRun {
  char32_t first, last;  // every `stride`-th code point from first to last maps to cp + delta
  std::int32_t delta;
  std::uint8_t stride;
};
struct StripPair {
  char32_t cp;         // a code point whose NFD differs from it
  char32_t base;       // its NFD without nonspacing marks: one code point,
  char32_t base2 = 0;  // or two
};

// The generated tables, defined at the end of this file.
std::span<const CategoryRun> category_runs();
std::span<const LowerRun> lower_runs();
std::span<const StripPair> strip_pairs();

Cat category(char32_t c) {
  const auto runs = category_runs();
  const auto it = std::upper_bound(runs.begin(), runs.end(), c,
                                   [](char32_t v, const CategoryRun& r) { return v < r.first; });
  return std::prev(it)->cat;  // runs start at U+0000
}

// Unicode's White_Space property (Rust's char::is_whitespace, Oniguruma's \s).
bool is_whitespace(char32_t c) { return (c >= 0x09 && c <= 0x0D) || c == 0x85 || category(c) == Cat::Sep; }

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

// BERT's punctuation: all ASCII non-alphanumeric printables (including $+<=>^`|~, which
// Unicode calls symbols), and Unicode punctuation.
bool is_bert_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return bert_category(c) == Cat::Pun;
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

// One UTF-8 sequence at s[i]: its length and code point when well-formed; otherwise ok is
// false and len is the maximal ill-formed subpart (>= 1), which a lossy decoder replaces
// by one U+FFFD.
struct Utf8Step {
  std::size_t len;
  bool ok;
  char32_t cp;
};

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

// Byte offset of the first malformed sequence, if any.
std::optional<std::size_t> utf8_error_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Step st = utf8_step(s, i);
    if (!st.ok) return i;
    i += st.len;
  }
  return std::nullopt;
}

// Decodes text already known to be valid.
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

// The code point that ends at byte `end` of valid UTF-8 text, and where it starts.
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

// Bytes to text, each maximal ill-formed subpart replaced by U+FFFD (Rust's
// String::from_utf8_lossy, which `tokenizers` decodes with).
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

// ---- BERT's normalizer ----------------------------------------------------------------------

struct Normalizer {
  bool clean_text = false;
  bool handle_chinese_chars = false;
  bool strip_accents = false;
  bool lowercase = false;

  // The steps in `tokenizers`' order: clean, space out CJK, strip accents, lower-case.
  std::u32string apply(std::u32string s) const {
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
};

Normalizer bert_normalizer(const WordPieceOptions& o) {
  return {o.clean_text, o.handle_chinese_chars, o.strip_accents.value_or(o.lowercase), o.lowercase};
}

// ---- files --------------------------------------------------------------------------------

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::string read_file(const fs::path& path, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw IoError("cannot read " + std::string(what) + " " + quoted(path) + ": " + std::strerror(errno));
  std::string data;
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw IoError("cannot read " + std::string(what) + " " + quoted(path) + ": read error");
  return data;
}

// No tokenizer file nests deeper than a handful of levels.
constexpr int kMaxJsonDepth = 32;

json parse_json_file(const fs::path& path, std::string_view what) {
  const std::string text = read_file(path, what);
  const std::string where = std::string(what) + " " + quoted(path);
  if (const auto at = utf8_error_at(text))
    throw FormatError(where + " is not valid UTF-8 (malformed sequence at byte " + std::to_string(*at) + ")");
  // nlohmann's lexer takes a NUL byte for the end of the input; JSON never has one.
  if (const auto nul = text.find('\0'); nul != std::string::npos)
    throw FormatError(where + " is not valid JSON: NUL byte at byte " + std::to_string(nul));
  try {
    return json::parse(text, [&](int depth, json::parse_event_t event, json&) {
      if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
          depth >= kMaxJsonDepth)
        throw FormatError(where + " nests more than " + std::to_string(kMaxJsonDepth) + " levels deep");
      return true;
    });
  } catch (const json::exception& e) {
    throw FormatError(where + " is not valid JSON: " + e.what());
  }
}

// One JSON object of a file; every error names the file and the field.
class Fields {
 public:
  Fields(const json& j, std::string file, std::string path)
      : j_(j), file_(std::move(file)), path_(std::move(path)) {
    if (!j_.is_object()) fail("must be an object, not " + std::string(j_.type_name()));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(file_ + ": " + (path_.empty() ? "the file" : path_) + " " + what);
  }
  [[noreturn]] void fail(const char* key, const std::string& what) const {
    throw FormatError(file_ + ": " + name(key) + " " + what);
  }
  std::string name(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  // The member, or nullptr when absent or null.
  const json* get(const char* key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& required(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) fail(key, "is missing");
    return *v;
  }
  Fields object(const char* key) const { return Fields(required(key), file_, name(key)); }
  Fields object(const json& v, const std::string& path) const { return Fields(v, file_, path); }

  bool boolean(const char* key, bool fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail(key, "must be true or false");
    return v->get<bool>();
  }
  std::optional<bool> optional_boolean(const char* key) const {
    if (get(key) == nullptr) return std::nullopt;
    return boolean(key, false);
  }
  std::optional<std::string> optional_string(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string");
    return v->get<std::string>();
  }
  std::string string(const char* key) const {
    auto s = optional_string(key);
    if (!s) fail(key, "is missing");
    return *s;
  }
  std::string string(const char* key, const std::string& fallback) const {
    return optional_string(key).value_or(fallback);
  }
  std::int64_t integer(const char* key) const {
    const json& v = required(key);
    return as_id(v, name(key));
  }
  std::int64_t integer(const char* key, std::int64_t fallback) const {
    return get(key) == nullptr ? fallback : integer(key);
  }
  // An integer from 0 to 2^31 - 1 (ids, lengths).
  std::int64_t as_id(const json& v, const std::string& what) const {
    bool ok = false;
    if (v.is_number_unsigned())
      ok = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxId);
    else if (v.is_number_integer())
      ok = v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= kMaxId;
    if (!ok) throw FormatError(file_ + ": " + what + " must be an integer from 0 to 2^31 - 1");
    return v.get<std::int64_t>();
  }
  const std::string& file() const { return file_; }

 private:
  static constexpr std::int64_t kMaxId = std::numeric_limits<std::int32_t>::max();
  const json& j_;
  std::string file_, path_;
};

// Token -> id from a JSON object (tokenizer.json's model.vocab, vocab.json).
Vocab vocab_from_json(const Fields& owner, const json& v, const std::string& what) {
  if (!v.is_object()) throw FormatError(owner.file() + ": " + what + " must be an object of token -> id");
  Vocab vocab;
  std::unordered_map<std::int64_t, std::string> seen;
  for (const auto& [token, id_json] : v.items()) {
    const std::int64_t id = owner.as_id(id_json, what + "[\"" + token + "\"]");
    if (const auto [it, fresh] = seen.emplace(id, token); !fresh)
      throw FormatError(owner.file() + ": " + what + " gives id " + std::to_string(id) + " to both '" +
                        it->second + "' and '" + token + "'");
    vocab.add(token, id);
  }
  if (vocab.size() == 0) throw FormatError(owner.file() + ": " + what + " is empty");
  return vocab;
}

// ---- GPT-2's byte-level alphabet -----------------------------------------------------------

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

}  // namespace

// ---- Vocab and the shared pipeline ----------------------------------------------------------

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

namespace {

// ---- WordPiece ------------------------------------------------------------------------------

struct WordPieceDecoder {
  std::string prefix = "##";
  bool cleanup = true;
};

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

// ---- byte-level BPE -------------------------------------------------------------------------

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

struct Merge {
  std::int32_t rank;
  std::int64_t id;  // the merged token
};

struct BpeModel {
  std::unordered_map<std::uint64_t, Merge> merges;  // (left id, right id) -> merge
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool ignore_merges = false;

  static std::uint64_t key(std::int64_t left, std::int64_t right) {
    return (static_cast<std::uint64_t>(left) << 32) | static_cast<std::uint64_t>(right);
  }
};

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

// ---- loaders --------------------------------------------------------------------------------

// BERT's special tokens that a vocab.txt holds, as added tokens.
std::vector<AddedToken> bert_specials(const Vocab& vocab, const std::string& unk_token) {
  std::vector<AddedToken> added;
  for (const std::string& t :
       {std::string("[PAD]"), unk_token, std::string("[CLS]"), std::string("[SEP]"), std::string("[MASK]")}) {
    const auto id = vocab.find(t);
    if (!id || std::any_of(added.begin(), added.end(), [&](const AddedToken& a) { return a.content == t; }))
      continue;
    AddedToken a;
    a.content = t;
    a.id = *id;
    a.special = true;
    added.push_back(std::move(a));
  }
  return added;
}

TemplatePiece special_piece(std::string token, std::int64_t id, std::int64_t type_id) {
  TemplatePiece p;
  p.ids = {id};
  p.tokens = {std::move(token)};
  p.type_id = type_id;
  return p;
}

TemplatePiece sequence_piece(int sequence, std::int64_t type_id) {
  TemplatePiece p;
  p.sequence = sequence;
  p.type_id = type_id;
  return p;
}

// [CLS] $A [SEP] and [CLS] $A [SEP] $B:1 [SEP]:1
PostProcessor bert_template(const std::string& cls, std::int64_t cls_id, const std::string& sep,
                            std::int64_t sep_id) {
  PostProcessor p;
  p.single = {special_piece(cls, cls_id, 0), sequence_piece(0, 0), special_piece(sep, sep_id, 0)};
  p.pair = {special_piece(cls, cls_id, 0), sequence_piece(0, 0), special_piece(sep, sep_id, 0),
            sequence_piece(1, 1), special_piece(sep, sep_id, 1)};
  return p;
}

std::unique_ptr<Tokenizer> wordpiece_from_vocab(Vocab vocab, const WordPieceOptions& options,
                                                const std::string& origin) {
  const auto cls = vocab.find("[CLS]");
  const auto sep = vocab.find("[SEP]");
  if (!cls || !sep) throw FormatError(origin + ": BERT's [CLS] and [SEP] tokens are not in the vocabulary");
  std::vector<AddedToken> added = bert_specials(vocab, options.unk_token);
  PostProcessor post = bert_template("[CLS]", *cls, "[SEP]", *sep);
  return std::make_unique<WordPieceTokenizer>(
      std::move(vocab), std::move(added), std::move(post), origin, bert_normalizer(options), true,
      options.unk_token, options.continuing_subword_prefix, options.max_input_chars_per_word,
      WordPieceDecoder{options.continuing_subword_prefix, true});
}

// Splits a text file into lines ("\n" or "\r\n"; no empty last line after a final newline).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

std::int32_t checked_rank(std::size_t rank, const std::string& origin) {
  if (rank >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw FormatError(origin + ": more than 2^31 merges");
  return static_cast<std::int32_t>(rank);
}

void add_merge(BpeModel& model, const Vocab& vocab, const std::string& left, const std::string& right,
               std::size_t rank, const std::string& where) {
  const auto l = vocab.find(left), r = vocab.find(right), m = vocab.find(left + right);
  if (!l || !r || !m)
    throw FormatError(where + ": the merge '" + left + " " + right +
                      "' uses or makes a token not in the vocabulary");
  model.merges.insert_or_assign(BpeModel::key(*l, *r), Merge{checked_rank(rank, where), *m});
}

}  // namespace

std::unique_ptr<Tokenizer> load_wordpiece_vocab(const fs::path& vocab_txt, const WordPieceOptions& options) {
  const std::string text = read_file(vocab_txt, "vocab.txt");
  const std::string origin = "vocab.txt " + quoted(vocab_txt);
  const auto lines = split_lines(text);
  if (lines.empty()) throw FormatError(origin + " is empty");
  Vocab vocab;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (utf8_error_at(line))
      throw FormatError(origin + ": line " + std::to_string(i + 1) + " is not valid UTF-8");
    while (!line.empty()) {  // trailing whitespace goes, as `tokenizers` trims it
      const auto [c, at] = code_point_before(line, line.size());
      if (!is_whitespace(c)) break;
      line = line.substr(0, at);
    }
    vocab.add(std::string(line), static_cast<std::int64_t>(i));
  }
  return wordpiece_from_vocab(std::move(vocab), options, origin);
}

std::unique_ptr<Tokenizer> load_bpe_vocab(const fs::path& vocab_json, const fs::path& merges_txt,
                                          const BpeOptions& options) {
  const std::string vocab_origin = "vocab.json " + quoted(vocab_json);
  const json j = parse_json_file(vocab_json, "vocab.json");
  const Fields root(j, vocab_origin, "");
  Vocab vocab = vocab_from_json(root, j, "the vocabulary");

  const std::string merges_origin = "merges.txt " + quoted(merges_txt);
  const std::string text = read_file(merges_txt, "merges.txt");
  if (const auto at = utf8_error_at(text))
    throw FormatError(merges_origin + " is not valid UTF-8 (malformed sequence at byte " +
                      std::to_string(*at) + ")");
  BpeModel model;
  std::size_t rank = 0;
  const auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.starts_with("#version")) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
      throw FormatError(merges_origin + ": line " + std::to_string(i + 1) +
                        " is not two tokens separated by one space");
    add_merge(model, vocab, std::string(line.substr(0, space)), std::string(line.substr(space + 1)), rank++,
              merges_origin + " line " + std::to_string(i + 1));
  }

  std::vector<AddedToken> added;
  if (const auto eot = vocab.find("<|endoftext|>")) {
    AddedToken a;
    a.content = "<|endoftext|>";
    a.id = *eot;
    a.special = true;
    added.push_back(std::move(a));
  }
  return std::make_unique<BpeTokenizer>(std::move(vocab), std::move(added), PostProcessor{}, vocab_origin,
                                        Normalizer{}, std::move(model), options.add_prefix_space, true);
}

namespace {

Normalizer parse_normalizer(const Fields& root) {
  if (root.get("normalizer") == nullptr) return {};
  const Fields n = root.object("normalizer");
  const std::string type = n.string("type");
  if (type != "BertNormalizer")
    throw UnsupportedError(root.file() + ": normalizer type '" + type +
                           "' is not supported (BertNormalizer or null only)");
  Normalizer out;
  out.clean_text = n.boolean("clean_text", true);
  out.handle_chinese_chars = n.boolean("handle_chinese_chars", true);
  out.lowercase = n.boolean("lowercase", true);
  out.strip_accents = n.optional_boolean("strip_accents").value_or(out.lowercase);
  return out;
}

std::vector<AddedToken> parse_added_tokens(const Fields& root) {
  std::vector<AddedToken> added;
  const json* list = root.get("added_tokens");
  if (list == nullptr) return added;
  if (!list->is_array()) root.fail("added_tokens", "must be a list");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Fields t = root.object((*list)[i], "added_tokens[" + std::to_string(i) + "]");
    AddedToken a;
    a.id = t.integer("id");
    a.content = t.string("content");
    a.special = t.boolean("special", false);
    a.lstrip = t.boolean("lstrip", false);
    a.rstrip = t.boolean("rstrip", false);
    a.single_word = t.boolean("single_word", false);
    added.push_back(std::move(a));
  }
  return added;
}

// TemplateProcessing's "single"/"pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
// {"Sequence": {"id": "A", "type_id": 0}}, ...], specials looked up in "special_tokens".
std::vector<TemplatePiece> parse_template(const Fields& proc, const char* key, const json& specials) {
  std::vector<TemplatePiece> out;
  const json& list = proc.required(key);
  if (!list.is_array()) proc.fail(key, "must be a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = proc.name(key) + "[" + std::to_string(i) + "]";
    const Fields step = proc.object(list[i], where);
    if (step.get("Sequence") != nullptr) {
      const Fields s = step.object("Sequence");
      const std::string id = s.string("id");
      if (id != "A" && id != "B") s.fail("id", "must be \"A\" or \"B\"");
      out.push_back(sequence_piece(id == "A" ? 0 : 1, s.integer("type_id", 0)));
    } else if (step.get("SpecialToken") != nullptr) {
      const Fields s = step.object("SpecialToken");
      const std::string id = s.string("id");
      if (!specials.is_object() || !specials.contains(id))
        s.fail("id", "names '" + id + "', which special_tokens does not define");
      const Fields def = proc.object(specials.at(id), proc.name("special_tokens") + "." + id);
      TemplatePiece p;
      p.type_id = s.integer("type_id", 0);
      const json& ids = def.required("ids");
      const json& tokens = def.required("tokens");
      if (!ids.is_array() || !tokens.is_array() || ids.size() != tokens.size())
        def.fail("must have lists \"ids\" and \"tokens\" of the same length");
      for (std::size_t k = 0; k < ids.size(); ++k) {
        p.ids.push_back(def.as_id(ids[k], def.name("ids")));
        if (!tokens[k].is_string()) def.fail("tokens", "must hold strings");
        p.tokens.push_back(tokens[k].get<std::string>());
      }
      out.push_back(std::move(p));
    } else {
      step.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (std::string_view(key) == "single" &&
      std::any_of(out.begin(), out.end(), [](const TemplatePiece& p) { return p.sequence == 1; }))
    proc.fail(key, "uses sequence B");
  return out;
}

void parse_post_processor_into(const Fields& proc, PostProcessor& out) {
  const std::string type = proc.string("type");
  if (type == "ByteLevel") return;  // offsets only: no tokens
  if (type == "TemplateProcessing") {
    const json* specials = proc.get("special_tokens");
    const json none = json::object();
    out.single = parse_template(proc, "single", specials ? *specials : none);
    out.pair = parse_template(proc, "pair", specials ? *specials : none);
    return;
  }
  if (type == "BertProcessing") {
    const auto pair = [&](const char* key) -> std::pair<std::string, std::int64_t> {
      const json& v = proc.required(key);
      if (!v.is_array() || v.size() != 2 || !v[0].is_string()) proc.fail(key, "must be [token, id]");
      return {v[0].get<std::string>(), proc.as_id(v[1], proc.name(key) + "[1]")};
    };
    const auto [cls, cls_id] = pair("cls");
    const auto [sep, sep_id] = pair("sep");
    out = bert_template(cls, cls_id, sep, sep_id);
    return;
  }
  if (type == "Sequence") {
    const json& list = proc.required("processors");
    if (!list.is_array()) proc.fail("processors", "must be a list");
    for (std::size_t i = 0; i < list.size(); ++i)
      parse_post_processor_into(proc.object(list[i], proc.name("processors") + "[" + std::to_string(i) + "]"),
                                out);
    return;
  }
  throw UnsupportedError(
      proc.file() + ": post_processor type '" + type +
      "' is not supported (TemplateProcessing, BertProcessing, ByteLevel, Sequence or null)");
}

PostProcessor parse_post_processor(const Fields& root) {
  PostProcessor out;
  if (root.get("post_processor") != nullptr) parse_post_processor_into(root.object("post_processor"), out);
  return out;
}

std::unique_ptr<Tokenizer> wordpiece_from_json(const Fields& root, const Fields& model,
                                               std::vector<AddedToken> added, PostProcessor post) {
  Vocab vocab = vocab_from_json(model, model.required("vocab"), "model.vocab");
  const std::string unk = model.string("unk_token", "[UNK]");
  const std::string prefix = model.string("continuing_subword_prefix", "##");
  const auto max_chars = static_cast<std::size_t>(model.integer("max_input_chars_per_word", 100));

  bool split_words = false;
  if (root.get("pre_tokenizer") != nullptr) {
    const Fields pre = root.object("pre_tokenizer");
    const std::string type = pre.string("type");
    if (type != "BertPreTokenizer")
      throw UnsupportedError(root.file() + ": pre_tokenizer type '" + type +
                             "' is not supported with WordPiece (BertPreTokenizer or null only)");
    split_words = true;
  }
  WordPieceDecoder decoder{prefix, true};
  if (root.get("decoder") != nullptr) {
    const Fields d = root.object("decoder");
    if (d.string("type") == "WordPiece") decoder = {d.string("prefix", "##"), d.boolean("cleanup", true)};
  }
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(added), std::move(post),
                                              root.file(), parse_normalizer(root), split_words, unk, prefix,
                                              max_chars, std::move(decoder));
}

std::unique_ptr<Tokenizer> bpe_from_json(const Fields& root, const Fields& model,
                                         std::vector<AddedToken> added, PostProcessor post) {
  Vocab vocab = vocab_from_json(model, model.required("vocab"), "model.vocab");
  if (const json* dropout = model.get("dropout");
      dropout != nullptr && (!dropout->is_number() || dropout->get<double>() > 0))
    throw UnsupportedError(root.file() + ": BPE dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!model.string(key, "").empty())
      throw UnsupportedError(root.file() + ": BPE with a " + std::string(key) + " is not supported");

  BpeModel bpe;
  bpe.unk_token = model.optional_string("unk_token");
  bpe.fuse_unk = model.boolean("fuse_unk", false);
  bpe.ignore_merges = model.boolean("ignore_merges", false);
  const json& merges = model.required("merges");
  if (!merges.is_array()) model.fail("merges", "must be a list");
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string where = root.file() + " model.merges[" + std::to_string(i) + "]";
    if (m.is_string()) {  // "left right" (files written before tokenizers 0.20)
      const std::string s = m.get<std::string>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        throw FormatError(where + " is not two tokens separated by one space");
      add_merge(bpe, vocab, s.substr(0, space), s.substr(space + 1), i, where);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(bpe, vocab, m[0].get<std::string>(), m[1].get<std::string>(), i, where);
    } else {
      throw FormatError(where + " must be \"left right\" or [left, right]");
    }
  }

  if (root.get("pre_tokenizer") == nullptr)
    throw UnsupportedError(root.file() + ": BPE without the ByteLevel pre_tokenizer is not supported");
  const Fields pre = root.object("pre_tokenizer");
  const std::string type = pre.string("type");
  if (type != "ByteLevel")
    throw UnsupportedError(root.file() + ": pre_tokenizer type '" + type +
                           "' is not supported with BPE (ByteLevel only)");
  return std::make_unique<BpeTokenizer>(
      std::move(vocab), std::move(added), std::move(post), root.file(), parse_normalizer(root),
      std::move(bpe), pre.boolean("add_prefix_space", true), pre.boolean("use_regex", true));
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const fs::path& tokenizer_json) {
  const json j = parse_json_file(tokenizer_json, "tokenizer.json");
  const Fields root(j, "tokenizer.json " + quoted(tokenizer_json), "");
  const Fields model = root.object("model");
  std::vector<AddedToken> added = parse_added_tokens(root);
  PostProcessor post = parse_post_processor(root);
  const std::string type = model.string("type");
  if (type == "WordPiece") return wordpiece_from_json(root, model, std::move(added), std::move(post));
  if (type == "BPE") return bpe_from_json(root, model, std::move(added), std::move(post));
  throw UnsupportedError(root.file() + ": model type '" + type +
                         "' is not supported (WordPiece or BPE only)");
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec))
    throw NotFoundError("tokenizer folder " + quoted(model_dir) + " does not exist or is not a folder");
  const auto has = [&](const char* name) { return fs::is_regular_file(model_dir / name, ec); };
  if (has("tokenizer.json")) return load_tokenizer_json(model_dir / "tokenizer.json");

  // The plain vocabulary files; tokenizer_config.json, when there, carries the settings.
  std::optional<json> config;
  const fs::path config_path = model_dir / "tokenizer_config.json";
  if (has("tokenizer_config.json")) config = parse_json_file(config_path, "tokenizer_config.json");
  const std::optional<Fields> settings =
      config
          ? std::optional<Fields>(std::in_place, *config, "tokenizer_config.json " + quoted(config_path), "")
          : std::nullopt;

  if (has("vocab.txt")) {
    WordPieceOptions options;
    if (settings) {
      options.lowercase = settings->boolean("do_lower_case", true);
      options.strip_accents = settings->optional_boolean("strip_accents");
      options.handle_chinese_chars = settings->boolean("tokenize_chinese_chars", true);
    }
    return load_wordpiece_vocab(model_dir / "vocab.txt", options);
  }
  if (has("vocab.json") && has("merges.txt")) {
    BpeOptions options;
    if (settings) options.add_prefix_space = settings->boolean("add_prefix_space", false);
    return load_bpe_vocab(model_dir / "vocab.json", model_dir / "merges.txt", options);
  }
  throw NotFoundError("no tokenizer in " + quoted(model_dir) +
                      ": expected tokenizer.json, vocab.txt, or vocab.json with merges.txt");
}

// ---- generated Unicode tables ----------------------------------------------------------------

namespace {

using enum Cat;

// clang-format off
// Generated by tools/make_tokenizer_fixtures.py --unicode-tables from Unicode 14.0.0.
constexpr CategoryRun kCategoryRuns[1530] = {
    {0x0,Cc}, {0x20,Sep}, {0x21,Pun}, {0x24,Sym}, {0x25,Pun}, {0x2B,Sym}, {0x2C,Pun}, {0x30,Num},
    {0x3A,Pun}, {0x3C,Sym}, {0x3F,Pun}, {0x41,Ltr}, {0x5B,Pun}, {0x5E,Sym}, {0x5F,Pun}, {0x60,Sym},
    {0x61,Ltr}, {0x7B,Pun}, {0x7C,Sym}, {0x7D,Pun}, {0x7E,Sym}, {0x7F,Cc}, {0xA0,Sep}, {0xA1,Pun},
    {0xA2,Sym}, {0xA7,Pun}, {0xA8,Sym}, {0xAA,Ltr}, {0xAB,Pun}, {0xAC,Sym}, {0xAD,Cf}, {0xAE,Sym},
    {0xB2,Num}, {0xB4,Sym}, {0xB5,Ltr}, {0xB6,Pun}, {0xB8,Sym}, {0xB9,Num}, {0xBA,Ltr}, {0xBB,Pun},
    {0xBC,Num}, {0xBF,Pun}, {0xC0,Ltr}, {0xD7,Sym}, {0xD8,Ltr}, {0xF7,Sym}, {0xF8,Ltr}, {0x2C2,Sym},
    {0x2C6,Ltr}, {0x2D2,Sym}, {0x2E0,Ltr}, {0x2E5,Sym}, {0x2EC,Ltr}, {0x2ED,Sym}, {0x2EE,Ltr},
    {0x2EF,Sym}, {0x300,Mn}, {0x370,Ltr}, {0x375,Sym}, {0x376,Ltr}, {0x378,Cn}, {0x37A,Ltr},
    {0x37E,Pun}, {0x37F,Ltr}, {0x380,Cn}, {0x384,Sym}, {0x386,Ltr}, {0x387,Pun}, {0x388,Ltr},
    {0x38B,Cn}, {0x38C,Ltr}, {0x38D,Cn}, {0x38E,Ltr}, {0x3A2,Cn}, {0x3A3,Ltr}, {0x3F6,Sym},
    {0x3F7,Ltr}, {0x482,Sym}, {0x483,Mn}, {0x488,Mco}, {0x48A,Ltr}, {0x530,Cn}, {0x531,Ltr},
    {0x557,Cn}, {0x559,Ltr}, {0x55A,Pun}, {0x560,Ltr}, {0x589,Pun}, {0x58B,Cn}, {0x58D,Sym},
    {0x590,Cn}, {0x591,Mn}, {0x5BE,Pun}, {0x5BF,Mn}, {0x5C0,Pun}, {0x5C1,Mn}, {0x5C3,Pun},
    {0x5C4,Mn}, {0x5C6,Pun}, {0x5C7,Mn}, {0x5C8,Cn}, {0x5D0,Ltr}, {0x5EB,Cn}, {0x5EF,Ltr},
    {0x5F3,Pun}, {0x5F5,Cn}, {0x600,Cf}, {0x606,Sym}, {0x609,Pun}, {0x60B,Sym}, {0x60C,Pun},
    {0x60E,Sym}, {0x610,Mn}, {0x61B,Pun}, {0x61C,Cf}, {0x61D,Pun}, {0x620,Ltr}, {0x64B,Mn},
    {0x660,Num}, {0x66A,Pun}, {0x66E,Ltr}, {0x670,Mn}, {0x671,Ltr}, {0x6D4,Pun}, {0x6D5,Ltr},
    {0x6D6,Mn}, {0x6DD,Cf}, {0x6DE,Sym}, {0x6DF,Mn}, {0x6E5,Ltr}, {0x6E7,Mn}, {0x6E9,Sym},
    {0x6EA,Mn}, {0x6EE,Ltr}, {0x6F0,Num}, {0x6FA,Ltr}, {0x6FD,Sym}, {0x6FF,Ltr}, {0x700,Pun},
    {0x70E,Cn}, {0x70F,Cf}, {0x710,Ltr}, {0x711,Mn}, {0x712,Ltr}, {0x730,Mn}, {0x74B,Cn},
    {0x74D,Ltr}, {0x7A6,Mn}, {0x7B1,Ltr}, {0x7B2,Cn}, {0x7C0,Num}, {0x7CA,Ltr}, {0x7EB,Mn},
    {0x7F4,Ltr}, {0x7F6,Sym}, {0x7F7,Pun}, {0x7FA,Ltr}, {0x7FB,Cn}, {0x7FD,Mn}, {0x7FE,Sym},
    {0x800,Ltr}, {0x816,Mn}, {0x81A,Ltr}, {0x81B,Mn}, {0x824,Ltr}, {0x825,Mn}, {0x828,Ltr},
    {0x829,Mn}, {0x82E,Cn}, {0x830,Pun}, {0x83F,Cn}, {0x840,Ltr}, {0x859,Mn}, {0x85C,Cn},
    {0x85E,Pun}, {0x85F,Cn}, {0x860,Ltr}, {0x86B,Cn}, {0x870,Ltr}, {0x888,Sym}, {0x889,Ltr},
    {0x88F,Cn}, {0x890,Cf}, {0x892,Cn}, {0x898,Mn}, {0x8A0,Ltr}, {0x8CA,Mn}, {0x8E2,Cf}, {0x8E3,Mn},
    {0x903,Mco}, {0x904,Ltr}, {0x93A,Mn}, {0x93B,Mco}, {0x93C,Mn}, {0x93D,Ltr}, {0x93E,Mco},
    {0x941,Mn}, {0x949,Mco}, {0x94D,Mn}, {0x94E,Mco}, {0x950,Ltr}, {0x951,Mn}, {0x958,Ltr},
    {0x962,Mn}, {0x964,Pun}, {0x966,Num}, {0x970,Pun}, {0x971,Ltr}, {0x981,Mn}, {0x982,Mco},
    {0x984,Cn}, {0x985,Ltr}, {0x98D,Cn}, {0x98F,Ltr}, {0x991,Cn}, {0x993,Ltr}, {0x9A9,Cn},
    {0x9AA,Ltr}, {0x9B1,Cn}, {0x9B2,Ltr}, {0x9B3,Cn}, {0x9B6,Ltr}, {0x9BA,Cn}, {0x9BC,Mn},
    {0x9BD,Ltr}, {0x9BE,Mco}, {0x9C1,Mn}, {0x9C5,Cn}, {0x9C7,Mco}, {0x9C9,Cn}, {0x9CB,Mco},
    {0x9CD,Mn}, {0x9CE,Ltr}, {0x9CF,Cn}, {0x9D7,Mco}, {0x9D8,Cn}, {0x9DC,Ltr}, {0x9DE,Cn},
    {0x9DF,Ltr}, {0x9E2,Mn}, {0x9E4,Cn}, {0x9E6,Num}, {0x9F0,Ltr}, {0x9F2,Sym}, {0x9F4,Num},
    {0x9FA,Sym}, {0x9FC,Ltr}, {0x9FD,Pun}, {0x9FE,Mn}, {0x9FF,Cn}, {0xA01,Mn}, {0xA03,Mco},
    {0xA04,Cn}, {0xA05,Ltr}, {0xA0B,Cn}, {0xA0F,Ltr}, {0xA11,Cn}, {0xA13,Ltr}, {0xA29,Cn},
    {0xA2A,Ltr}, {0xA31,Cn}, {0xA32,Ltr}, {0xA34,Cn}, {0xA35,Ltr}, {0xA37,Cn}, {0xA38,Ltr},
    {0xA3A,Cn}, {0xA3C,Mn}, {0xA3D,Cn}, {0xA3E,Mco}, {0xA41,Mn}, {0xA43,Cn}, {0xA47,Mn}, {0xA49,Cn},
    {0xA4B,Mn}, {0xA4E,Cn}, {0xA51,Mn}, {0xA52,Cn}, {0xA59,Ltr}, {0xA5D,Cn}, {0xA5E,Ltr},
    {0xA5F,Cn}, {0xA66,Num}, {0xA70,Mn}, {0xA72,Ltr}, {0xA75,Mn}, {0xA76,Pun}, {0xA77,Cn},
    {0xA81,Mn}, {0xA83,Mco}, {0xA84,Cn}, {0xA85,Ltr}, {0xA8E,Cn}, {0xA8F,Ltr}, {0xA92,Cn},
    {0xA93,Ltr}, {0xAA9,Cn}, {0xAAA,Ltr}, {0xAB1,Cn}, {0xAB2,Ltr}, {0xAB4,Cn}, {0xAB5,Ltr},
    {0xABA,Cn}, {0xABC,Mn}, {0xABD,Ltr}, {0xABE,Mco}, {0xAC1,Mn}, {0xAC6,Cn}, {0xAC7,Mn},
    {0xAC9,Mco}, {0xACA,Cn}, {0xACB,Mco}, {0xACD,Mn}, {0xACE,Cn}, {0xAD0,Ltr}, {0xAD1,Cn},
    {0xAE0,Ltr}, {0xAE2,Mn}, {0xAE4,Cn}, {0xAE6,Num}, {0xAF0,Pun}, {0xAF1,Sym}, {0xAF2,Cn},
    {0xAF9,Ltr}, {0xAFA,Mn}, {0xB00,Cn}, {0xB01,Mn}, {0xB02,Mco}, {0xB04,Cn}, {0xB05,Ltr},
    {0xB0D,Cn}, {0xB0F,Ltr}, {0xB11,Cn}, {0xB13,Ltr}, {0xB29,Cn}, {0xB2A,Ltr}, {0xB31,Cn},
    {0xB32,Ltr}, {0xB34,Cn}, {0xB35,Ltr}, {0xB3A,Cn}, {0xB3C,Mn}, {0xB3D,Ltr}, {0xB3E,Mco},
    {0xB3F,Mn}, {0xB40,Mco}, {0xB41,Mn}, {0xB45,Cn}, {0xB47,Mco}, {0xB49,Cn}, {0xB4B,Mco},
    {0xB4D,Mn}, {0xB4E,Cn}, {0xB55,Mn}, {0xB57,Mco}, {0xB58,Cn}, {0xB5C,Ltr}, {0xB5E,Cn},
    {0xB5F,Ltr}, {0xB62,Mn}, {0xB64,Cn}, {0xB66,Num}, {0xB70,Sym}, {0xB71,Ltr}, {0xB72,Num},
    {0xB78,Cn}, {0xB82,Mn}, {0xB83,Ltr}, {0xB84,Cn}, {0xB85,Ltr}, {0xB8B,Cn}, {0xB8E,Ltr},
    {0xB91,Cn}, {0xB92,Ltr}, {0xB96,Cn}, {0xB99,Ltr}, {0xB9B,Cn}, {0xB9C,Ltr}, {0xB9D,Cn},
    {0xB9E,Ltr}, {0xBA0,Cn}, {0xBA3,Ltr}, {0xBA5,Cn}, {0xBA8,Ltr}, {0xBAB,Cn}, {0xBAE,Ltr},
    {0xBBA,Cn}, {0xBBE,Mco}, {0xBC0,Mn}, {0xBC1,Mco}, {0xBC3,Cn}, {0xBC6,Mco}, {0xBC9,Cn},
    {0xBCA,Mco}, {0xBCD,Mn}, {0xBCE,Cn}, {0xBD0,Ltr}, {0xBD1,Cn}, {0xBD7,Mco}, {0xBD8,Cn},
    {0xBE6,Num}, {0xBF3,Sym}, {0xBFB,Cn}, {0xC00,Mn}, {0xC01,Mco}, {0xC04,Mn}, {0xC05,Ltr},
    {0xC0D,Cn}, {0xC0E,Ltr}, {0xC11,Cn}, {0xC12,Ltr}, {0xC29,Cn}, {0xC2A,Ltr}, {0xC3A,Cn},
    {0xC3C,Mn}, {0xC3D,Ltr}, {0xC3E,Mn}, {0xC41,Mco}, {0xC45,Cn}, {0xC46,Mn}, {0xC49,Cn},
    {0xC4A,Mn}, {0xC4E,Cn}, {0xC55,Mn}, {0xC57,Cn}, {0xC58,Ltr}, {0xC5B,Cn}, {0xC5D,Ltr},
    {0xC5E,Cn}, {0xC60,Ltr}, {0xC62,Mn}, {0xC64,Cn}, {0xC66,Num}, {0xC70,Cn}, {0xC77,Pun},
    {0xC78,Num}, {0xC7F,Sym}, {0xC80,Ltr}, {0xC81,Mn}, {0xC82,Mco}, {0xC84,Pun}, {0xC85,Ltr},
    {0xC8D,Cn}, {0xC8E,Ltr}, {0xC91,Cn}, {0xC92,Ltr}, {0xCA9,Cn}, {0xCAA,Ltr}, {0xCB4,Cn},
    {0xCB5,Ltr}, {0xCBA,Cn}, {0xCBC,Mn}, {0xCBD,Ltr}, {0xCBE,Mco}, {0xCBF,Mn}, {0xCC0,Mco},
    {0xCC5,Cn}, {0xCC6,Mn}, {0xCC7,Mco}, {0xCC9,Cn}, {0xCCA,Mco}, {0xCCC,Mn}, {0xCCE,Cn},
    {0xCD5,Mco}, {0xCD7,Cn}, {0xCDD,Ltr}, {0xCDF,Cn}, {0xCE0,Ltr}, {0xCE2,Mn}, {0xCE4,Cn},
    {0xCE6,Num}, {0xCF0,Cn}, {0xCF1,Ltr}, {0xCF3,Cn}, {0xD00,Mn}, {0xD02,Mco}, {0xD04,Ltr},
    {0xD0D,Cn}, {0xD0E,Ltr}, {0xD11,Cn}, {0xD12,Ltr}, {0xD3B,Mn}, {0xD3D,Ltr}, {0xD3E,Mco},
    {0xD41,Mn}, {0xD45,Cn}, {0xD46,Mco}, {0xD49,Cn}, {0xD4A,Mco}, {0xD4D,Mn}, {0xD4E,Ltr},
    {0xD4F,Sym}, {0xD50,Cn}, {0xD54,Ltr}, {0xD57,Mco}, {0xD58,Num}, {0xD5F,Ltr}, {0xD62,Mn},
    {0xD64,Cn}, {0xD66,Num}, {0xD79,Sym}, {0xD7A,Ltr}, {0xD80,Cn}, {0xD81,Mn}, {0xD82,Mco},
    {0xD84,Cn}, {0xD85,Ltr}, {0xD97,Cn}, {0xD9A,Ltr}, {0xDB2,Cn}, {0xDB3,Ltr}, {0xDBC,Cn},
    {0xDBD,Ltr}, {0xDBE,Cn}, {0xDC0,Ltr}, {0xDC7,Cn}, {0xDCA,Mn}, {0xDCB,Cn}, {0xDCF,Mco},
    {0xDD2,Mn}, {0xDD5,Cn}, {0xDD6,Mn}, {0xDD7,Cn}, {0xDD8,Mco}, {0xDE0,Cn}, {0xDE6,Num},
    {0xDF0,Cn}, {0xDF2,Mco}, {0xDF4,Pun}, {0xDF5,Cn}, {0xE01,Ltr}, {0xE31,Mn}, {0xE32,Ltr},
    {0xE34,Mn}, {0xE3B,Cn}, {0xE3F,Sym}, {0xE40,Ltr}, {0xE47,Mn}, {0xE4F,Pun}, {0xE50,Num},
    {0xE5A,Pun}, {0xE5C,Cn}, {0xE81,Ltr}, {0xE83,Cn}, {0xE84,Ltr}, {0xE85,Cn}, {0xE86,Ltr},
    {0xE8B,Cn}, {0xE8C,Ltr}, {0xEA4,Cn}, {0xEA5,Ltr}, {0xEA6,Cn}, {0xEA7,Ltr}, {0xEB1,Mn},
    {0xEB2,Ltr}, {0xEB4,Mn}, {0xEBD,Ltr}, {0xEBE,Cn}, {0xEC0,Ltr}, {0xEC5,Cn}, {0xEC6,Ltr},
    {0xEC7,Cn}, {0xEC8,Mn}, {0xECE,Cn}, {0xED0,Num}, {0xEDA,Cn}, {0xEDC,Ltr}, {0xEE0,Cn},
    {0xF00,Ltr}, {0xF01,Sym}, {0xF04,Pun}, {0xF13,Sym}, {0xF14,Pun}, {0xF15,Sym}, {0xF18,Mn},
    {0xF1A,Sym}, {0xF20,Num}, {0xF34,Sym}, {0xF35,Mn}, {0xF36,Sym}, {0xF37,Mn}, {0xF38,Sym},
    {0xF39,Mn}, {0xF3A,Pun}, {0xF3E,Mco}, {0xF40,Ltr}, {0xF48,Cn}, {0xF49,Ltr}, {0xF6D,Cn},
    {0xF71,Mn}, {0xF7F,Mco}, {0xF80,Mn}, {0xF85,Pun}, {0xF86,Mn}, {0xF88,Ltr}, {0xF8D,Mn},
    {0xF98,Cn}, {0xF99,Mn}, {0xFBD,Cn}, {0xFBE,Sym}, {0xFC6,Mn}, {0xFC7,Sym}, {0xFCD,Cn},
    {0xFCE,Sym}, {0xFD0,Pun}, {0xFD5,Sym}, {0xFD9,Pun}, {0xFDB,Cn}, {0x1000,Ltr}, {0x102B,Mco},
    {0x102D,Mn}, {0x1031,Mco}, {0x1032,Mn}, {0x1038,Mco}, {0x1039,Mn}, {0x103B,Mco}, {0x103D,Mn},
    {0x103F,Ltr}, {0x1040,Num}, {0x104A,Pun}, {0x1050,Ltr}, {0x1056,Mco}, {0x1058,Mn}, {0x105A,Ltr},
    {0x105E,Mn}, {0x1061,Ltr}, {0x1062,Mco}, {0x1065,Ltr}, {0x1067,Mco}, {0x106E,Ltr}, {0x1071,Mn},
    {0x1075,Ltr}, {0x1082,Mn}, {0x1083,Mco}, {0x1085,Mn}, {0x1087,Mco}, {0x108D,Mn}, {0x108E,Ltr},
    {0x108F,Mco}, {0x1090,Num}, {0x109A,Mco}, {0x109D,Mn}, {0x109E,Sym}, {0x10A0,Ltr}, {0x10C6,Cn},
    {0x10C7,Ltr}, {0x10C8,Cn}, {0x10CD,Ltr}, {0x10CE,Cn}, {0x10D0,Ltr}, {0x10FB,Pun}, {0x10FC,Ltr},
    {0x1249,Cn}, {0x124A,Ltr}, {0x124E,Cn}, {0x1250,Ltr}, {0x1257,Cn}, {0x1258,Ltr}, {0x1259,Cn},
    {0x125A,Ltr}, {0x125E,Cn}, {0x1260,Ltr}, {0x1289,Cn}, {0x128A,Ltr}, {0x128E,Cn}, {0x1290,Ltr},
    {0x12B1,Cn}, {0x12B2,Ltr}, {0x12B6,Cn}, {0x12B8,Ltr}, {0x12BF,Cn}, {0x12C0,Ltr}, {0x12C1,Cn},
    {0x12C2,Ltr}, {0x12C6,Cn}, {0x12C8,Ltr}, {0x12D7,Cn}, {0x12D8,Ltr}, {0x1311,Cn}, {0x1312,Ltr},
    {0x1316,Cn}, {0x1318,Ltr}, {0x135B,Cn}, {0x135D,Mn}, {0x1360,Pun}, {0x1369,Num}, {0x137D,Cn},
    {0x1380,Ltr}, {0x1390,Sym}, {0x139A,Cn}, {0x13A0,Ltr}, {0x13F6,Cn}, {0x13F8,Ltr}, {0x13FE,Cn},
    {0x1400,Pun}, {0x1401,Ltr}, {0x166D,Sym}, {0x166E,Pun}, {0x166F,Ltr}, {0x1680,Sep},
    {0x1681,Ltr}, {0x169B,Pun}, {0x169D,Cn}, {0x16A0,Ltr}, {0x16EB,Pun}, {0x16EE,Num}, {0x16F1,Ltr},
    {0x16F9,Cn}, {0x1700,Ltr}, {0x1712,Mn}, {0x1715,Mco}, {0x1716,Cn}, {0x171F,Ltr}, {0x1732,Mn},
    {0x1734,Mco}, {0x1735,Pun}, {0x1737,Cn}, {0x1740,Ltr}, {0x1752,Mn}, {0x1754,Cn}, {0x1760,Ltr},
    {0x176D,Cn}, {0x176E,Ltr}, {0x1771,Cn}, {0x1772,Mn}, {0x1774,Cn}, {0x1780,Ltr}, {0x17B4,Mn},
    {0x17B6,Mco}, {0x17B7,Mn}, {0x17BE,Mco}, {0x17C6,Mn}, {0x17C7,Mco}, {0x17C9,Mn}, {0x17D4,Pun},
    {0x17D7,Ltr}, {0x17D8,Pun}, {0x17DB,Sym}, {0x17DC,Ltr}, {0x17DD,Mn}, {0x17DE,Cn}, {0x17E0,Num},
    {0x17EA,Cn}, {0x17F0,Num}, {0x17FA,Cn}, {0x1800,Pun}, {0x180B,Mn}, {0x180E,Cf}, {0x180F,Mn},
    {0x1810,Num}, {0x181A,Cn}, {0x1820,Ltr}, {0x1879,Cn}, {0x1880,Ltr}, {0x1885,Mn}, {0x1887,Ltr},
    {0x18A9,Mn}, {0x18AA,Ltr}, {0x18AB,Cn}, {0x18B0,Ltr}, {0x18F6,Cn}, {0x1900,Ltr}, {0x191F,Cn},
    {0x1920,Mn}, {0x1923,Mco}, {0x1927,Mn}, {0x1929,Mco}, {0x192C,Cn}, {0x1930,Mco}, {0x1932,Mn},
    {0x1933,Mco}, {0x1939,Mn}, {0x193C,Cn}, {0x1940,Sym}, {0x1941,Cn}, {0x1944,Pun}, {0x1946,Num},
    {0x1950,Ltr}, {0x196E,Cn}, {0x1970,Ltr}, {0x1975,Cn}, {0x1980,Ltr}, {0x19AC,Cn}, {0x19B0,Ltr},
    {0x19CA,Cn}, {0x19D0,Num}, {0x19DB,Cn}, {0x19DE,Sym}, {0x1A00,Ltr}, {0x1A17,Mn}, {0x1A19,Mco},
    {0x1A1B,Mn}, {0x1A1C,Cn}, {0x1A1E,Pun}, {0x1A20,Ltr}, {0x1A55,Mco}, {0x1A56,Mn}, {0x1A57,Mco},
    {0x1A58,Mn}, {0x1A5F,Cn}, {0x1A60,Mn}, {0x1A61,Mco}, {0x1A62,Mn}, {0x1A63,Mco}, {0x1A65,Mn},
    {0x1A6D,Mco}, {0x1A73,Mn}, {0x1A7D,Cn}, {0x1A7F,Mn}, {0x1A80,Num}, {0x1A8A,Cn}, {0x1A90,Num},
    {0x1A9A,Cn}, {0x1AA0,Pun}, {0x1AA7,Ltr}, {0x1AA8,Pun}, {0x1AAE,Cn}, {0x1AB0,Mn}, {0x1ABE,Mco},
    {0x1ABF,Mn}, {0x1ACF,Cn}, {0x1B00,Mn}, {0x1B04,Mco}, {0x1B05,Ltr}, {0x1B34,Mn}, {0x1B35,Mco},
    {0x1B36,Mn}, {0x1B3B,Mco}, {0x1B3C,Mn}, {0x1B3D,Mco}, {0x1B42,Mn}, {0x1B43,Mco}, {0x1B45,Ltr},
    {0x1B4D,Cn}, {0x1B50,Num}, {0x1B5A,Pun}, {0x1B61,Sym}, {0x1B6B,Mn}, {0x1B74,Sym}, {0x1B7D,Pun},
    {0x1B7F,Cn}, {0x1B80,Mn}, {0x1B82,Mco}, {0x1B83,Ltr}, {0x1BA1,Mco}, {0x1BA2,Mn}, {0x1BA6,Mco},
    {0x1BA8,Mn}, {0x1BAA,Mco}, {0x1BAB,Mn}, {0x1BAE,Ltr}, {0x1BB0,Num}, {0x1BBA,Ltr}, {0x1BE6,Mn},
    {0x1BE7,Mco}, {0x1BE8,Mn}, {0x1BEA,Mco}, {0x1BED,Mn}, {0x1BEE,Mco}, {0x1BEF,Mn}, {0x1BF2,Mco},
    {0x1BF4,Cn}, {0x1BFC,Pun}, {0x1C00,Ltr}, {0x1C24,Mco}, {0x1C2C,Mn}, {0x1C34,Mco}, {0x1C36,Mn},
    {0x1C38,Cn}, {0x1C3B,Pun}, {0x1C40,Num}, {0x1C4A,Cn}, {0x1C4D,Ltr}, {0x1C50,Num}, {0x1C5A,Ltr},
    {0x1C7E,Pun}, {0x1C80,Ltr}, {0x1C89,Cn}, {0x1C90,Ltr}, {0x1CBB,Cn}, {0x1CBD,Ltr}, {0x1CC0,Pun},
    {0x1CC8,Cn}, {0x1CD0,Mn}, {0x1CD3,Pun}, {0x1CD4,Mn}, {0x1CE1,Mco}, {0x1CE2,Mn}, {0x1CE9,Ltr},
    {0x1CED,Mn}, {0x1CEE,Ltr}, {0x1CF4,Mn}, {0x1CF5,Ltr}, {0x1CF7,Mco}, {0x1CF8,Mn}, {0x1CFA,Ltr},
    {0x1CFB,Cn}, {0x1D00,Ltr}, {0x1DC0,Mn}, {0x1E00,Ltr}, {0x1F16,Cn}, {0x1F18,Ltr}, {0x1F1E,Cn},
    {0x1F20,Ltr}, {0x1F46,Cn}, {0x1F48,Ltr}, {0x1F4E,Cn}, {0x1F50,Ltr}, {0x1F58,Cn}, {0x1F59,Ltr},
    {0x1F5A,Cn}, {0x1F5B,Ltr}, {0x1F5C,Cn}, {0x1F5D,Ltr}, {0x1F5E,Cn}, {0x1F5F,Ltr}, {0x1F7E,Cn},
    {0x1F80,Ltr}, {0x1FB5,Cn}, {0x1FB6,Ltr}, {0x1FBD,Sym}, {0x1FBE,Ltr}, {0x1FBF,Sym}, {0x1FC2,Ltr},
    {0x1FC5,Cn}, {0x1FC6,Ltr}, {0x1FCD,Sym}, {0x1FD0,Ltr}, {0x1FD4,Cn}, {0x1FD6,Ltr}, {0x1FDC,Cn},
    {0x1FDD,Sym}, {0x1FE0,Ltr}, {0x1FED,Sym}, {0x1FF0,Cn}, {0x1FF2,Ltr}, {0x1FF5,Cn}, {0x1FF6,Ltr},
    {0x1FFD,Sym}, {0x1FFF,Cn}, {0x2000,Sep}, {0x200B,Cf}, {0x2010,Pun}, {0x2028,Sep}, {0x202A,Cf},
    {0x202F,Sep}, {0x2030,Pun}, {0x2044,Sym}, {0x2045,Pun}, {0x2052,Sym}, {0x2053,Pun},
    {0x205F,Sep}, {0x2060,Cf}, {0x2065,Cn}, {0x2066,Cf}, {0x2070,Num}, {0x2071,Ltr}, {0x2072,Cn},
    {0x2074,Num}, {0x207A,Sym}, {0x207D,Pun}, {0x207F,Ltr}, {0x2080,Num}, {0x208A,Sym},
    {0x208D,Pun}, {0x208F,Cn}, {0x2090,Ltr}, {0x209D,Cn}, {0x20A0,Sym}, {0x20C1,Cn}, {0x20D0,Mn},
    {0x20DD,Mco}, {0x20E1,Mn}, {0x20E2,Mco}, {0x20E5,Mn}, {0x20F1,Cn}, {0x2100,Sym}, {0x2102,Ltr},
    {0x2103,Sym}, {0x2107,Ltr}, {0x2108,Sym}, {0x210A,Ltr}, {0x2114,Sym}, {0x2115,Ltr},
    {0x2116,Sym}, {0x2119,Ltr}, {0x211E,Sym}, {0x2124,Ltr}, {0x2125,Sym}, {0x2126,Ltr},
    {0x2127,Sym}, {0x2128,Ltr}, {0x2129,Sym}, {0x212A,Ltr}, {0x212E,Sym}, {0x212F,Ltr},
    {0x213A,Sym}, {0x213C,Ltr}, {0x2140,Sym}, {0x2145,Ltr}, {0x214A,Sym}, {0x214E,Ltr},
    {0x214F,Sym}, {0x2150,Num}, {0x2183,Ltr}, {0x2185,Num}, {0x218A,Sym}, {0x218C,Cn}, {0x2190,Sym},
    {0x2308,Pun}, {0x230C,Sym}, {0x2329,Pun}, {0x232B,Sym}, {0x2427,Cn}, {0x2440,Sym}, {0x244B,Cn},
    {0x2460,Num}, {0x249C,Sym}, {0x24EA,Num}, {0x2500,Sym}, {0x2768,Pun}, {0x2776,Num},
    {0x2794,Sym}, {0x27C5,Pun}, {0x27C7,Sym}, {0x27E6,Pun}, {0x27F0,Sym}, {0x2983,Pun},
    {0x2999,Sym}, {0x29D8,Pun}, {0x29DC,Sym}, {0x29FC,Pun}, {0x29FE,Sym}, {0x2B74,Cn}, {0x2B76,Sym},
    {0x2B96,Cn}, {0x2B97,Sym}, {0x2C00,Ltr}, {0x2CE5,Sym}, {0x2CEB,Ltr}, {0x2CEF,Mn}, {0x2CF2,Ltr},
    {0x2CF4,Cn}, {0x2CF9,Pun}, {0x2CFD,Num}, {0x2CFE,Pun}, {0x2D00,Ltr}, {0x2D26,Cn}, {0x2D27,Ltr},
    {0x2D28,Cn}, {0x2D2D,Ltr}, {0x2D2E,Cn}, {0x2D30,Ltr}, {0x2D68,Cn}, {0x2D6F,Ltr}, {0x2D70,Pun},
    {0x2D71,Cn}, {0x2D7F,Mn}, {0x2D80,Ltr}, {0x2D97,Cn}, {0x2DA0,Ltr}, {0x2DA7,Cn}, {0x2DA8,Ltr},
    {0x2DAF,Cn}, {0x2DB0,Ltr}, {0x2DB7,Cn}, {0x2DB8,Ltr}, {0x2DBF,Cn}, {0x2DC0,Ltr}, {0x2DC7,Cn},
    {0x2DC8,Ltr}, {0x2DCF,Cn}, {0x2DD0,Ltr}, {0x2DD7,Cn}, {0x2DD8,Ltr}, {0x2DDF,Cn}, {0x2DE0,Mn},
    {0x2E00,Pun}, {0x2E2F,Ltr}, {0x2E30,Pun}, {0x2E50,Sym}, {0x2E52,Pun}, {0x2E5E,Cn}, {0x2E80,Sym},
    {0x2E9A,Cn}, {0x2E9B,Sym}, {0x2EF4,Cn}, {0x2F00,Sym}, {0x2FD6,Cn}, {0x2FF0,Sym}, {0x2FFC,Cn},
    {0x3000,Sep}, {0x3001,Pun}, {0x3004,Sym}, {0x3005,Ltr}, {0x3007,Num}, {0x3008,Pun},
    {0x3012,Sym}, {0x3014,Pun}, {0x3020,Sym}, {0x3021,Num}, {0x302A,Mn}, {0x302E,Mco}, {0x3030,Pun},
    {0x3031,Ltr}, {0x3036,Sym}, {0x3038,Num}, {0x303B,Ltr}, {0x303D,Pun}, {0x303E,Sym}, {0x3040,Cn},
    {0x3041,Ltr}, {0x3097,Cn}, {0x3099,Mn}, {0x309B,Sym}, {0x309D,Ltr}, {0x30A0,Pun}, {0x30A1,Ltr},
    {0x30FB,Pun}, {0x30FC,Ltr}, {0x3100,Cn}, {0x3105,Ltr}, {0x3130,Cn}, {0x3131,Ltr}, {0x318F,Cn},
    {0x3190,Sym}, {0x3192,Num}, {0x3196,Sym}, {0x31A0,Ltr}, {0x31C0,Sym}, {0x31E4,Cn}, {0x31F0,Ltr},
    {0x3200,Sym}, {0x321F,Cn}, {0x3220,Num}, {0x322A,Sym}, {0x3248,Num}, {0x3250,Sym}, {0x3251,Num},
    {0x3260,Sym}, {0x3280,Num}, {0x328A,Sym}, {0x32B1,Num}, {0x32C0,Sym}, {0x3400,Ltr},
    {0x4DC0,Sym}, {0x4E00,Ltr}, {0xA48D,Cn}, {0xA490,Sym}, {0xA4C7,Cn}, {0xA4D0,Ltr}, {0xA4FE,Pun},
    {0xA500,Ltr}, {0xA60D,Pun}, {0xA610,Ltr}, {0xA620,Num}, {0xA62A,Ltr}, {0xA62C,Cn}, {0xA640,Ltr},
    {0xA66F,Mn}, {0xA670,Mco}, {0xA673,Pun}, {0xA674,Mn}, {0xA67E,Pun}, {0xA67F,Ltr}, {0xA69E,Mn},
    {0xA6A0,Ltr}, {0xA6E6,Num}, {0xA6F0,Mn}, {0xA6F2,Pun}, {0xA6F8,Cn}, {0xA700,Sym}, {0xA717,Ltr},
    {0xA720,Sym}, {0xA722,Ltr}, {0xA789,Sym}, {0xA78B,Ltr}, {0xA7CB,Cn}, {0xA7D0,Ltr}, {0xA7D2,Cn},
    {0xA7D3,Ltr}, {0xA7D4,Cn}, {0xA7D5,Ltr}, {0xA7DA,Cn}, {0xA7F2,Ltr}, {0xA802,Mn}, {0xA803,Ltr},
    {0xA806,Mn}, {0xA807,Ltr}, {0xA80B,Mn}, {0xA80C,Ltr}, {0xA823,Mco}, {0xA825,Mn}, {0xA827,Mco},
    {0xA828,Sym}, {0xA82C,Mn}, {0xA82D,Cn}, {0xA830,Num}, {0xA836,Sym}, {0xA83A,Cn}, {0xA840,Ltr},
    {0xA874,Pun}, {0xA878,Cn}, {0xA880,Mco}, {0xA882,Ltr}, {0xA8B4,Mco}, {0xA8C4,Mn}, {0xA8C6,Cn},
    {0xA8CE,Pun}, {0xA8D0,Num}, {0xA8DA,Cn}, {0xA8E0,Mn}, {0xA8F2,Ltr}, {0xA8F8,Pun}, {0xA8FB,Ltr},
    {0xA8FC,Pun}, {0xA8FD,Ltr}, {0xA8FF,Mn}, {0xA900,Num}, {0xA90A,Ltr}, {0xA926,Mn}, {0xA92E,Pun},
    {0xA930,Ltr}, {0xA947,Mn}, {0xA952,Mco}, {0xA954,Cn}, {0xA95F,Pun}, {0xA960,Ltr}, {0xA97D,Cn},
    {0xA980,Mn}, {0xA983,Mco}, {0xA984,Ltr}, {0xA9B3,Mn}, {0xA9B4,Mco}, {0xA9B6,Mn}, {0xA9BA,Mco},
    {0xA9BC,Mn}, {0xA9BE,Mco}, {0xA9C1,Pun}, {0xA9CE,Cn}, {0xA9CF,Ltr}, {0xA9D0,Num}, {0xA9DA,Cn},
    {0xA9DE,Pun}, {0xA9E0,Ltr}, {0xA9E5,Mn}, {0xA9E6,Ltr}, {0xA9F0,Num}, {0xA9FA,Ltr}, {0xA9FF,Cn},
    {0xAA00,Ltr}, {0xAA29,Mn}, {0xAA2F,Mco}, {0xAA31,Mn}, {0xAA33,Mco}, {0xAA35,Mn}, {0xAA37,Cn},
    {0xAA40,Ltr}, {0xAA43,Mn}, {0xAA44,Ltr}, {0xAA4C,Mn}, {0xAA4D,Mco}, {0xAA4E,Cn}, {0xAA50,Num},
    {0xAA5A,Cn}, {0xAA5C,Pun}, {0xAA60,Ltr}, {0xAA77,Sym}, {0xAA7A,Ltr}, {0xAA7B,Mco}, {0xAA7C,Mn},
    {0xAA7D,Mco}, {0xAA7E,Ltr}, {0xAAB0,Mn}, {0xAAB1,Ltr}, {0xAAB2,Mn}, {0xAAB5,Ltr}, {0xAAB7,Mn},
    {0xAAB9,Ltr}, {0xAABE,Mn}, {0xAAC0,Ltr}, {0xAAC1,Mn}, {0xAAC2,Ltr}, {0xAAC3,Cn}, {0xAADB,Ltr},
    {0xAADE,Pun}, {0xAAE0,Ltr}, {0xAAEB,Mco}, {0xAAEC,Mn}, {0xAAEE,Mco}, {0xAAF0,Pun}, {0xAAF2,Ltr},
    {0xAAF5,Mco}, {0xAAF6,Mn}, {0xAAF7,Cn}, {0xAB01,Ltr}, {0xAB07,Cn}, {0xAB09,Ltr}, {0xAB0F,Cn},
    {0xAB11,Ltr}, {0xAB17,Cn}, {0xAB20,Ltr}, {0xAB27,Cn}, {0xAB28,Ltr}, {0xAB2F,Cn}, {0xAB30,Ltr},
    {0xAB5B,Sym}, {0xAB5C,Ltr}, {0xAB6A,Sym}, {0xAB6C,Cn}, {0xAB70,Ltr}, {0xABE3,Mco}, {0xABE5,Mn},
    {0xABE6,Mco}, {0xABE8,Mn}, {0xABE9,Mco}, {0xABEB,Pun}, {0xABEC,Mco}, {0xABED,Mn}, {0xABEE,Cn},
    {0xABF0,Num}, {0xABFA,Cn}, {0xAC00,Ltr}, {0xD7A4,Cn}, {0xD7B0,Ltr}, {0xD7C7,Cn}, {0xD7CB,Ltr},
    {0xD7FC,Cn}, {0xD800,Cs}, {0xE000,Co}, {0xF900,Ltr}, {0xFA6E,Cn}, {0xFA70,Ltr}, {0xFADA,Cn},
    {0xFB00,Ltr}, {0xFB07,Cn}, {0xFB13,Ltr}, {0xFB18,Cn}, {0xFB1D,Ltr}, {0xFB1E,Mn}, {0xFB1F,Ltr},
    {0xFB29,Sym}, {0xFB2A,Ltr}, {0xFB37,Cn}, {0xFB38,Ltr}, {0xFB3D,Cn}, {0xFB3E,Ltr}, {0xFB3F,Cn},
    {0xFB40,Ltr}, {0xFB42,Cn}, {0xFB43,Ltr}, {0xFB45,Cn}, {0xFB46,Ltr}, {0xFBB2,Sym}, {0xFBC3,Cn},
    {0xFBD3,Ltr}, {0xFD3E,Pun}, {0xFD40,Sym}, {0xFD50,Ltr}, {0xFD90,Cn}, {0xFD92,Ltr}, {0xFDC8,Cn},
    {0xFDCF,Sym}, {0xFDD0,Cn}, {0xFDF0,Ltr}, {0xFDFC,Sym}, {0xFE00,Mn}, {0xFE10,Pun}, {0xFE1A,Cn},
    {0xFE20,Mn}, {0xFE30,Pun}, {0xFE53,Cn}, {0xFE54,Pun}, {0xFE62,Sym}, {0xFE63,Pun}, {0xFE64,Sym},
    {0xFE67,Cn}, {0xFE68,Pun}, {0xFE69,Sym}, {0xFE6A,Pun}, {0xFE6C,Cn}, {0xFE70,Ltr}, {0xFE75,Cn},
    {0xFE76,Ltr}, {0xFEFD,Cn}, {0xFEFF,Cf}, {0xFF00,Cn}, {0xFF01,Pun}, {0xFF04,Sym}, {0xFF05,Pun},
    {0xFF0B,Sym}, {0xFF0C,Pun}, {0xFF10,Num}, {0xFF1A,Pun}, {0xFF1C,Sym}, {0xFF1F,Pun},
    {0xFF21,Ltr}, {0xFF3B,Pun}, {0xFF3E,Sym}, {0xFF3F,Pun}, {0xFF40,Sym}, {0xFF41,Ltr},
    {0xFF5B,Pun}, {0xFF5C,Sym}, {0xFF5D,Pun}, {0xFF5E,Sym}, {0xFF5F,Pun}, {0xFF66,Ltr}, {0xFFBF,Cn},
    {0xFFC2,Ltr}, {0xFFC8,Cn}, {0xFFCA,Ltr}, {0xFFD0,Cn}, {0xFFD2,Ltr}, {0xFFD8,Cn}, {0xFFDA,Ltr},
    {0xFFDD,Cn}, {0xFFE0,Sym}, {0xFFE7,Cn}, {0xFFE8,Sym}, {0xFFEF,Cn}, {0xFFF9,Cf}, {0xFFFC,Sym},
    {0xFFFE,Cn}, {0x10000,Ltr}, {0x1F000,Sym}, {0x1F02C,Cn}, {0x1F030,Sym}, {0x1F094,Cn},
    {0x1F0A0,Sym}, {0x1F0AF,Cn}, {0x1F0B1,Sym}, {0x1F0C0,Cn}, {0x1F0C1,Sym}, {0x1F0D0,Cn},
    {0x1F0D1,Sym}, {0x1F0F6,Cn}, {0x1F100,Num}, {0x1F10D,Sym}, {0x1F1AE,Cn}, {0x1F1E6,Sym},
    {0x1F203,Cn}, {0x1F210,Sym}, {0x1F23C,Cn}, {0x1F240,Sym}, {0x1F249,Cn}, {0x1F250,Sym},
    {0x1F252,Cn}, {0x1F260,Sym}, {0x1F266,Cn}, {0x1F300,Sym}, {0x1F6D8,Cn}, {0x1F6DD,Sym},
    {0x1F6ED,Cn}, {0x1F6F0,Sym}, {0x1F6FD,Cn}, {0x1F700,Sym}, {0x1F774,Cn}, {0x1F780,Sym},
    {0x1F7D9,Cn}, {0x1F7E0,Sym}, {0x1F7EC,Cn}, {0x1F7F0,Sym}, {0x1F7F1,Cn}, {0x1F800,Sym},
    {0x1F80C,Cn}, {0x1F810,Sym}, {0x1F848,Cn}, {0x1F850,Sym}, {0x1F85A,Cn}, {0x1F860,Sym},
    {0x1F888,Cn}, {0x1F890,Sym}, {0x1F8AE,Cn}, {0x1F8B0,Sym}, {0x1F8B2,Cn}, {0x1F900,Sym},
    {0x1FA54,Cn}, {0x1FA60,Sym}, {0x1FA6E,Cn}, {0x1FA70,Sym}, {0x1FA75,Cn}, {0x1FA78,Sym},
    {0x1FA7D,Cn}, {0x1FA80,Sym}, {0x1FA87,Cn}, {0x1FA90,Sym}, {0x1FAAD,Cn}, {0x1FAB0,Sym},
    {0x1FABB,Cn}, {0x1FAC0,Sym}, {0x1FAC6,Cn}, {0x1FAD0,Sym}, {0x1FADA,Cn}, {0x1FAE0,Sym},
    {0x1FAE8,Cn}, {0x1FAF0,Sym}, {0x1FAF7,Cn}, {0x1FB00,Sym}, {0x1FB93,Cn}, {0x1FB94,Sym},
    {0x1FBCB,Cn}, {0x1FBF0,Num}, {0x1FBFA,Cn}, {0x20000,Ltr}, {0x2A6E0,Cn}, {0x2A700,Ltr},
    {0x2B739,Cn}, {0x2B740,Ltr}, {0x2B81E,Cn}, {0x2B820,Ltr}, {0x2CEA2,Cn}, {0x2CEB0,Ltr},
    {0x2EBE1,Cn}, {0x2F800,Ltr}, {0x2FA1E,Cn}, {0x30000,Ltr}, {0x3134B,Cn}, {0x40000,Ltr},
    {0xE0000,Cn}, {0xE0001,Cf}, {0xE0002,Cn}, {0xE0020,Cf}, {0xE0080,Cn}, {0xE0100,Mn},
    {0xE01F0,Ltr}, {0xF0000,Co}, {0xFFFFE,Cn}, {0x100000,Co}, {0x10FFFE,Cn},
};
constexpr LowerRun kLowerRuns[171] = {
    {0x41,0x5A,32,1}, {0xC0,0xD6,32,1}, {0xD8,0xDE,32,1}, {0x100,0x12E,1,2}, {0x132,0x136,1,2},
    {0x139,0x147,1,2}, {0x14A,0x176,1,2}, {0x178,0x178,-121,1}, {0x179,0x17D,1,2},
    {0x181,0x181,210,1}, {0x182,0x184,1,2}, {0x186,0x186,206,1}, {0x187,0x187,1,1},
    {0x189,0x18A,205,1}, {0x18B,0x18B,1,1}, {0x18E,0x18E,79,1}, {0x18F,0x18F,202,1},
    {0x190,0x190,203,1}, {0x191,0x191,1,1}, {0x193,0x193,205,1}, {0x194,0x194,207,1},
    {0x196,0x196,211,1}, {0x197,0x197,209,1}, {0x198,0x198,1,1}, {0x19C,0x19C,211,1},
    {0x19D,0x19D,213,1}, {0x19F,0x19F,214,1}, {0x1A0,0x1A4,1,2}, {0x1A6,0x1A6,218,1},
    {0x1A7,0x1A7,1,1}, {0x1A9,0x1A9,218,1}, {0x1AC,0x1AC,1,1}, {0x1AE,0x1AE,218,1},
    {0x1AF,0x1AF,1,1}, {0x1B1,0x1B2,217,1}, {0x1B3,0x1B5,1,2}, {0x1B7,0x1B7,219,1},
    {0x1B8,0x1B8,1,1}, {0x1BC,0x1BC,1,1}, {0x1C4,0x1C4,2,1}, {0x1C5,0x1C5,1,1}, {0x1C7,0x1C7,2,1},
    {0x1C8,0x1C8,1,1}, {0x1CA,0x1CA,2,1}, {0x1CB,0x1DB,1,2}, {0x1DE,0x1EE,1,2}, {0x1F1,0x1F1,2,1},
    {0x1F2,0x1F4,1,2}, {0x1F6,0x1F6,-97,1}, {0x1F7,0x1F7,-56,1}, {0x1F8,0x21E,1,2},
    {0x220,0x220,-130,1}, {0x222,0x232,1,2}, {0x23A,0x23A,10795,1}, {0x23B,0x23B,1,1},
    {0x23D,0x23D,-163,1}, {0x23E,0x23E,10792,1}, {0x241,0x241,1,1}, {0x243,0x243,-195,1},
    {0x244,0x244,69,1}, {0x245,0x245,71,1}, {0x246,0x24E,1,2}, {0x370,0x372,1,2}, {0x376,0x376,1,1},
    {0x37F,0x37F,116,1}, {0x386,0x386,38,1}, {0x388,0x38A,37,1}, {0x38C,0x38C,64,1},
    {0x38E,0x38F,63,1}, {0x391,0x3A1,32,1}, {0x3A3,0x3AB,32,1}, {0x3CF,0x3CF,8,1},
    {0x3D8,0x3EE,1,2}, {0x3F4,0x3F4,-60,1}, {0x3F7,0x3F7,1,1}, {0x3F9,0x3F9,-7,1},
    {0x3FA,0x3FA,1,1}, {0x3FD,0x3FF,-130,1}, {0x400,0x40F,80,1}, {0x410,0x42F,32,1},
    {0x460,0x480,1,2}, {0x48A,0x4BE,1,2}, {0x4C0,0x4C0,15,1}, {0x4C1,0x4CD,1,2}, {0x4D0,0x52E,1,2},
    {0x531,0x556,48,1}, {0x10A0,0x10C5,7264,1}, {0x10C7,0x10C7,7264,1}, {0x10CD,0x10CD,7264,1},
    {0x13A0,0x13EF,38864,1}, {0x13F0,0x13F5,8,1}, {0x1C90,0x1CBA,-3008,1}, {0x1CBD,0x1CBF,-3008,1},
    {0x1E00,0x1E94,1,2}, {0x1E9E,0x1E9E,-7615,1}, {0x1EA0,0x1EFE,1,2}, {0x1F08,0x1F0F,-8,1},
    {0x1F18,0x1F1D,-8,1}, {0x1F28,0x1F2F,-8,1}, {0x1F38,0x1F3F,-8,1}, {0x1F48,0x1F4D,-8,1},
    {0x1F59,0x1F5F,-8,2}, {0x1F68,0x1F6F,-8,1}, {0x1F88,0x1F8F,-8,1}, {0x1F98,0x1F9F,-8,1},
    {0x1FA8,0x1FAF,-8,1}, {0x1FB8,0x1FB9,-8,1}, {0x1FBA,0x1FBB,-74,1}, {0x1FBC,0x1FBC,-9,1},
    {0x1FC8,0x1FCB,-86,1}, {0x1FCC,0x1FCC,-9,1}, {0x1FD8,0x1FD9,-8,1}, {0x1FDA,0x1FDB,-100,1},
    {0x1FE8,0x1FE9,-8,1}, {0x1FEA,0x1FEB,-112,1}, {0x1FEC,0x1FEC,-7,1}, {0x1FF8,0x1FF9,-128,1},
    {0x1FFA,0x1FFB,-126,1}, {0x1FFC,0x1FFC,-9,1}, {0x2126,0x2126,-7517,1}, {0x212A,0x212A,-8383,1},
    {0x212B,0x212B,-8262,1}, {0x2132,0x2132,28,1}, {0x2160,0x216F,16,1}, {0x2183,0x2183,1,1},
    {0x24B6,0x24CF,26,1}, {0x2C00,0x2C2F,48,1}, {0x2C60,0x2C60,1,1}, {0x2C62,0x2C62,-10743,1},
    {0x2C63,0x2C63,-3814,1}, {0x2C64,0x2C64,-10727,1}, {0x2C67,0x2C6B,1,2},
    {0x2C6D,0x2C6D,-10780,1}, {0x2C6E,0x2C6E,-10749,1}, {0x2C6F,0x2C6F,-10783,1},
    {0x2C70,0x2C70,-10782,1}, {0x2C72,0x2C72,1,1}, {0x2C75,0x2C75,1,1}, {0x2C7E,0x2C7F,-10815,1},
    {0x2C80,0x2CE2,1,2}, {0x2CEB,0x2CED,1,2}, {0x2CF2,0x2CF2,1,1}, {0xA640,0xA66C,1,2},
    {0xA680,0xA69A,1,2}, {0xA722,0xA72E,1,2}, {0xA732,0xA76E,1,2}, {0xA779,0xA77B,1,2},
    {0xA77D,0xA77D,-35332,1}, {0xA77E,0xA786,1,2}, {0xA78B,0xA78B,1,1}, {0xA78D,0xA78D,-42280,1},
    {0xA790,0xA792,1,2}, {0xA796,0xA7A8,1,2}, {0xA7AA,0xA7AA,-42308,1}, {0xA7AB,0xA7AB,-42319,1},
    {0xA7AC,0xA7AC,-42315,1}, {0xA7AD,0xA7AD,-42305,1}, {0xA7AE,0xA7AE,-42308,1},
    {0xA7B0,0xA7B0,-42258,1}, {0xA7B1,0xA7B1,-42282,1}, {0xA7B2,0xA7B2,-42261,1},
    {0xA7B3,0xA7B3,928,1}, {0xA7B4,0xA7C2,1,2}, {0xA7C4,0xA7C4,-48,1}, {0xA7C5,0xA7C5,-42307,1},
    {0xA7C6,0xA7C6,-35384,1}, {0xA7C7,0xA7C9,1,2}, {0xA7D0,0xA7D0,1,1}, {0xA7D6,0xA7D8,1,2},
    {0xA7F5,0xA7F5,1,1}, {0xFF21,0xFF3A,32,1},
};
constexpr StripPair kStripPairs[1477] = {
    {0xC0,0x41}, {0xC1,0x41}, {0xC2,0x41}, {0xC3,0x41}, {0xC4,0x41}, {0xC5,0x41}, {0xC7,0x43},
    {0xC8,0x45}, {0xC9,0x45}, {0xCA,0x45}, {0xCB,0x45}, {0xCC,0x49}, {0xCD,0x49}, {0xCE,0x49},
    {0xCF,0x49}, {0xD1,0x4E}, {0xD2,0x4F}, {0xD3,0x4F}, {0xD4,0x4F}, {0xD5,0x4F}, {0xD6,0x4F},
    {0xD9,0x55}, {0xDA,0x55}, {0xDB,0x55}, {0xDC,0x55}, {0xDD,0x59}, {0xE0,0x61}, {0xE1,0x61},
    {0xE2,0x61}, {0xE3,0x61}, {0xE4,0x61}, {0xE5,0x61}, {0xE7,0x63}, {0xE8,0x65}, {0xE9,0x65},
    {0xEA,0x65}, {0xEB,0x65}, {0xEC,0x69}, {0xED,0x69}, {0xEE,0x69}, {0xEF,0x69}, {0xF1,0x6E},
    {0xF2,0x6F}, {0xF3,0x6F}, {0xF4,0x6F}, {0xF5,0x6F}, {0xF6,0x6F}, {0xF9,0x75}, {0xFA,0x75},
    {0xFB,0x75}, {0xFC,0x75}, {0xFD,0x79}, {0xFF,0x79}, {0x100,0x41}, {0x101,0x61}, {0x102,0x41},
    {0x103,0x61}, {0x104,0x41}, {0x105,0x61}, {0x106,0x43}, {0x107,0x63}, {0x108,0x43},
    {0x109,0x63}, {0x10A,0x43}, {0x10B,0x63}, {0x10C,0x43}, {0x10D,0x63}, {0x10E,0x44},
    {0x10F,0x64}, {0x112,0x45}, {0x113,0x65}, {0x114,0x45}, {0x115,0x65}, {0x116,0x45},
    {0x117,0x65}, {0x118,0x45}, {0x119,0x65}, {0x11A,0x45}, {0x11B,0x65}, {0x11C,0x47},
    {0x11D,0x67}, {0x11E,0x47}, {0x11F,0x67}, {0x120,0x47}, {0x121,0x67}, {0x122,0x47},
    {0x123,0x67}, {0x124,0x48}, {0x125,0x68}, {0x128,0x49}, {0x129,0x69}, {0x12A,0x49},
    {0x12B,0x69}, {0x12C,0x49}, {0x12D,0x69}, {0x12E,0x49}, {0x12F,0x69}, {0x130,0x49},
    {0x134,0x4A}, {0x135,0x6A}, {0x136,0x4B}, {0x137,0x6B}, {0x139,0x4C}, {0x13A,0x6C},
    {0x13B,0x4C}, {0x13C,0x6C}, {0x13D,0x4C}, {0x13E,0x6C}, {0x143,0x4E}, {0x144,0x6E},
    {0x145,0x4E}, {0x146,0x6E}, {0x147,0x4E}, {0x148,0x6E}, {0x14C,0x4F}, {0x14D,0x6F},
    {0x14E,0x4F}, {0x14F,0x6F}, {0x150,0x4F}, {0x151,0x6F}, {0x154,0x52}, {0x155,0x72},
    {0x156,0x52}, {0x157,0x72}, {0x158,0x52}, {0x159,0x72}, {0x15A,0x53}, {0x15B,0x73},
    {0x15C,0x53}, {0x15D,0x73}, {0x15E,0x53}, {0x15F,0x73}, {0x160,0x53}, {0x161,0x73},
    {0x162,0x54}, {0x163,0x74}, {0x164,0x54}, {0x165,0x74}, {0x168,0x55}, {0x169,0x75},
    {0x16A,0x55}, {0x16B,0x75}, {0x16C,0x55}, {0x16D,0x75}, {0x16E,0x55}, {0x16F,0x75},
    {0x170,0x55}, {0x171,0x75}, {0x172,0x55}, {0x173,0x75}, {0x174,0x57}, {0x175,0x77},
    {0x176,0x59}, {0x177,0x79}, {0x178,0x59}, {0x179,0x5A}, {0x17A,0x7A}, {0x17B,0x5A},
    {0x17C,0x7A}, {0x17D,0x5A}, {0x17E,0x7A}, {0x1A0,0x4F}, {0x1A1,0x6F}, {0x1AF,0x55},
    {0x1B0,0x75}, {0x1CD,0x41}, {0x1CE,0x61}, {0x1CF,0x49}, {0x1D0,0x69}, {0x1D1,0x4F},
    {0x1D2,0x6F}, {0x1D3,0x55}, {0x1D4,0x75}, {0x1D5,0x55}, {0x1D6,0x75}, {0x1D7,0x55},
    {0x1D8,0x75}, {0x1D9,0x55}, {0x1DA,0x75}, {0x1DB,0x55}, {0x1DC,0x75}, {0x1DE,0x41},
    {0x1DF,0x61}, {0x1E0,0x41}, {0x1E1,0x61}, {0x1E2,0xC6}, {0x1E3,0xE6}, {0x1E6,0x47},
    {0x1E7,0x67}, {0x1E8,0x4B}, {0x1E9,0x6B}, {0x1EA,0x4F}, {0x1EB,0x6F}, {0x1EC,0x4F},
    {0x1ED,0x6F}, {0x1EE,0x1B7}, {0x1EF,0x292}, {0x1F0,0x6A}, {0x1F4,0x47}, {0x1F5,0x67},
    {0x1F8,0x4E}, {0x1F9,0x6E}, {0x1FA,0x41}, {0x1FB,0x61}, {0x1FC,0xC6}, {0x1FD,0xE6},
    {0x1FE,0xD8}, {0x1FF,0xF8}, {0x200,0x41}, {0x201,0x61}, {0x202,0x41}, {0x203,0x61},
    {0x204,0x45}, {0x205,0x65}, {0x206,0x45}, {0x207,0x65}, {0x208,0x49}, {0x209,0x69},
    {0x20A,0x49}, {0x20B,0x69}, {0x20C,0x4F}, {0x20D,0x6F}, {0x20E,0x4F}, {0x20F,0x6F},
    {0x210,0x52}, {0x211,0x72}, {0x212,0x52}, {0x213,0x72}, {0x214,0x55}, {0x215,0x75},
    {0x216,0x55}, {0x217,0x75}, {0x218,0x53}, {0x219,0x73}, {0x21A,0x54}, {0x21B,0x74},
    {0x21E,0x48}, {0x21F,0x68}, {0x226,0x41}, {0x227,0x61}, {0x228,0x45}, {0x229,0x65},
    {0x22A,0x4F}, {0x22B,0x6F}, {0x22C,0x4F}, {0x22D,0x6F}, {0x22E,0x4F}, {0x22F,0x6F},
    {0x230,0x4F}, {0x231,0x6F}, {0x232,0x59}, {0x233,0x79}, {0x374,0x2B9}, {0x37E,0x3B},
    {0x385,0xA8}, {0x386,0x391}, {0x387,0xB7}, {0x388,0x395}, {0x389,0x397}, {0x38A,0x399},
    {0x38C,0x39F}, {0x38E,0x3A5}, {0x38F,0x3A9}, {0x390,0x3B9}, {0x3AA,0x399}, {0x3AB,0x3A5},
    {0x3AC,0x3B1}, {0x3AD,0x3B5}, {0x3AE,0x3B7}, {0x3AF,0x3B9}, {0x3B0,0x3C5}, {0x3CA,0x3B9},
    {0x3CB,0x3C5}, {0x3CC,0x3BF}, {0x3CD,0x3C5}, {0x3CE,0x3C9}, {0x3D3,0x3D2}, {0x3D4,0x3D2},
    {0x400,0x415}, {0x401,0x415}, {0x403,0x413}, {0x407,0x406}, {0x40C,0x41A}, {0x40D,0x418},
    {0x40E,0x423}, {0x419,0x418}, {0x439,0x438}, {0x450,0x435}, {0x451,0x435}, {0x453,0x433},
    {0x457,0x456}, {0x45C,0x43A}, {0x45D,0x438}, {0x45E,0x443}, {0x476,0x474}, {0x477,0x475},
    {0x4C1,0x416}, {0x4C2,0x436}, {0x4D0,0x410}, {0x4D1,0x430}, {0x4D2,0x410}, {0x4D3,0x430},
    {0x4D6,0x415}, {0x4D7,0x435}, {0x4DA,0x4D8}, {0x4DB,0x4D9}, {0x4DC,0x416}, {0x4DD,0x436},
    {0x4DE,0x417}, {0x4DF,0x437}, {0x4E2,0x418}, {0x4E3,0x438}, {0x4E4,0x418}, {0x4E5,0x438},
    {0x4E6,0x41E}, {0x4E7,0x43E}, {0x4EA,0x4E8}, {0x4EB,0x4E9}, {0x4EC,0x42D}, {0x4ED,0x44D},
    {0x4EE,0x423}, {0x4EF,0x443}, {0x4F0,0x423}, {0x4F1,0x443}, {0x4F2,0x423}, {0x4F3,0x443},
    {0x4F4,0x427}, {0x4F5,0x447}, {0x4F8,0x42B}, {0x4F9,0x44B}, {0x622,0x627}, {0x623,0x627},
    {0x624,0x648}, {0x625,0x627}, {0x626,0x64A}, {0x6C0,0x6D5}, {0x6C2,0x6C1}, {0x6D3,0x6D2},
    {0x929,0x928}, {0x931,0x930}, {0x934,0x933}, {0x958,0x915}, {0x959,0x916}, {0x95A,0x917},
    {0x95B,0x91C}, {0x95C,0x921}, {0x95D,0x922}, {0x95E,0x92B}, {0x95F,0x92F}, {0x9CB,0x9C7,0x9BE},
    {0x9CC,0x9C7,0x9D7}, {0x9DC,0x9A1}, {0x9DD,0x9A2}, {0x9DF,0x9AF}, {0xA33,0xA32}, {0xA36,0xA38},
    {0xA59,0xA16}, {0xA5A,0xA17}, {0xA5B,0xA1C}, {0xA5E,0xA2B}, {0xB48,0xB47}, {0xB4B,0xB47,0xB3E},
    {0xB4C,0xB47,0xB57}, {0xB5C,0xB21}, {0xB5D,0xB22}, {0xB94,0xB92,0xBD7}, {0xBCA,0xBC6,0xBBE},
    {0xBCB,0xBC7,0xBBE}, {0xBCC,0xBC6,0xBD7}, {0xCC0,0xCD5}, {0xCC7,0xCD5}, {0xCC8,0xCD6},
    {0xCCA,0xCC2}, {0xCCB,0xCC2,0xCD5}, {0xD4A,0xD46,0xD3E}, {0xD4B,0xD47,0xD3E},
    {0xD4C,0xD46,0xD57}, {0xDDA,0xDD9}, {0xDDC,0xDD9,0xDCF}, {0xDDD,0xDD9,0xDCF},
    {0xDDE,0xDD9,0xDDF}, {0xF43,0xF42}, {0xF4D,0xF4C}, {0xF52,0xF51}, {0xF57,0xF56}, {0xF5C,0xF5B},
    {0xF69,0xF40}, {0x1026,0x1025}, {0x1B06,0x1B05,0x1B35}, {0x1B08,0x1B07,0x1B35},
    {0x1B0A,0x1B09,0x1B35}, {0x1B0C,0x1B0B,0x1B35}, {0x1B0E,0x1B0D,0x1B35}, {0x1B12,0x1B11,0x1B35},
    {0x1B3B,0x1B35}, {0x1B3D,0x1B35}, {0x1B40,0x1B3E,0x1B35}, {0x1B41,0x1B3F,0x1B35},
    {0x1B43,0x1B35}, {0x1E00,0x41}, {0x1E01,0x61}, {0x1E02,0x42}, {0x1E03,0x62}, {0x1E04,0x42},
    {0x1E05,0x62}, {0x1E06,0x42}, {0x1E07,0x62}, {0x1E08,0x43}, {0x1E09,0x63}, {0x1E0A,0x44},
    {0x1E0B,0x64}, {0x1E0C,0x44}, {0x1E0D,0x64}, {0x1E0E,0x44}, {0x1E0F,0x64}, {0x1E10,0x44},
    {0x1E11,0x64}, {0x1E12,0x44}, {0x1E13,0x64}, {0x1E14,0x45}, {0x1E15,0x65}, {0x1E16,0x45},
    {0x1E17,0x65}, {0x1E18,0x45}, {0x1E19,0x65}, {0x1E1A,0x45}, {0x1E1B,0x65}, {0x1E1C,0x45},
    {0x1E1D,0x65}, {0x1E1E,0x46}, {0x1E1F,0x66}, {0x1E20,0x47}, {0x1E21,0x67}, {0x1E22,0x48},
    {0x1E23,0x68}, {0x1E24,0x48}, {0x1E25,0x68}, {0x1E26,0x48}, {0x1E27,0x68}, {0x1E28,0x48},
    {0x1E29,0x68}, {0x1E2A,0x48}, {0x1E2B,0x68}, {0x1E2C,0x49}, {0x1E2D,0x69}, {0x1E2E,0x49},
    {0x1E2F,0x69}, {0x1E30,0x4B}, {0x1E31,0x6B}, {0x1E32,0x4B}, {0x1E33,0x6B}, {0x1E34,0x4B},
    {0x1E35,0x6B}, {0x1E36,0x4C}, {0x1E37,0x6C}, {0x1E38,0x4C}, {0x1E39,0x6C}, {0x1E3A,0x4C},
    {0x1E3B,0x6C}, {0x1E3C,0x4C}, {0x1E3D,0x6C}, {0x1E3E,0x4D}, {0x1E3F,0x6D}, {0x1E40,0x4D},
    {0x1E41,0x6D}, {0x1E42,0x4D}, {0x1E43,0x6D}, {0x1E44,0x4E}, {0x1E45,0x6E}, {0x1E46,0x4E},
    {0x1E47,0x6E}, {0x1E48,0x4E}, {0x1E49,0x6E}, {0x1E4A,0x4E}, {0x1E4B,0x6E}, {0x1E4C,0x4F},
    {0x1E4D,0x6F}, {0x1E4E,0x4F}, {0x1E4F,0x6F}, {0x1E50,0x4F}, {0x1E51,0x6F}, {0x1E52,0x4F},
    {0x1E53,0x6F}, {0x1E54,0x50}, {0x1E55,0x70}, {0x1E56,0x50}, {0x1E57,0x70}, {0x1E58,0x52},
    {0x1E59,0x72}, {0x1E5A,0x52}, {0x1E5B,0x72}, {0x1E5C,0x52}, {0x1E5D,0x72}, {0x1E5E,0x52},
    {0x1E5F,0x72}, {0x1E60,0x53}, {0x1E61,0x73}, {0x1E62,0x53}, {0x1E63,0x73}, {0x1E64,0x53},
    {0x1E65,0x73}, {0x1E66,0x53}, {0x1E67,0x73}, {0x1E68,0x53}, {0x1E69,0x73}, {0x1E6A,0x54},
    {0x1E6B,0x74}, {0x1E6C,0x54}, {0x1E6D,0x74}, {0x1E6E,0x54}, {0x1E6F,0x74}, {0x1E70,0x54},
    {0x1E71,0x74}, {0x1E72,0x55}, {0x1E73,0x75}, {0x1E74,0x55}, {0x1E75,0x75}, {0x1E76,0x55},
    {0x1E77,0x75}, {0x1E78,0x55}, {0x1E79,0x75}, {0x1E7A,0x55}, {0x1E7B,0x75}, {0x1E7C,0x56},
    {0x1E7D,0x76}, {0x1E7E,0x56}, {0x1E7F,0x76}, {0x1E80,0x57}, {0x1E81,0x77}, {0x1E82,0x57},
    {0x1E83,0x77}, {0x1E84,0x57}, {0x1E85,0x77}, {0x1E86,0x57}, {0x1E87,0x77}, {0x1E88,0x57},
    {0x1E89,0x77}, {0x1E8A,0x58}, {0x1E8B,0x78}, {0x1E8C,0x58}, {0x1E8D,0x78}, {0x1E8E,0x59},
    {0x1E8F,0x79}, {0x1E90,0x5A}, {0x1E91,0x7A}, {0x1E92,0x5A}, {0x1E93,0x7A}, {0x1E94,0x5A},
    {0x1E95,0x7A}, {0x1E96,0x68}, {0x1E97,0x74}, {0x1E98,0x77}, {0x1E99,0x79}, {0x1E9B,0x17F},
    {0x1EA0,0x41}, {0x1EA1,0x61}, {0x1EA2,0x41}, {0x1EA3,0x61}, {0x1EA4,0x41}, {0x1EA5,0x61},
    {0x1EA6,0x41}, {0x1EA7,0x61}, {0x1EA8,0x41}, {0x1EA9,0x61}, {0x1EAA,0x41}, {0x1EAB,0x61},
    {0x1EAC,0x41}, {0x1EAD,0x61}, {0x1EAE,0x41}, {0x1EAF,0x61}, {0x1EB0,0x41}, {0x1EB1,0x61},
    {0x1EB2,0x41}, {0x1EB3,0x61}, {0x1EB4,0x41}, {0x1EB5,0x61}, {0x1EB6,0x41}, {0x1EB7,0x61},
    {0x1EB8,0x45}, {0x1EB9,0x65}, {0x1EBA,0x45}, {0x1EBB,0x65}, {0x1EBC,0x45}, {0x1EBD,0x65},
    {0x1EBE,0x45}, {0x1EBF,0x65}, {0x1EC0,0x45}, {0x1EC1,0x65}, {0x1EC2,0x45}, {0x1EC3,0x65},
    {0x1EC4,0x45}, {0x1EC5,0x65}, {0x1EC6,0x45}, {0x1EC7,0x65}, {0x1EC8,0x49}, {0x1EC9,0x69},
    {0x1ECA,0x49}, {0x1ECB,0x69}, {0x1ECC,0x4F}, {0x1ECD,0x6F}, {0x1ECE,0x4F}, {0x1ECF,0x6F},
    {0x1ED0,0x4F}, {0x1ED1,0x6F}, {0x1ED2,0x4F}, {0x1ED3,0x6F}, {0x1ED4,0x4F}, {0x1ED5,0x6F},
    {0x1ED6,0x4F}, {0x1ED7,0x6F}, {0x1ED8,0x4F}, {0x1ED9,0x6F}, {0x1EDA,0x4F}, {0x1EDB,0x6F},
    {0x1EDC,0x4F}, {0x1EDD,0x6F}, {0x1EDE,0x4F}, {0x1EDF,0x6F}, {0x1EE0,0x4F}, {0x1EE1,0x6F},
    {0x1EE2,0x4F}, {0x1EE3,0x6F}, {0x1EE4,0x55}, {0x1EE5,0x75}, {0x1EE6,0x55}, {0x1EE7,0x75},
    {0x1EE8,0x55}, {0x1EE9,0x75}, {0x1EEA,0x55}, {0x1EEB,0x75}, {0x1EEC,0x55}, {0x1EED,0x75},
    {0x1EEE,0x55}, {0x1EEF,0x75}, {0x1EF0,0x55}, {0x1EF1,0x75}, {0x1EF2,0x59}, {0x1EF3,0x79},
    {0x1EF4,0x59}, {0x1EF5,0x79}, {0x1EF6,0x59}, {0x1EF7,0x79}, {0x1EF8,0x59}, {0x1EF9,0x79},
    {0x1F00,0x3B1}, {0x1F01,0x3B1}, {0x1F02,0x3B1}, {0x1F03,0x3B1}, {0x1F04,0x3B1}, {0x1F05,0x3B1},
    {0x1F06,0x3B1}, {0x1F07,0x3B1}, {0x1F08,0x391}, {0x1F09,0x391}, {0x1F0A,0x391}, {0x1F0B,0x391},
    {0x1F0C,0x391}, {0x1F0D,0x391}, {0x1F0E,0x391}, {0x1F0F,0x391}, {0x1F10,0x3B5}, {0x1F11,0x3B5},
    {0x1F12,0x3B5}, {0x1F13,0x3B5}, {0x1F14,0x3B5}, {0x1F15,0x3B5}, {0x1F18,0x395}, {0x1F19,0x395},
    {0x1F1A,0x395}, {0x1F1B,0x395}, {0x1F1C,0x395}, {0x1F1D,0x395}, {0x1F20,0x3B7}, {0x1F21,0x3B7},
    {0x1F22,0x3B7}, {0x1F23,0x3B7}, {0x1F24,0x3B7}, {0x1F25,0x3B7}, {0x1F26,0x3B7}, {0x1F27,0x3B7},
    {0x1F28,0x397}, {0x1F29,0x397}, {0x1F2A,0x397}, {0x1F2B,0x397}, {0x1F2C,0x397}, {0x1F2D,0x397},
    {0x1F2E,0x397}, {0x1F2F,0x397}, {0x1F30,0x3B9}, {0x1F31,0x3B9}, {0x1F32,0x3B9}, {0x1F33,0x3B9},
    {0x1F34,0x3B9}, {0x1F35,0x3B9}, {0x1F36,0x3B9}, {0x1F37,0x3B9}, {0x1F38,0x399}, {0x1F39,0x399},
    {0x1F3A,0x399}, {0x1F3B,0x399}, {0x1F3C,0x399}, {0x1F3D,0x399}, {0x1F3E,0x399}, {0x1F3F,0x399},
    {0x1F40,0x3BF}, {0x1F41,0x3BF}, {0x1F42,0x3BF}, {0x1F43,0x3BF}, {0x1F44,0x3BF}, {0x1F45,0x3BF},
    {0x1F48,0x39F}, {0x1F49,0x39F}, {0x1F4A,0x39F}, {0x1F4B,0x39F}, {0x1F4C,0x39F}, {0x1F4D,0x39F},
    {0x1F50,0x3C5}, {0x1F51,0x3C5}, {0x1F52,0x3C5}, {0x1F53,0x3C5}, {0x1F54,0x3C5}, {0x1F55,0x3C5},
    {0x1F56,0x3C5}, {0x1F57,0x3C5}, {0x1F59,0x3A5}, {0x1F5B,0x3A5}, {0x1F5D,0x3A5}, {0x1F5F,0x3A5},
    {0x1F60,0x3C9}, {0x1F61,0x3C9}, {0x1F62,0x3C9}, {0x1F63,0x3C9}, {0x1F64,0x3C9}, {0x1F65,0x3C9},
    {0x1F66,0x3C9}, {0x1F67,0x3C9}, {0x1F68,0x3A9}, {0x1F69,0x3A9}, {0x1F6A,0x3A9}, {0x1F6B,0x3A9},
    {0x1F6C,0x3A9}, {0x1F6D,0x3A9}, {0x1F6E,0x3A9}, {0x1F6F,0x3A9}, {0x1F70,0x3B1}, {0x1F71,0x3B1},
    {0x1F72,0x3B5}, {0x1F73,0x3B5}, {0x1F74,0x3B7}, {0x1F75,0x3B7}, {0x1F76,0x3B9}, {0x1F77,0x3B9},
    {0x1F78,0x3BF}, {0x1F79,0x3BF}, {0x1F7A,0x3C5}, {0x1F7B,0x3C5}, {0x1F7C,0x3C9}, {0x1F7D,0x3C9},
    {0x1F80,0x3B1}, {0x1F81,0x3B1}, {0x1F82,0x3B1}, {0x1F83,0x3B1}, {0x1F84,0x3B1}, {0x1F85,0x3B1},
    {0x1F86,0x3B1}, {0x1F87,0x3B1}, {0x1F88,0x391}, {0x1F89,0x391}, {0x1F8A,0x391}, {0x1F8B,0x391},
    {0x1F8C,0x391}, {0x1F8D,0x391}, {0x1F8E,0x391}, {0x1F8F,0x391}, {0x1F90,0x3B7}, {0x1F91,0x3B7},
    {0x1F92,0x3B7}, {0x1F93,0x3B7}, {0x1F94,0x3B7}, {0x1F95,0x3B7}, {0x1F96,0x3B7}, {0x1F97,0x3B7},
    {0x1F98,0x397}, {0x1F99,0x397}, {0x1F9A,0x397}, {0x1F9B,0x397}, {0x1F9C,0x397}, {0x1F9D,0x397},
    {0x1F9E,0x397}, {0x1F9F,0x397}, {0x1FA0,0x3C9}, {0x1FA1,0x3C9}, {0x1FA2,0x3C9}, {0x1FA3,0x3C9},
    {0x1FA4,0x3C9}, {0x1FA5,0x3C9}, {0x1FA6,0x3C9}, {0x1FA7,0x3C9}, {0x1FA8,0x3A9}, {0x1FA9,0x3A9},
    {0x1FAA,0x3A9}, {0x1FAB,0x3A9}, {0x1FAC,0x3A9}, {0x1FAD,0x3A9}, {0x1FAE,0x3A9}, {0x1FAF,0x3A9},
    {0x1FB0,0x3B1}, {0x1FB1,0x3B1}, {0x1FB2,0x3B1}, {0x1FB3,0x3B1}, {0x1FB4,0x3B1}, {0x1FB6,0x3B1},
    {0x1FB7,0x3B1}, {0x1FB8,0x391}, {0x1FB9,0x391}, {0x1FBA,0x391}, {0x1FBB,0x391}, {0x1FBC,0x391},
    {0x1FBE,0x3B9}, {0x1FC1,0xA8}, {0x1FC2,0x3B7}, {0x1FC3,0x3B7}, {0x1FC4,0x3B7}, {0x1FC6,0x3B7},
    {0x1FC7,0x3B7}, {0x1FC8,0x395}, {0x1FC9,0x395}, {0x1FCA,0x397}, {0x1FCB,0x397}, {0x1FCC,0x397},
    {0x1FCD,0x1FBF}, {0x1FCE,0x1FBF}, {0x1FCF,0x1FBF}, {0x1FD0,0x3B9}, {0x1FD1,0x3B9},
    {0x1FD2,0x3B9}, {0x1FD3,0x3B9}, {0x1FD6,0x3B9}, {0x1FD7,0x3B9}, {0x1FD8,0x399}, {0x1FD9,0x399},
    {0x1FDA,0x399}, {0x1FDB,0x399}, {0x1FDD,0x1FFE}, {0x1FDE,0x1FFE}, {0x1FDF,0x1FFE},
    {0x1FE0,0x3C5}, {0x1FE1,0x3C5}, {0x1FE2,0x3C5}, {0x1FE3,0x3C5}, {0x1FE4,0x3C1}, {0x1FE5,0x3C1},
    {0x1FE6,0x3C5}, {0x1FE7,0x3C5}, {0x1FE8,0x3A5}, {0x1FE9,0x3A5}, {0x1FEA,0x3A5}, {0x1FEB,0x3A5},
    {0x1FEC,0x3A1}, {0x1FED,0xA8}, {0x1FEE,0xA8}, {0x1FEF,0x60}, {0x1FF2,0x3C9}, {0x1FF3,0x3C9},
    {0x1FF4,0x3C9}, {0x1FF6,0x3C9}, {0x1FF7,0x3C9}, {0x1FF8,0x39F}, {0x1FF9,0x39F}, {0x1FFA,0x3A9},
    {0x1FFB,0x3A9}, {0x1FFC,0x3A9}, {0x1FFD,0xB4}, {0x2000,0x2002}, {0x2001,0x2003}, {0x2126,0x3A9},
    {0x212A,0x4B}, {0x212B,0x41}, {0x219A,0x2190}, {0x219B,0x2192}, {0x21AE,0x2194},
    {0x21CD,0x21D0}, {0x21CE,0x21D4}, {0x21CF,0x21D2}, {0x2204,0x2203}, {0x2209,0x2208},
    {0x220C,0x220B}, {0x2224,0x2223}, {0x2226,0x2225}, {0x2241,0x223C}, {0x2244,0x2243},
    {0x2247,0x2245}, {0x2249,0x2248}, {0x2260,0x3D}, {0x2262,0x2261}, {0x226D,0x224D},
    {0x226E,0x3C}, {0x226F,0x3E}, {0x2270,0x2264}, {0x2271,0x2265}, {0x2274,0x2272},
    {0x2275,0x2273}, {0x2278,0x2276}, {0x2279,0x2277}, {0x2280,0x227A}, {0x2281,0x227B},
    {0x2284,0x2282}, {0x2285,0x2283}, {0x2288,0x2286}, {0x2289,0x2287}, {0x22AC,0x22A2},
    {0x22AD,0x22A8}, {0x22AE,0x22A9}, {0x22AF,0x22AB}, {0x22E0,0x227C}, {0x22E1,0x227D},
    {0x22E2,0x2291}, {0x22E3,0x2292}, {0x22EA,0x22B2}, {0x22EB,0x22B3}, {0x22EC,0x22B4},
    {0x22ED,0x22B5}, {0x2329,0x3008}, {0x232A,0x3009}, {0x2ADC,0x2ADD}, {0x304C,0x304B},
    {0x304E,0x304D}, {0x3050,0x304F}, {0x3052,0x3051}, {0x3054,0x3053}, {0x3056,0x3055},
    {0x3058,0x3057}, {0x305A,0x3059}, {0x305C,0x305B}, {0x305E,0x305D}, {0x3060,0x305F},
    {0x3062,0x3061}, {0x3065,0x3064}, {0x3067,0x3066}, {0x3069,0x3068}, {0x3070,0x306F},
    {0x3071,0x306F}, {0x3073,0x3072}, {0x3074,0x3072}, {0x3076,0x3075}, {0x3077,0x3075},
    {0x3079,0x3078}, {0x307A,0x3078}, {0x307C,0x307B}, {0x307D,0x307B}, {0x3094,0x3046},
    {0x309E,0x309D}, {0x30AC,0x30AB}, {0x30AE,0x30AD}, {0x30B0,0x30AF}, {0x30B2,0x30B1},
    {0x30B4,0x30B3}, {0x30B6,0x30B5}, {0x30B8,0x30B7}, {0x30BA,0x30B9}, {0x30BC,0x30BB},
    {0x30BE,0x30BD}, {0x30C0,0x30BF}, {0x30C2,0x30C1}, {0x30C5,0x30C4}, {0x30C7,0x30C6},
    {0x30C9,0x30C8}, {0x30D0,0x30CF}, {0x30D1,0x30CF}, {0x30D3,0x30D2}, {0x30D4,0x30D2},
    {0x30D6,0x30D5}, {0x30D7,0x30D5}, {0x30D9,0x30D8}, {0x30DA,0x30D8}, {0x30DC,0x30DB},
    {0x30DD,0x30DB}, {0x30F4,0x30A6}, {0x30F7,0x30EF}, {0x30F8,0x30F0}, {0x30F9,0x30F1},
    {0x30FA,0x30F2}, {0x30FE,0x30FD}, {0xF900,0x8C48}, {0xF901,0x66F4}, {0xF902,0x8ECA},
    {0xF903,0x8CC8}, {0xF904,0x6ED1}, {0xF905,0x4E32}, {0xF906,0x53E5}, {0xF907,0x9F9C},
    {0xF908,0x9F9C}, {0xF909,0x5951}, {0xF90A,0x91D1}, {0xF90B,0x5587}, {0xF90C,0x5948},
    {0xF90D,0x61F6}, {0xF90E,0x7669}, {0xF90F,0x7F85}, {0xF910,0x863F}, {0xF911,0x87BA},
    {0xF912,0x88F8}, {0xF913,0x908F}, {0xF914,0x6A02}, {0xF915,0x6D1B}, {0xF916,0x70D9},
    {0xF917,0x73DE}, {0xF918,0x843D}, {0xF919,0x916A}, {0xF91A,0x99F1}, {0xF91B,0x4E82},
    {0xF91C,0x5375}, {0xF91D,0x6B04}, {0xF91E,0x721B}, {0xF91F,0x862D}, {0xF920,0x9E1E},
    {0xF921,0x5D50}, {0xF922,0x6FEB}, {0xF923,0x85CD}, {0xF924,0x8964}, {0xF925,0x62C9},
    {0xF926,0x81D8}, {0xF927,0x881F}, {0xF928,0x5ECA}, {0xF929,0x6717}, {0xF92A,0x6D6A},
    {0xF92B,0x72FC}, {0xF92C,0x90CE}, {0xF92D,0x4F86}, {0xF92E,0x51B7}, {0xF92F,0x52DE},
    {0xF930,0x64C4}, {0xF931,0x6AD3}, {0xF932,0x7210}, {0xF933,0x76E7}, {0xF934,0x8001},
    {0xF935,0x8606}, {0xF936,0x865C}, {0xF937,0x8DEF}, {0xF938,0x9732}, {0xF939,0x9B6F},
    {0xF93A,0x9DFA}, {0xF93B,0x788C}, {0xF93C,0x797F}, {0xF93D,0x7DA0}, {0xF93E,0x83C9},
    {0xF93F,0x9304}, {0xF940,0x9E7F}, {0xF941,0x8AD6}, {0xF942,0x58DF}, {0xF943,0x5F04},
    {0xF944,0x7C60}, {0xF945,0x807E}, {0xF946,0x7262}, {0xF947,0x78CA}, {0xF948,0x8CC2},
    {0xF949,0x96F7}, {0xF94A,0x58D8}, {0xF94B,0x5C62}, {0xF94C,0x6A13}, {0xF94D,0x6DDA},
    {0xF94E,0x6F0F}, {0xF94F,0x7D2F}, {0xF950,0x7E37}, {0xF951,0x964B}, {0xF952,0x52D2},
    {0xF953,0x808B}, {0xF954,0x51DC}, {0xF955,0x51CC}, {0xF956,0x7A1C}, {0xF957,0x7DBE},
    {0xF958,0x83F1}, {0xF959,0x9675}, {0xF95A,0x8B80}, {0xF95B,0x62CF}, {0xF95C,0x6A02},
    {0xF95D,0x8AFE}, {0xF95E,0x4E39}, {0xF95F,0x5BE7}, {0xF960,0x6012}, {0xF961,0x7387},
    {0xF962,0x7570}, {0xF963,0x5317}, {0xF964,0x78FB}, {0xF965,0x4FBF}, {0xF966,0x5FA9},
    {0xF967,0x4E0D}, {0xF968,0x6CCC}, {0xF969,0x6578}, {0xF96A,0x7D22}, {0xF96B,0x53C3},
    {0xF96C,0x585E}, {0xF96D,0x7701}, {0xF96E,0x8449}, {0xF96F,0x8AAA}, {0xF970,0x6BBA},
    {0xF971,0x8FB0}, {0xF972,0x6C88}, {0xF973,0x62FE}, {0xF974,0x82E5}, {0xF975,0x63A0},
    {0xF976,0x7565}, {0xF977,0x4EAE}, {0xF978,0x5169}, {0xF979,0x51C9}, {0xF97A,0x6881},
    {0xF97B,0x7CE7}, {0xF97C,0x826F}, {0xF97D,0x8AD2}, {0xF97E,0x91CF}, {0xF97F,0x52F5},
    {0xF980,0x5442}, {0xF981,0x5973}, {0xF982,0x5EEC}, {0xF983,0x65C5}, {0xF984,0x6FFE},
    {0xF985,0x792A}, {0xF986,0x95AD}, {0xF987,0x9A6A}, {0xF988,0x9E97}, {0xF989,0x9ECE},
    {0xF98A,0x529B}, {0xF98B,0x66C6}, {0xF98C,0x6B77}, {0xF98D,0x8F62}, {0xF98E,0x5E74},
    {0xF98F,0x6190}, {0xF990,0x6200}, {0xF991,0x649A}, {0xF992,0x6F23}, {0xF993,0x7149},
    {0xF994,0x7489}, {0xF995,0x79CA}, {0xF996,0x7DF4}, {0xF997,0x806F}, {0xF998,0x8F26},
    {0xF999,0x84EE}, {0xF99A,0x9023}, {0xF99B,0x934A}, {0xF99C,0x5217}, {0xF99D,0x52A3},
    {0xF99E,0x54BD}, {0xF99F,0x70C8}, {0xF9A0,0x88C2}, {0xF9A1,0x8AAA}, {0xF9A2,0x5EC9},
    {0xF9A3,0x5FF5}, {0xF9A4,0x637B}, {0xF9A5,0x6BAE}, {0xF9A6,0x7C3E}, {0xF9A7,0x7375},
    {0xF9A8,0x4EE4}, {0xF9A9,0x56F9}, {0xF9AA,0x5BE7}, {0xF9AB,0x5DBA}, {0xF9AC,0x601C},
    {0xF9AD,0x73B2}, {0xF9AE,0x7469}, {0xF9AF,0x7F9A}, {0xF9B0,0x8046}, {0xF9B1,0x9234},
    {0xF9B2,0x96F6}, {0xF9B3,0x9748}, {0xF9B4,0x9818}, {0xF9B5,0x4F8B}, {0xF9B6,0x79AE},
    {0xF9B7,0x91B4}, {0xF9B8,0x96B8}, {0xF9B9,0x60E1}, {0xF9BA,0x4E86}, {0xF9BB,0x50DA},
    {0xF9BC,0x5BEE}, {0xF9BD,0x5C3F}, {0xF9BE,0x6599}, {0xF9BF,0x6A02}, {0xF9C0,0x71CE},
    {0xF9C1,0x7642}, {0xF9C2,0x84FC}, {0xF9C3,0x907C}, {0xF9C4,0x9F8D}, {0xF9C5,0x6688},
    {0xF9C6,0x962E}, {0xF9C7,0x5289}, {0xF9C8,0x677B}, {0xF9C9,0x67F3}, {0xF9CA,0x6D41},
    {0xF9CB,0x6E9C}, {0xF9CC,0x7409}, {0xF9CD,0x7559}, {0xF9CE,0x786B}, {0xF9CF,0x7D10},
    {0xF9D0,0x985E}, {0xF9D1,0x516D}, {0xF9D2,0x622E}, {0xF9D3,0x9678}, {0xF9D4,0x502B},
    {0xF9D5,0x5D19}, {0xF9D6,0x6DEA}, {0xF9D7,0x8F2A}, {0xF9D8,0x5F8B}, {0xF9D9,0x6144},
    {0xF9DA,0x6817}, {0xF9DB,0x7387}, {0xF9DC,0x9686}, {0xF9DD,0x5229}, {0xF9DE,0x540F},
    {0xF9DF,0x5C65}, {0xF9E0,0x6613}, {0xF9E1,0x674E}, {0xF9E2,0x68A8}, {0xF9E3,0x6CE5},
    {0xF9E4,0x7406}, {0xF9E5,0x75E2}, {0xF9E6,0x7F79}, {0xF9E7,0x88CF}, {0xF9E8,0x88E1},
    {0xF9E9,0x91CC}, {0xF9EA,0x96E2}, {0xF9EB,0x533F}, {0xF9EC,0x6EBA}, {0xF9ED,0x541D},
    {0xF9EE,0x71D0}, {0xF9EF,0x7498}, {0xF9F0,0x85FA}, {0xF9F1,0x96A3}, {0xF9F2,0x9C57},
    {0xF9F3,0x9E9F}, {0xF9F4,0x6797}, {0xF9F5,0x6DCB}, {0xF9F6,0x81E8}, {0xF9F7,0x7ACB},
    {0xF9F8,0x7B20}, {0xF9F9,0x7C92}, {0xF9FA,0x72C0}, {0xF9FB,0x7099}, {0xF9FC,0x8B58},
    {0xF9FD,0x4EC0}, {0xF9FE,0x8336}, {0xF9FF,0x523A}, {0xFA00,0x5207}, {0xFA01,0x5EA6},
    {0xFA02,0x62D3}, {0xFA03,0x7CD6}, {0xFA04,0x5B85}, {0xFA05,0x6D1E}, {0xFA06,0x66B4},
    {0xFA07,0x8F3B}, {0xFA08,0x884C}, {0xFA09,0x964D}, {0xFA0A,0x898B}, {0xFA0B,0x5ED3},
    {0xFA0C,0x5140}, {0xFA0D,0x55C0}, {0xFA10,0x585A}, {0xFA12,0x6674}, {0xFA15,0x51DE},
    {0xFA16,0x732A}, {0xFA17,0x76CA}, {0xFA18,0x793C}, {0xFA19,0x795E}, {0xFA1A,0x7965},
    {0xFA1B,0x798F}, {0xFA1C,0x9756}, {0xFA1D,0x7CBE}, {0xFA1E,0x7FBD}, {0xFA20,0x8612},
    {0xFA22,0x8AF8}, {0xFA25,0x9038}, {0xFA26,0x90FD}, {0xFA2A,0x98EF}, {0xFA2B,0x98FC},
    {0xFA2C,0x9928}, {0xFA2D,0x9DB4}, {0xFA2E,0x90DE}, {0xFA2F,0x96B7}, {0xFA30,0x4FAE},
    {0xFA31,0x50E7}, {0xFA32,0x514D}, {0xFA33,0x52C9}, {0xFA34,0x52E4}, {0xFA35,0x5351},
    {0xFA36,0x559D}, {0xFA37,0x5606}, {0xFA38,0x5668}, {0xFA39,0x5840}, {0xFA3A,0x58A8},
    {0xFA3B,0x5C64}, {0xFA3C,0x5C6E}, {0xFA3D,0x6094}, {0xFA3E,0x6168}, {0xFA3F,0x618E},
    {0xFA40,0x61F2}, {0xFA41,0x654F}, {0xFA42,0x65E2}, {0xFA43,0x6691}, {0xFA44,0x6885},
    {0xFA45,0x6D77}, {0xFA46,0x6E1A}, {0xFA47,0x6F22}, {0xFA48,0x716E}, {0xFA49,0x722B},
    {0xFA4A,0x7422}, {0xFA4B,0x7891}, {0xFA4C,0x793E}, {0xFA4D,0x7949}, {0xFA4E,0x7948},
    {0xFA4F,0x7950}, {0xFA50,0x7956}, {0xFA51,0x795D}, {0xFA52,0x798D}, {0xFA53,0x798E},
    {0xFA54,0x7A40}, {0xFA55,0x7A81}, {0xFA56,0x7BC0}, {0xFA57,0x7DF4}, {0xFA58,0x7E09},
    {0xFA59,0x7E41}, {0xFA5A,0x7F72}, {0xFA5B,0x8005}, {0xFA5C,0x81ED}, {0xFA5D,0x8279},
    {0xFA5E,0x8279}, {0xFA5F,0x8457}, {0xFA60,0x8910}, {0xFA61,0x8996}, {0xFA62,0x8B01},
    {0xFA63,0x8B39}, {0xFA64,0x8CD3}, {0xFA65,0x8D08}, {0xFA66,0x8FB6}, {0xFA67,0x9038},
    {0xFA68,0x96E3}, {0xFA69,0x97FF}, {0xFA6A,0x983B}, {0xFA6B,0x6075}, {0xFA6C,0x242EE},
    {0xFA6D,0x8218}, {0xFA70,0x4E26}, {0xFA71,0x51B5}, {0xFA72,0x5168}, {0xFA73,0x4F80},
    {0xFA74,0x5145}, {0xFA75,0x5180}, {0xFA76,0x52C7}, {0xFA77,0x52FA}, {0xFA78,0x559D},
    {0xFA79,0x5555}, {0xFA7A,0x5599}, {0xFA7B,0x55E2}, {0xFA7C,0x585A}, {0xFA7D,0x58B3},
    {0xFA7E,0x5944}, {0xFA7F,0x5954}, {0xFA80,0x5A62}, {0xFA81,0x5B28}, {0xFA82,0x5ED2},
    {0xFA83,0x5ED9}, {0xFA84,0x5F69}, {0xFA85,0x5FAD}, {0xFA86,0x60D8}, {0xFA87,0x614E},
    {0xFA88,0x6108}, {0xFA89,0x618E}, {0xFA8A,0x6160}, {0xFA8B,0x61F2}, {0xFA8C,0x6234},
    {0xFA8D,0x63C4}, {0xFA8E,0x641C}, {0xFA8F,0x6452}, {0xFA90,0x6556}, {0xFA91,0x6674},
    {0xFA92,0x6717}, {0xFA93,0x671B}, {0xFA94,0x6756}, {0xFA95,0x6B79}, {0xFA96,0x6BBA},
    {0xFA97,0x6D41}, {0xFA98,0x6EDB}, {0xFA99,0x6ECB}, {0xFA9A,0x6F22}, {0xFA9B,0x701E},
    {0xFA9C,0x716E}, {0xFA9D,0x77A7}, {0xFA9E,0x7235}, {0xFA9F,0x72AF}, {0xFAA0,0x732A},
    {0xFAA1,0x7471}, {0xFAA2,0x7506}, {0xFAA3,0x753B}, {0xFAA4,0x761D}, {0xFAA5,0x761F},
    {0xFAA6,0x76CA}, {0xFAA7,0x76DB}, {0xFAA8,0x76F4}, {0xFAA9,0x774A}, {0xFAAA,0x7740},
    {0xFAAB,0x78CC}, {0xFAAC,0x7AB1}, {0xFAAD,0x7BC0}, {0xFAAE,0x7C7B}, {0xFAAF,0x7D5B},
    {0xFAB0,0x7DF4}, {0xFAB1,0x7F3E}, {0xFAB2,0x8005}, {0xFAB3,0x8352}, {0xFAB4,0x83EF},
    {0xFAB5,0x8779}, {0xFAB6,0x8941}, {0xFAB7,0x8986}, {0xFAB8,0x8996}, {0xFAB9,0x8ABF},
    {0xFABA,0x8AF8}, {0xFABB,0x8ACB}, {0xFABC,0x8B01}, {0xFABD,0x8AFE}, {0xFABE,0x8AED},
    {0xFABF,0x8B39}, {0xFAC0,0x8B8A}, {0xFAC1,0x8D08}, {0xFAC2,0x8F38}, {0xFAC3,0x9072},
    {0xFAC4,0x9199}, {0xFAC5,0x9276}, {0xFAC6,0x967C}, {0xFAC7,0x96E3}, {0xFAC8,0x9756},
    {0xFAC9,0x97DB}, {0xFACA,0x97FF}, {0xFACB,0x980B}, {0xFACC,0x983B}, {0xFACD,0x9B12},
    {0xFACE,0x9F9C}, {0xFACF,0x2284A}, {0xFAD0,0x22844}, {0xFAD1,0x233D5}, {0xFAD2,0x3B9D},
    {0xFAD3,0x4018}, {0xFAD4,0x4039}, {0xFAD5,0x25249}, {0xFAD6,0x25CD0}, {0xFAD7,0x27ED3},
    {0xFAD8,0x9F43}, {0xFAD9,0x9F8E}, {0xFB1D,0x5D9}, {0xFB1F,0x5F2}, {0xFB2A,0x5E9},
    {0xFB2B,0x5E9}, {0xFB2C,0x5E9}, {0xFB2D,0x5E9}, {0xFB2E,0x5D0}, {0xFB2F,0x5D0}, {0xFB30,0x5D0},
    {0xFB31,0x5D1}, {0xFB32,0x5D2}, {0xFB33,0x5D3}, {0xFB34,0x5D4}, {0xFB35,0x5D5}, {0xFB36,0x5D6},
    {0xFB38,0x5D8}, {0xFB39,0x5D9}, {0xFB3A,0x5DA}, {0xFB3B,0x5DB}, {0xFB3C,0x5DC}, {0xFB3E,0x5DE},
    {0xFB40,0x5E0}, {0xFB41,0x5E1}, {0xFB43,0x5E3}, {0xFB44,0x5E4}, {0xFB46,0x5E6}, {0xFB47,0x5E7},
    {0xFB48,0x5E8}, {0xFB49,0x5E9}, {0xFB4A,0x5EA}, {0xFB4B,0x5D5}, {0xFB4C,0x5D1}, {0xFB4D,0x5DB},
    {0xFB4E,0x5E4},
};
// clang-format on

std::span<const CategoryRun> category_runs() { return kCategoryRuns; }
std::span<const LowerRun> lower_runs() { return kLowerRuns; }
std::span<const StripPair> strip_pairs() { return kStripPairs; }
}  // namespace

}  // namespace relprop::text
