// safetensors reader and writer. Every size read from a file is untrusted: lengths,
// shapes and offsets are range-checked and multiplied with overflow checks before use.

#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "io/mmap.hpp"

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace relprop {

using json = nlohmann::json;
using Kind = SafetensorsErrorKind;

namespace {

constexpr std::uint64_t kMaxHeader = 100'000'000;
constexpr std::uint64_t kMaxValue = std::uint64_t{1} << 48;  // dims and offsets
constexpr std::size_t kMaxRank = 8;

[[noreturn]] void fail(Kind kind, const std::string& msg) { throw SafetensorsError(kind, msg); }

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::span<const std::byte> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool parse_dtype(const std::string& s, StDType& out) {
#define X(e, name, b)    \
  if (s == name) {       \
    out = StDType::e;    \
    return true;         \
  }
  RELPROP_ST_DTYPES(X)
#undef X
  return false;
}

// A JSON value that must be a non-negative integer below 2^48.
bool as_u48(const json& v, std::uint64_t& out, bool& too_large) {
  too_large = false;
  if (!v.is_number_unsigned()) return false;  // negatives, floats (1.0, 1e3) and others
  out = v.get<std::uint64_t>();
  too_large = out >= kMaxValue;
  return true;
}

SafetensorsTensorInfo parse_entry(const std::string& name, const json& e) {
  const std::string who = "tensor '" + name + "'";
  if (!e.is_object()) fail(Kind::EntryNotObject, who + ": entry is not an object");
  for (auto it = e.begin(); it != e.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      fail(Kind::UnknownEntryKey, who + ": unknown key '" + it.key() + "' (known: dtype, shape, data_offsets)");
  SafetensorsTensorInfo t;
  t.name = name;

  if (!e.contains("dtype")) fail(Kind::MissingDtype, who + ": no \"dtype\"");
  if (!e["dtype"].is_string()) fail(Kind::InvalidDtypeType, who + ": \"dtype\" must be a string");
  const auto ds = e["dtype"].get<std::string>();
  if (!parse_dtype(ds, t.dtype)) fail(Kind::UnknownDtype, who + ": unknown dtype '" + ds + "'");

  if (!e.contains("shape")) fail(Kind::MissingShape, who + ": no \"shape\"");
  const json& sh = e["shape"];
  if (!sh.is_array()) fail(Kind::InvalidShapeType, who + ": \"shape\" must be a list of integers");
  if (sh.size() > kMaxRank)
    fail(Kind::RankTooLarge, who + ": rank " + std::to_string(sh.size()) + " is above " + std::to_string(kMaxRank));
  for (const auto& d : sh) {
    std::uint64_t v;
    bool big;
    if (!as_u48(d, v, big)) fail(Kind::InvalidShapeType, who + ": shape entry " + d.dump() + " is not an integer >= 0");
    if (big) fail(Kind::DimensionTooLarge, who + ": dimension " + d.dump() + " is 2^48 or more");
    t.shape.push_back(static_cast<std::int64_t>(v));
  }

  if (!e.contains("data_offsets")) fail(Kind::MissingDataOffsets, who + ": no \"data_offsets\"");
  const json& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2)
    fail(Kind::InvalidDataOffsetsType, who + ": \"data_offsets\" must be [BEGIN, END]");
  std::uint64_t be[2];
  for (int k = 0; k < 2; ++k) {
    bool big;
    if (!as_u48(off[k], be[k], big))
      fail(Kind::InvalidDataOffsetsType, who + ": offset " + off[k].dump() + " is not an integer >= 0");
    if (big) fail(Kind::OffsetTooLarge, who + ": offset " + off[k].dump() + " is 2^48 or more");
  }
  t.begin = be[0];
  t.end = be[1];
  if (t.end < t.begin)
    fail(Kind::EndBeforeBegin, who + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                   "] end before they begin");

  std::uint64_t numel = 1;
  for (auto d : t.shape) {
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ud)
      fail(Kind::ShapeOverflow, who + ": the element count of shape " + shape_str(t.shape) + " overflows");
    numel *= ud;
  }
  const std::uint64_t bits_per = st_dtype_bits(t.dtype);
  if (numel != 0 && bits_per > std::numeric_limits<std::uint64_t>::max() / numel)
    fail(Kind::BitSizeOverflow, who + ": the bit size of shape " + shape_str(t.shape) + " overflows");
  const std::uint64_t bits = numel * bits_per;
  if (bits % 8 != 0)
    fail(Kind::FractionalByteSize, who + ": " + std::to_string(numel) + " elements of " + ds + " are " +
                                       std::to_string(bits) + " bits, not a whole number of bytes");
  if (t.end - t.begin != bits / 8)
    fail(Kind::SizeMismatch, who + ": data_offsets span " + std::to_string(t.end - t.begin) + " bytes, " +
                                 shape_str(t.shape) + " of " + ds + " needs " + std::to_string(bits / 8));
  return t;
}

bool looks_like_tensor(const json& v) {
  return v.is_object() && (v.contains("dtype") || v.contains("shape") || v.contains("data_offsets")) &&
         std::any_of(v.begin(), v.end(), [](const json& x) { return !x.is_string(); });
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
#define X(e, s, b)     \
  case StDType::e: \
    return s;
    RELPROP_ST_DTYPES(X)
#undef X
  }
  return "?";
}

std::size_t st_dtype_bits(StDType d) {
  switch (d) {
#define X(e, s, b)     \
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
  if (file.size() < 8)
    fail(Kind::FileTooSmall, "file has " + std::to_string(file.size()) + " bytes; at least 8 are needed");
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  if (n == 0) fail(Kind::HeaderLengthZero, "header length is 0");
  if (n > std::numeric_limits<std::uint64_t>::max() - 8)
    fail(Kind::HeaderLengthOverflow, "header length " + std::to_string(n) + " overflows when 8 is added");
  if (n > kMaxHeader)
    fail(Kind::HeaderTooLarge, "header length " + std::to_string(n) + " is above the limit of 100,000,000 bytes");
  if (8 + n > file.size())
    fail(Kind::HeaderLengthExceedsFile, "header length " + std::to_string(n) + " runs past the end of the " +
                                            std::to_string(file.size()) + "-byte file");
  const auto header_bytes = file.subspan(8, n);
  if (!valid_utf8(header_bytes)) fail(Kind::HeaderNotUtf8, "header is not valid UTF-8");

  // nlohmann keeps the last of duplicate keys silently; the callback sees every key.
  bool duplicate = false;
  std::string duplicate_name;
  std::set<std::string> seen;
  const json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const auto key = parsed.get<std::string>();
      if (!seen.insert(key).second && !duplicate) {
        duplicate = true;
        duplicate_name = key;
      }
    }
    return true;
  };
  json j;
  try {
    const char* p = reinterpret_cast<const char*>(header_bytes.data());
    j = json::parse(p, p + header_bytes.size(), cb);
  } catch (const json::exception& e) {
    fail(Kind::InvalidJson, std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(Kind::HeaderNotObject, "header JSON is not an object");
  if (duplicate) fail(Kind::DuplicateName, "tensor '" + duplicate_name + "' is declared twice");

  SafetensorsHeader h;
  h.header_size = n;
  h.data_offset = 8 + n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (looks_like_tensor(it.value()))
        fail(Kind::MetadataNameAsTensor, "a tensor may not be named __metadata__");
      if (!it.value().is_object()) fail(Kind::InvalidMetadata, "__metadata__ must be an object of strings");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          fail(Kind::InvalidMetadata, "__metadata__ value of '" + m.key() + "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(it.key(), it.value()));
  }

  // The tensors must tile the data section exactly, in offset order.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t expected = 0;
  const SafetensorsTensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.begin != expected) {
      if (!prev)
        fail(Kind::GapAtStart, "tensor '" + t.name + "' starts at " + std::to_string(t.begin) +
                                   "; the data section's first bytes belong to no tensor");
      if (t.begin > expected)
        fail(Kind::GapBetweenTensors, "bytes " + std::to_string(expected) + ".." + std::to_string(t.begin) +
                                          " between '" + prev->name + "' and '" + t.name + "' belong to no tensor");
      fail(Kind::OverlappingTensors, "tensor '" + t.name + "' [" + std::to_string(t.begin) + ", " +
                                         std::to_string(t.end) + ") overlaps '" + prev->name + "'");
    }
    expected = t.end;
    prev = &t;
  }
  const std::uint64_t data_len = file.size() - h.data_offset;
  if (expected < data_len)
    fail(Kind::TrailingBytes, std::to_string(data_len - expected) + " bytes follow the last tensor");
  if (expected > data_len)
    fail(Kind::MissingBytes, "the tensors need " + std::to_string(expected) + " bytes of data, the file holds " +
                                 std::to_string(data_len));
  return h;
}

// ---- reading tensors ------------------------------------------------------------------

namespace {

// FP8 E4M3 (no infinities, 0x7F/0xFF NaN) and E5M2 (IEEE-like) to float.
float f8_e4m3_to_float(std::uint8_t v) {
  const int sign = v >> 7, exp = (v >> 3) & 0xF, man = v & 0x7;
  if (exp == 0xF && man == 0x7) return std::numeric_limits<float>::quiet_NaN();
  const float mag = exp == 0 ? std::ldexp(static_cast<float>(man), -9)
                             : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  return sign ? -mag : mag;
}
float f8_e5m2_to_float(std::uint8_t v) { return half_to_float(static_cast<std::uint16_t>(v) << 8); }

struct DtypeMap {
  bool ok;
  DType dtype;
};
DtypeMap relprop_dtype(StDType d) {
  switch (d) {
    case StDType::F32: return {true, DType::F32};
    case StDType::F64: return {true, DType::F64};
    case StDType::F16: return {true, DType::F16};
    case StDType::BF16: return {true, DType::BF16};
    case StDType::I32: return {true, DType::I32};
    case StDType::I64: return {true, DType::I64};
    case StDType::U8: return {true, DType::U8};
    case StDType::BOOL: return {true, DType::BOOL};
    default: return {false, DType::F32};
  }
}

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto mapped = std::make_shared<MappedFile>(path);
  SafetensorsFile f;
  f.origin_ = path.string();
  try {
    f.header_ = parse_safetensors_header(mapped->bytes());
  } catch (const SafetensorsError& e) {
    throw SafetensorsError(e.kind(), f.origin_ + ": " + e.what());
  }
  f.bytes_ = mapped->bytes();
  f.owner_ = std::move(mapped);
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(std::vector<std::byte> bytes, std::string origin) {
  auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  SafetensorsFile f;
  f.origin_ = std::move(origin);
  try {
    f.header_ = parse_safetensors_header(*owned);
  } catch (const SafetensorsError& e) {
    throw SafetensorsError(e.kind(), f.origin_ + ": " + e.what());
  }
  f.bytes_ = std::span<const std::byte>(*owned);
  f.owner_ = std::move(owned);
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> n;
  for (const auto& t : header_.tensors) n.push_back(t.name);
  std::sort(n.begin(), n.end());
  return n;
}

const SafetensorsTensorInfo& SafetensorsFile::info(std::string_view name) const {
  if (const auto* t = header_.find(name)) return *t;
  std::string some;
  const auto all = names();
  for (std::size_t i = 0; i < all.size() && i < 10; ++i) some += (i ? ", " : "") + all[i];
  if (all.size() > 10) some += ", ... (" + std::to_string(all.size()) + " in all)";
  throw NotFoundError("no tensor '" + std::string(name) + "' in '" + origin_ + "'" +
                      (all.empty() ? std::string(" (it holds none)") : " (it holds " + some + ")"));
}

std::span<const std::byte> SafetensorsFile::data(const SafetensorsTensorInfo& t) const {
  return bytes_.subspan(header_.data_offset + t.begin, t.end - t.begin);
}

Tensor SafetensorsFile::get_raw(std::string_view name) const {
  const SafetensorsTensorInfo& t = info(name);
  const DtypeMap m = relprop_dtype(t.dtype);
  if (!m.ok)
    throw UnsupportedError("tensor '" + t.name + "' in '" + origin_ + "' has dtype " +
                           std::string(st_dtype_name(t.dtype)) + ", which relprop does not load");
  const auto bytes = data(t);
  const std::size_t esize = dtype_size(m.dtype);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % esize == 0) {
    // Zero-copy: a view of the mapping, which the storage keeps alive.
    auto st = Storage::borrow(const_cast<std::byte*>(bytes.data()), bytes.size(), owner_);
    return Tensor::from_storage(std::move(st), t.shape, m.dtype);
  }
  Tensor out = Tensor::empty(t.shape, m.dtype);
  if (!bytes.empty()) std::memcpy(out.raw_data(), bytes.data(), bytes.size());
  return out;
}

Tensor SafetensorsFile::get(std::string_view name) const {
  const SafetensorsTensorInfo& t = info(name);
  const auto bytes = data(t);
  const std::int64_t n = shape_numel(t.shape);
  const std::byte* p = bytes.data();
  auto to_f32 = [&](auto&& decode) {
    Tensor out = Tensor::empty(t.shape);
    float* o = out.data<float>();
    for (std::int64_t i = 0; i < n; ++i) o[i] = decode(i);
    return out;
  };
  auto to_i64 = [&](auto&& decode) {
    Tensor out = Tensor::empty(t.shape, DType::I64);
    std::int64_t* o = out.data<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) o[i] = decode(i);
    return out;
  };
  switch (t.dtype) {
    case StDType::F32: return get_raw(name);
    case StDType::F64: return to_f32([&](std::int64_t i) { return static_cast<float>(load<double>(p + 8 * i)); });
    case StDType::F16: return to_f32([&](std::int64_t i) { return half_to_float(load<std::uint16_t>(p + 2 * i)); });
    case StDType::BF16: return to_f32([&](std::int64_t i) { return bf16_to_float(load<std::uint16_t>(p + 2 * i)); });
    case StDType::F8_E4M3: return to_f32([&](std::int64_t i) { return f8_e4m3_to_float(load<std::uint8_t>(p + i)); });
    case StDType::F8_E5M2: return to_f32([&](std::int64_t i) { return f8_e5m2_to_float(load<std::uint8_t>(p + i)); });
    case StDType::U8: return to_i64([&](std::int64_t i) { return std::int64_t{load<std::uint8_t>(p + i)}; });
    case StDType::I8: return to_i64([&](std::int64_t i) { return std::int64_t{load<std::int8_t>(p + i)}; });
    case StDType::I16: return to_i64([&](std::int64_t i) { return std::int64_t{load<std::int16_t>(p + 2 * i)}; });
    case StDType::U16: return to_i64([&](std::int64_t i) { return std::int64_t{load<std::uint16_t>(p + 2 * i)}; });
    case StDType::I32: return to_i64([&](std::int64_t i) { return std::int64_t{load<std::int32_t>(p + 4 * i)}; });
    case StDType::U32: return to_i64([&](std::int64_t i) { return std::int64_t{load<std::uint32_t>(p + 4 * i)}; });
    case StDType::I64: return get_raw(name);
    case StDType::U64:
      return to_i64([&](std::int64_t i) {
        const auto v = load<std::uint64_t>(p + 8 * i);
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          throw ValueError("tensor '" + t.name + "' in '" + origin_ + "': U64 value " + std::to_string(v) +
                           " does not fit in I64");
        return static_cast<std::int64_t>(v);
      });
    case StDType::BOOL: {
      Tensor out = Tensor::empty(t.shape, DType::BOOL);
      auto* o = static_cast<std::uint8_t*>(out.raw_data());
      for (std::int64_t i = 0; i < n; ++i) o[i] = load<std::uint8_t>(p + i) != 0 ? 1 : 0;
      return out;
    }
    case StDType::F8_E8M0:
    case StDType::C64:
    case StDType::F4:
    case StDType::F6_E2M3:
    case StDType::F6_E3M2:
      break;
  }
  throw UnsupportedError("tensor '" + t.name + "' in '" + origin_ + "' has dtype " +
                         std::string(st_dtype_name(t.dtype)) + ", which relprop does not load");
}

// ---- writing --------------------------------------------------------------------------

std::vector<std::byte> serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                             const std::map<std::string, std::string>& metadata) {
  std::vector<const std::pair<std::string, Tensor>*> order;
  std::set<std::string> names;
  for (const auto& item : tensors) {
    if (item.first.empty()) throw ValueError("safetensors: tensor names must not be empty");
    if (item.first == "__metadata__") throw ValueError("safetensors: '__metadata__' is reserved, not a tensor name");
    if (!names.insert(item.first).second)
      throw ValueError("safetensors: tensor '" + item.first + "' is given twice");
    if (!item.second.defined()) throw ValueError("safetensors: tensor '" + item.first + "' is undefined");
    if (item.second.device() != Device::CPU)
      throw UnsupportedError("safetensors: tensor '" + item.first + "' is not on the CPU");
    order.push_back(&item);
  }
  // Largest alignment first keeps every tensor aligned to its element size.
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    const auto sa = dtype_size(a->second.dtype()), sb = dtype_size(b->second.dtype());
    return sa != sb ? sa > sb : a->first < b->first;
  });
  json h = json::object();
  std::uint64_t offset = 0;
  for (const auto* item : order) {
    const Tensor& t = item->second;
    h[item->first] = {{"dtype", std::string(dtype_name(t.dtype()))},
                      {"shape", t.shape()},
                      {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::byte> out(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* p = out.data() + 8 + text.size();
  for (const auto* item : order) {
    const Tensor c = item->second.contiguous();
    if (c.nbytes()) std::memcpy(p, c.raw_data(), c.nbytes());
    p += c.nbytes();
  }
  return out;
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::vector<std::byte> bytes = serialize_safetensors(tensors, metadata);
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw IoError("cannot write '" + path.string() + "': " + std::strerror(errno));
  auto fail_io = [&](const char* what) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw IoError(std::string("cannot ") + what + " '" + path.string() + "': " + std::strerror(e));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_io("write");
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) fail_io("flush");
  (void)::fchmod(fd, 0644);  // mkstemp creates 0600; results are ordinary files
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmpl.c_str());
    throw IoError("cannot write '" + path.string() + "': " + std::strerror(e));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmpl.c_str());
    throw IoError("cannot replace '" + path.string() + "': " + std::strerror(e));
  }
}

}  // namespace relprop
