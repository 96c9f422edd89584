// safetensors reader and writer. Every size read from a file is untrusted: lengths,
// shapes and offsets are range-checked, and multiplied only with overflow checks, before
// anything is allocated or indexed with them.

#include "relprop/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "relprop/io/file.hpp"
#include "relprop/io/mmap.hpp"

// The data section is little-endian; tensors are handed out as views of it unchanged.
static_assert(std::endian::native == std::endian::little, "relprop reads safetensors data in place");

namespace relprop {

using json = nlohmann::json;
using Kind = SafetensorsErrorKind;

namespace {

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;
constexpr std::uint64_t kMaxValue = std::uint64_t{1} << 48;  // bound on dimensions and offsets
constexpr std::size_t kMaxRank = 8;
// A valid header nests 3 levels (root object, entry, shape list); anything far deeper is
// garbage, and refusing it early keeps recursive JSON code (dump, destructors) shallow.
constexpr int kMaxDepth = 16;
constexpr std::size_t kMaxNamesListed = 10;

[[noreturn]] void fail(Kind kind, const std::string& msg) { throw SafetensorsError(kind, msg); }

// A name or value quoted for a message, cut short: a header may hold 100 MB strings.
std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 80;
  if (s.size() <= kMax) return "'" + std::string(s) + "'";
  return "'" + std::string(s.substr(0, kMax)) + "...' (" + std::to_string(s.size()) + " bytes)";
}
std::string brief(const json& v) {
  const std::string s = v.dump();
  return s.size() <= 40 ? s : s.substr(0, 40) + "...";
}
std::string who(const std::string& name) { return "tensor " + quote(name); }

// ---- UTF-8 ------------------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is malformed. Follows the
// Unicode table of well-formed byte sequences, so overlong forms, surrogates (ED A0..BF),
// values above U+10FFFF and truncated sequences are all rejected.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (c == 0xED) hi = 0x9F;  // surrogates U+D800..DFFF
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong below U+10000
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // continuation byte as lead, C0/C1 (overlong), F5..FF
  }
  if (s.size() - i < len) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

// Offset of the first malformed byte, or nullopt when all of `s` is UTF-8.
std::optional<std::size_t> utf8_error_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

// ---- the length prefix --------------------------------------------------------------------

std::uint64_t read_u64_le(std::span<const std::byte> b) {
  std::uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | static_cast<std::uint64_t>(b[static_cast<std::size_t>(k)]);
  return v;
}

// N, checked against the file it claims to describe.
std::uint64_t header_length(std::span<const std::byte> file) {
  if (file.size() < 8)
    fail(Kind::FileTooSmall, "file has " + std::to_string(file.size()) +
                                 " bytes; the 8-byte header length alone needs more");
  const std::uint64_t n = read_u64_le(file.first(8));
  if (n == 0) fail(Kind::HeaderLengthZero, "header length is 0; even an empty header '{}' has 2 bytes");
  // Before the size limit, so that this case stays distinguishable.
  if (n > std::numeric_limits<std::uint64_t>::max() - 8)
    fail(Kind::HeaderLengthOverflow, "header length " + std::to_string(n) + " overflows 64 bits when 8 is added");
  if (n > kMaxHeaderSize)
    fail(Kind::HeaderTooLarge, "header length " + std::to_string(n) + " is above the limit of " +
                                   std::to_string(kMaxHeaderSize) + " bytes");
  if (8 + n > file.size())
    fail(Kind::HeaderLengthExceedsFile, "header length " + std::to_string(n) + " runs past the end of the " +
                                            std::to_string(file.size()) + "-byte file");
  return n;
}

// ---- the header text ----------------------------------------------------------------------

// nlohmann::json keeps the last of duplicate keys silently, so the parser callback records
// every key per open object, and refuses nesting no valid header has.
class KeyTracker {
 public:
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxDepth)
          fail(Kind::NestingTooDeep, "header JSON nests more than " + std::to_string(kMaxDepth) +
                                         " levels deep; a valid header has 3");
        if (event == json::parse_event_t::object_start) open_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_.back().insert(parsed.get<std::string>()).second && !duplicate_)
          duplicate_ = Duplicate{open_.size() == 1, parsed.get<std::string>(), top_key_};
        if (open_.size() == 1) top_key_ = parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  }

  // After a successful parse: a duplicate key, if any was seen.
  void check() const {
    if (!duplicate_) return;
    if (duplicate_->top_level)
      fail(Kind::DuplicateName, who(duplicate_->key) + " is declared twice in the header");
    fail(Kind::DuplicateKey, "key " + quote(duplicate_->key) + " appears twice in the entry " +
                                 quote(duplicate_->within));
  }

 private:
  struct Duplicate {
    bool top_level;
    std::string key, within;
  };
  std::vector<std::set<std::string>> open_;  // keys of each object being parsed
  std::string top_key_;                      // the top-level key whose value is being parsed
  std::optional<Duplicate> duplicate_;
};

json parse_header_json(std::span<const std::byte> header) {
  const std::string_view text(reinterpret_cast<const char*>(header.data()), header.size());
  if (const auto at = utf8_error_at(text))
    fail(Kind::HeaderNotUtf8, "header is not valid UTF-8 (malformed sequence at header byte " +
                                  std::to_string(*at) + ")");
  // nlohmann's lexer takes a NUL byte for the end of the input and would ignore whatever
  // follows it; JSON never allows a raw NUL, so refuse it here.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    fail(Kind::InvalidJson, "header is not valid JSON: NUL byte at header byte " + std::to_string(nul));
  // The callback is copied into the parser: keep the state behind a shared pointer.
  auto keys = std::make_shared<KeyTracker>();
  json j;
  try {
    // JSON's own whitespace (spaces, tabs, newlines) may pad the text on either side.
    j = json::parse(text.begin(), text.end(),
                    [keys](int depth, json::parse_event_t event, json& parsed) {
                      return (*keys)(depth, event, parsed);
                    });
  } catch (const json::exception& e) {
    fail(Kind::InvalidJson, std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(Kind::HeaderNotObject, "header JSON is a " + std::string(j.type_name()) + ", not an object");
  keys->check();
  return j;
}

// ---- __metadata__ ---------------------------------------------------------------------------

// "__metadata__" is reserved for the string map; an entry shaped like a tensor under that
// name is someone trying to store a tensor there.
bool looks_like_tensor(const json& v) {
  if (!v.is_object()) return false;
  for (const char* field : {"shape", "data_offsets"})
    if (v.contains(field) && !v[field].is_string()) return true;
  return false;
}

std::map<std::string, std::string> parse_metadata(const json& v) {
  if (looks_like_tensor(v))
    fail(Kind::MetadataNameAsTensor, "a tensor may not be named '__metadata__' (reserved for the metadata map)");
  if (!v.is_object())
    fail(Kind::MetadataNotObject, "__metadata__ is a " + std::string(v.type_name()) + ", not an object of strings");
  std::map<std::string, std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string())
      fail(Kind::MetadataValueNotString, "__metadata__ value of " + quote(it.key()) + " is " + brief(it.value()) +
                                             ", not a string");
    out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

// ---- one tensor entry -------------------------------------------------------------------------

std::optional<StDType> dtype_from_name(std::string_view s) {
#define X(e, name, b) \
  if (s == name) return StDType::e;
  RELPROP_ST_DTYPES(X)
#undef X
  return std::nullopt;
}

// A dimension or offset: a JSON integer literal >= 0 (nlohmann reads "-0", "1.0" and "1e3"
// as signed or floating numbers, which are refused), below 2^48.
std::uint64_t small_count(const json& v, const std::string& what, const std::string& name, Kind too_large) {
  if (!v.is_number_unsigned())
    fail(Kind::NotNonNegativeInteger,
         who(name) + ": " + what + " " + brief(v) + " is not a non-negative integer");
  const auto x = v.get<std::uint64_t>();
  if (x >= kMaxValue) fail(too_large, who(name) + ": " + what + " " + std::to_string(x) + " is 2^48 or more");
  return x;
}

const json& field(const json& entry, const char* key, Kind missing, const std::string& name) {
  const auto it = entry.find(key);
  if (it == entry.end()) fail(missing, who(name) + " has no \"" + key + "\"");
  return *it;
}

StDType parse_dtype(const json& entry, const std::string& name) {
  const json& d = field(entry, "dtype", Kind::MissingDtype, name);
  if (!d.is_string()) fail(Kind::DtypeNotString, who(name) + ": \"dtype\" is " + brief(d) + ", not a string");
  const auto s = d.get<std::string>();
  const auto dt = dtype_from_name(s);
  if (!dt) fail(Kind::UnknownDtype, who(name) + ": unknown dtype " + quote(s));
  return *dt;
}

Shape parse_shape(const json& entry, const std::string& name) {
  const json& sh = field(entry, "shape", Kind::MissingShape, name);
  if (!sh.is_array()) fail(Kind::ShapeNotArray, who(name) + ": \"shape\" is " + brief(sh) + ", not a list");
  if (sh.size() > kMaxRank)
    fail(Kind::RankTooLarge,
         who(name) + ": rank " + std::to_string(sh.size()) + " is above " + std::to_string(kMaxRank));
  Shape shape;
  for (const auto& d : sh)
    shape.push_back(static_cast<std::int64_t>(small_count(d, "dimension", name, Kind::DimensionTooLarge)));
  return shape;
}

std::pair<std::uint64_t, std::uint64_t> parse_offsets(const json& entry, const std::string& name) {
  const json& off = field(entry, "data_offsets", Kind::MissingDataOffsets, name);
  if (!off.is_array())
    fail(Kind::DataOffsetsNotArray, who(name) + ": \"data_offsets\" is " + brief(off) + ", not [BEGIN, END]");
  if (off.size() != 2)
    fail(Kind::DataOffsetsNotPair,
         who(name) + ": \"data_offsets\" has " + std::to_string(off.size()) + " elements, not 2 ([BEGIN, END])");
  const std::uint64_t begin = small_count(off[0], "offset", name, Kind::OffsetTooLarge);
  const std::uint64_t end = small_count(off[1], "offset", name, Kind::OffsetTooLarge);
  return {begin, end};
}

// The size in bytes that `shape` of `dtype` occupies, every product overflow-checked.
std::uint64_t byte_size(const std::string& name, StDType dtype, const Shape& shape) {
  // Zero dimensions count as 1 here: Tensor's strides multiply the others even when the
  // element count is 0, so they must not overflow either.
  std::int64_t extent = 1;
  bool empty = false;
  for (const std::int64_t d : shape) {
    empty = empty || d == 0;
    if (d > 1 && extent > std::numeric_limits<std::int64_t>::max() / d)
      fail(Kind::ShapeOverflow, who(name) + ": the element count of shape " + shape_str(shape) + " overflows");
    extent *= std::max<std::int64_t>(d, 1);
  }
  const auto numel = static_cast<std::uint64_t>(empty ? 0 : extent);
  const std::uint64_t bits_each = st_dtype_bits(dtype);
  if (numel != 0 && bits_each > std::numeric_limits<std::uint64_t>::max() / numel)
    fail(Kind::BitSizeOverflow, who(name) + ": " + std::to_string(numel) + " elements of " +
                                    std::string(st_dtype_name(dtype)) + " overflow a 64-bit count of bits");
  const std::uint64_t bits = numel * bits_each;
  if (bits % 8 != 0)
    fail(Kind::FractionalByteSize, who(name) + ": " + std::to_string(numel) + " elements of " +
                                       std::string(st_dtype_name(dtype)) + " are " + std::to_string(bits) +
                                       " bits, not a whole number of bytes");
  return bits / 8;
}

SafetensorsTensorInfo parse_entry(const std::string& name, const json& entry) {
  if (!entry.is_object())
    fail(Kind::EntryNotObject, who(name) + ": entry is " + brief(entry) + ", not an object");
  SafetensorsTensorInfo t;
  t.name = name;
  t.dtype = parse_dtype(entry, name);
  t.shape = parse_shape(entry, name);
  std::tie(t.begin, t.end) = parse_offsets(entry, name);
  for (auto it = entry.begin(); it != entry.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      fail(Kind::UnknownEntryKey,
           who(name) + ": unknown key " + quote(it.key()) + " (an entry has dtype, shape and data_offsets)");
  if (t.end < t.begin)
    fail(Kind::EndBeforeBegin, who(name) + ": data_offsets [" + std::to_string(t.begin) + ", " +
                                   std::to_string(t.end) + "] end before they begin");
  const std::uint64_t need = byte_size(name, t.dtype, t.shape);
  if (t.end - t.begin != need)
    fail(Kind::SizeMismatch, who(name) + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                 "] span " + std::to_string(t.end - t.begin) + " bytes, but " + shape_str(t.shape) +
                                 " of " + std::string(st_dtype_name(t.dtype)) + " needs " + std::to_string(need));
  return t;
}

// ---- the data section -------------------------------------------------------------------------

// The tensors, in offset order, must cover [0, data_len) exactly once. Zero-size tensors
// cover nothing and may sit at any offset another tensor starts or ends at.
void check_tiling(std::vector<SafetensorsTensorInfo>& tensors, std::uint64_t data_len) {
  // END as the second key puts empty tensors before a non-empty one at the same offset.
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t covered = 0;  // [0, covered) is tiled so far
  const SafetensorsTensorInfo* prev = nullptr;
  for (const auto& t : tensors) {
    const std::string range = " [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ")";
    if (t.begin > covered && covered == 0)
      fail(Kind::GapAtStart, who(t.name) + range + " leaves data bytes [0, " + std::to_string(t.begin) +
                                 ") to no tensor");
    if (t.begin > covered)
      fail(Kind::GapBetweenTensors, "data bytes [" + std::to_string(covered) + ", " + std::to_string(t.begin) +
                                        ") between " + who(prev->name) + " and " + who(t.name) +
                                        " belong to no tensor");
    if (t.begin < covered && prev->begin == t.begin && prev->end == t.end)
      fail(Kind::AliasedTensors, who(t.name) + " and " + who(prev->name) + " share the bytes" + range);
    if (t.begin < covered)
      fail(Kind::OverlappingTensors, who(t.name) + range + " overlaps " + who(prev->name) + " [" +
                                         std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
    covered = t.end;
    prev = &t;
  }
  if (covered < data_len)
    fail(Kind::TrailingBytes, std::to_string(data_len - covered) + " bytes follow the last tensor (the tensors use " +
                                  std::to_string(covered) + " of the data section's " + std::to_string(data_len) + ")");
  if (covered > data_len)
    fail(Kind::MissingBytes, "the tensors need " + std::to_string(covered) + " bytes of data, the file holds " +
                                 std::to_string(data_len) + " (truncated?)");
}

}  // namespace

std::string_view to_string(SafetensorsErrorKind kind) {
  switch (kind) {
#define X(e, s) \
  case Kind::e: \
    return s;
    RELPROP_SAFETENSORS_ERRORS(X)
#undef X
  }
  return "?";
}

std::string_view st_dtype_name(StDType d) {
  switch (d) {
#define X(e, s, b) \
  case StDType::e: \
    return s;
    RELPROP_ST_DTYPES(X)
#undef X
  }
  return "?";
}

std::size_t st_dtype_bits(StDType d) {
  switch (d) {
#define X(e, s, b) \
  case StDType::e: \
    return b;
    RELPROP_ST_DTYPES(X)
#undef X
  }
  return 0;
}

const SafetensorsTensorInfo* SafetensorsHeader::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file) {
  SafetensorsHeader h;
  h.header_size = header_length(file);
  h.data_offset = 8 + h.header_size;
  const json j = parse_header_json(file.subspan(8, h.header_size));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__")
      h.metadata = parse_metadata(it.value());
    else
      h.tensors.push_back(parse_entry(it.key(), it.value()));
  }
  check_tiling(h.tensors, file.size() - h.data_offset);
  // The documented order: by offset, then name (tiling needed END before the name).
  std::stable_sort(h.tensors.begin(), h.tensors.end(),
                   [](const auto& a, const auto& b) { return std::tie(a.begin, a.name) < std::tie(b.begin, b.name); });
  return h;
}

// ---- reading tensors ----------------------------------------------------------------------------

namespace {

// FP8 E4M3 ("FN": no infinities, S.1111.111 is NaN), bias 7.
float f8_e4m3_to_float(std::uint8_t v) {
  const int exp = (v >> 3) & 0xF, man = v & 0x7;
  if (exp == 0xF && man == 0x7) return std::numeric_limits<float>::quiet_NaN();
  const float mag = exp == 0 ? std::ldexp(static_cast<float>(man), -9)  // subnormal: man/8 * 2^-6
                             : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  return (v & 0x80) ? -mag : mag;
}
// FP8 E5M2 is the upper byte of an IEEE half.
float f8_e5m2_to_float(std::uint8_t v) { return half_to_float(static_cast<std::uint16_t>(v << 8)); }

// relprop's dtype for the file's, when relprop has one.
std::optional<DType> relprop_dtype(StDType d) {
  switch (d) {
    case StDType::F32: return DType::F32;
    case StDType::F64: return DType::F64;
    case StDType::F16: return DType::F16;
    case StDType::BF16: return DType::BF16;
    case StDType::I32: return DType::I32;
    case StDType::I64: return DType::I64;
    case StDType::U8: return DType::U8;
    case StDType::BOOL: return DType::BOOL;
    default: return std::nullopt;
  }
}

// A new tensor of `shape` holding convert(x) for each little-endian Src x in `bytes`.
// memcpy loads: the bytes may be unaligned for Src.
template <class Src, class Dst, class Convert>
Tensor convert_all(std::span<const std::byte> bytes, const Shape& shape, Convert convert) {
  Tensor out = Tensor::empty(shape, dtype_of<Dst>::value);
  const std::size_t n = bytes.size() / sizeof(Src);
  RELPROP_ASSERT(static_cast<std::int64_t>(n) == out.numel(), "validated sizes disagree with the shape");
  Dst* o = n ? out.data<Dst>() : nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    Src x;
    std::memcpy(&x, bytes.data() + i * sizeof(Src), sizeof(Src));
    o[i] = convert(x);
  }
  return out;
}

template <class Src>
Tensor to_i64(std::span<const std::byte> bytes, const Shape& shape) {
  return convert_all<Src, std::int64_t>(bytes, shape, [](Src x) { return static_cast<std::int64_t>(x); });
}

}  // namespace

SafetensorsFile SafetensorsFile::make(std::shared_ptr<const void> owner, std::span<const std::byte> bytes,
                                      std::string origin) {
  SafetensorsFile f;
  try {
    f.header_ = parse_safetensors_header(bytes);
  } catch (const SafetensorsError& e) {
    throw SafetensorsError(e.kind(), origin + ": " + e.what());
  }
  f.owner_ = std::move(owner);
  f.bytes_ = bytes;
  f.origin_ = std::move(origin);
  f.by_name_.resize(f.header_.tensors.size());
  for (std::size_t i = 0; i < f.by_name_.size(); ++i) f.by_name_[i] = i;
  std::sort(f.by_name_.begin(), f.by_name_.end(),
            [&](std::size_t a, std::size_t b) { return f.header_.tensors[a].name < f.header_.tensors[b].name; });
  return f;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto mapped = std::make_shared<MappedFile>(MappedFile::open(path));
  const auto bytes = mapped->bytes();
  SafetensorsFile f = make(std::move(mapped), bytes, path.string());
  f.mapped_ = true;
  f.check_intact();  // the header was read from the mapping
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(std::vector<std::byte> bytes, std::string origin) {
  // Shared so that tensors borrowing from the bytes keep them alive.
  auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  const std::span<const std::byte> view(*owned);
  return make(std::move(owned), view, std::move(origin));
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const std::size_t i : by_name_) out.push_back(header_.tensors[i].name);
  return out;
}

const SafetensorsTensorInfo* SafetensorsFile::lookup(std::string_view name) const {
  const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name, [&](std::size_t i, std::string_view n) {
    return header_.tensors[i].name < n;
  });
  if (it == by_name_.end() || header_.tensors[*it].name != name) return nullptr;
  return &header_.tensors[*it];
}

const SafetensorsTensorInfo& SafetensorsFile::info(std::string_view name) const {
  if (const auto* t = lookup(name)) return *t;
  std::string listed;
  for (std::size_t i = 0; i < by_name_.size() && i < kMaxNamesListed; ++i)
    listed += (i ? ", " : "") + header_.tensors[by_name_[i]].name;
  if (by_name_.size() > kMaxNamesListed) listed += ", ... (" + std::to_string(by_name_.size()) + " in all)";
  throw NotFoundError("no tensor " + quote(name) + " in '" + origin_ + "'" +
                      (by_name_.empty() ? std::string(" (it holds no tensors)") : " (it holds " + listed + ")"));
}

std::span<const std::byte> SafetensorsFile::data(const SafetensorsTensorInfo& t) const {
  // In range: parsing checked data_offset + end <= file size.
  return bytes_.subspan(header_.data_offset + t.begin, t.end - t.begin);
}

void SafetensorsFile::release_pages(std::string_view name) const {
#if defined(__linux__) && defined(MADV_PAGEOUT)
  const SafetensorsTensorInfo* t = lookup(name);
  if (!t || !mapped_) return;
  const std::span<const std::byte> d = data(*t);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto lo = (reinterpret_cast<std::uintptr_t>(d.data()) + page - 1) / page * page;
  const auto hi = (reinterpret_cast<std::uintptr_t>(d.data()) + d.size()) / page * page;
  // A reclaim hint: clean pages are dropped (and read back from the file if touched),
  // pages a caller modified stay as they are. Failure (old kernels) changes nothing.
  if (hi > lo) (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_PAGEOUT);
#else
  (void)name;
#endif
}

void SafetensorsFile::unsupported(const SafetensorsTensorInfo& t) const {
  throw UnsupportedError(who(t.name) + " in '" + origin_ + "' has dtype " + std::string(st_dtype_name(t.dtype)) +
                         ", which relprop does not load");
}

void SafetensorsFile::check_intact() const {
  if (mapped_) static_cast<const MappedFile*>(owner_.get())->check_intact();
}

Tensor SafetensorsFile::get_raw(std::string_view name) const {
  Tensor out = read_raw(name);
  if (out.storage() && out.storage()->owned()) check_intact();  // a copy read the mapping: was it all there?
  return out;
}

Tensor SafetensorsFile::get(std::string_view name) const {
  Tensor out = read(name);
  if (out.storage() && out.storage()->owned()) check_intact();
  return out;
}

Tensor SafetensorsFile::read_raw(std::string_view name) const {
  const SafetensorsTensorInfo& t = info(name);
  const std::optional<DType> dt = relprop_dtype(t.dtype);
  if (!dt) unsupported(t);
  const auto bytes = data(t);
  // A bool holding anything but 0 or 1 is undefined behaviour to read: normalise a copy.
  if (*dt == DType::BOOL && std::any_of(bytes.begin(), bytes.end(), [](std::byte b) { return b > std::byte{1}; }))
    return convert_all<std::uint8_t, bool>(bytes, t.shape, [](std::uint8_t x) { return x != 0; });
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % dtype_size(*dt) == 0) {
    // Zero-copy: a view of the mapping (or the bytes), which the storage keeps alive.
    auto storage = Storage::borrow(const_cast<std::byte*>(bytes.data()), bytes.size(), owner_);
    return Tensor::from_storage(std::move(storage), t.shape, *dt);
  }
  Tensor out = Tensor::empty(t.shape, *dt);
  if (!bytes.empty()) std::memcpy(out.raw_data(), bytes.data(), bytes.size());
  return out;
}

Tensor SafetensorsFile::read(std::string_view name) const {
  const SafetensorsTensorInfo& t = info(name);
  const auto bytes = data(t);
  switch (t.dtype) {
    case StDType::F32:
    case StDType::I64:
    case StDType::BOOL:
      return read_raw(name);  // already the target dtype
    case StDType::F64:
      return convert_all<double, float>(bytes, t.shape, [](double x) { return static_cast<float>(x); });
    case StDType::F16: return convert_all<std::uint16_t, float>(bytes, t.shape, half_to_float);
    case StDType::BF16: return convert_all<std::uint16_t, float>(bytes, t.shape, bf16_to_float);
    case StDType::F8_E4M3: return convert_all<std::uint8_t, float>(bytes, t.shape, f8_e4m3_to_float);
    case StDType::F8_E5M2: return convert_all<std::uint8_t, float>(bytes, t.shape, f8_e5m2_to_float);
    case StDType::U8: return to_i64<std::uint8_t>(bytes, t.shape);
    case StDType::I8: return to_i64<std::int8_t>(bytes, t.shape);
    case StDType::I16: return to_i64<std::int16_t>(bytes, t.shape);
    case StDType::U16: return to_i64<std::uint16_t>(bytes, t.shape);
    case StDType::I32: return to_i64<std::int32_t>(bytes, t.shape);
    case StDType::U32: return to_i64<std::uint32_t>(bytes, t.shape);
    case StDType::U64:
      return convert_all<std::uint64_t, std::int64_t>(bytes, t.shape, [&](std::uint64_t x) {
        if (x > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          throw ValueError(who(t.name) + " in '" + origin_ + "': U64 value " + std::to_string(x) +
                           " does not fit in I64");
        return static_cast<std::int64_t>(x);
      });
    case StDType::F8_E8M0:
    case StDType::C64:
    case StDType::F4:
    case StDType::F6_E2M3:
    case StDType::F6_E3M2:
      break;
  }
  unsupported(t);
}

// ---- writing ------------------------------------------------------------------------------------

namespace {

// What a file will hold: the header text (padded) and the tensors in data order.
struct Layout {
  std::string header;
  std::vector<const std::pair<std::string, Tensor>*> order;
};

void check_writable(const std::string& name, const Tensor& t, std::set<std::string_view>& seen) {
  if (name.empty()) throw ValueError("safetensors: tensor names must not be empty");
  if (name == "__metadata__") throw ValueError("safetensors: '__metadata__' is reserved, not a tensor name");
  if (utf8_error_at(name)) throw ValueError("safetensors: tensor name " + quote(name) + " is not UTF-8");
  if (!seen.insert(name).second) throw ValueError("safetensors: tensor " + quote(name) + " is given twice");
  if (!t.defined()) throw ValueError("safetensors: tensor " + quote(name) + " is undefined");
  if (t.device() != Device::CPU)
    throw UnsupportedError("safetensors: tensor " + quote(name) + " is not on the CPU; copy it there first");
  // Refuse what the reader would refuse, rather than write a file nobody can load.
  if (t.shape().size() > kMaxRank)
    throw ValueError("safetensors: tensor " + quote(name) + " has rank " + std::to_string(t.dim()) +
                     "; files hold at most " + std::to_string(kMaxRank));
  for (const std::int64_t d : t.shape())
    if (static_cast<std::uint64_t>(d) >= kMaxValue)
      throw ValueError("safetensors: tensor " + quote(name) + " has a dimension of 2^48 or more");
}

Layout plan(const std::vector<std::pair<std::string, Tensor>>& tensors,
            const std::map<std::string, std::string>& metadata) {
  Layout out;
  std::set<std::string_view> seen;
  for (const auto& item : tensors) {
    check_writable(item.first, item.second, seen);
    out.order.push_back(&item);
  }
  for (const auto& [k, v] : metadata)
    if (utf8_error_at(k) || utf8_error_at(v))
      throw ValueError("safetensors: metadata entry " + quote(k) + " is not UTF-8");
  // Element sizes are powers of two and each tensor's size a multiple of its own, so
  // largest first leaves every tensor aligned to its element size.
  std::sort(out.order.begin(), out.order.end(), [](const auto* a, const auto* b) {
    const auto sa = dtype_size(a->second.dtype()), sb = dtype_size(b->second.dtype());
    return sa != sb ? sa > sb : a->first < b->first;
  });
  json h = json::object();
  std::uint64_t offset = 0;
  for (const auto* item : out.order) {
    const Tensor& t = item->second;
    h[item->first] = {{"dtype", std::string(dtype_name(t.dtype()))},
                      {"shape", t.shape()},
                      {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  out.header = h.dump();
  // Padding to 8 keeps the data section, and so every tensor, aligned in the file.
  out.header.append((8 - out.header.size() % 8) % 8, ' ');
  return out;
}

// Hands the file's bytes to `sink` in order: length, header, each tensor's data.
void emit(const Layout& layout, const std::function<void(const void*, std::size_t)>& sink) {
  std::byte prefix[8];
  std::uint64_t n = layout.header.size();
  for (auto& b : prefix) {
    b = static_cast<std::byte>(n & 0xFF);
    n >>= 8;
  }
  sink(prefix, sizeof prefix);
  sink(layout.header.data(), layout.header.size());
  for (const auto* item : layout.order) {
    // GPU tensors are downloaded first (raw_data would be a device address).
    const Tensor c = item->second.to(Device::CPU).contiguous();
    if (c.nbytes()) sink(c.raw_data(), c.nbytes());
  }
}

}  // namespace

std::vector<std::byte> serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                             const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);
  std::vector<std::byte> out;
  emit(layout, [&](const void* p, std::size_t n) {
    const std::size_t at = out.size();
    out.resize(at + n);  // resize + memcpy: GCC 12 misreads insert() of a byte range here
    std::memcpy(out.data() + at, p, n);
  });
  return out;
}

void write_safetensors(OutputFile& file, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);  // bad names fail before the disk is touched
  emit(layout, [&](const void* p, std::size_t n) { file.write(p, n); });
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const Layout layout = plan(tensors, metadata);  // bad names fail before the disk is touched
  OutputFile file(path);
  emit(layout, [&](const void* p, std::size_t n) { file.write(p, n); });
  file.commit();
}

}  // namespace relprop
