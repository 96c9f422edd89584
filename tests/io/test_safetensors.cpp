// safetensors: one test per rejected case (each its own typed error, checked by kind),
// the accepted edge cases, loading (zero-copy views and conversions), and the writer
// (layout, round trips, atomic replace). Malformed files are assembled byte for byte.

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "relprop/io/mmap.hpp"
#include "relprop/io/safetensors.hpp"

using namespace relprop;
using Kind = SafetensorsErrorKind;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::byte>;

Bytes u64_le(std::uint64_t v) {
  Bytes b(8);
  for (auto& x : b) {
    x = static_cast<std::byte>(v & 0xFF);
    v >>= 8;
  }
  return b;
}

// u64 N | header text | data, exactly as given, so malformed cases stay malformed.
Bytes file_with_length(std::uint64_t n, const std::string& header, const Bytes& data = {}) {
  Bytes f = u64_le(n);
  for (char c : header) f.push_back(static_cast<std::byte>(c));
  f.insert(f.end(), data.begin(), data.end());
  return f;
}
Bytes file(const std::string& header, const Bytes& data = {}) { return file_with_length(header.size(), header, data); }
// `n` data bytes with distinct values (1, 8, 15, ...).
Bytes filler(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 7 + 1);
  return b;
}
template <class T>
Bytes raw(std::initializer_list<T> values) {
  Bytes b(values.size() * sizeof(T));
  std::memcpy(b.data(), values.begin(), b.size());
  return b;
}
Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// "name":{"dtype":..,"shape":..,"data_offsets":..}
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}
std::string obj(std::initializer_list<std::string> entries) {
  std::string s = "{";
  for (const auto& e : entries) s += (s.size() > 1 ? "," : "") + e;
  return s + "}";
}

const std::string kOne = obj({entry("a", "F32", "[2]", "[0,8]")});

// The error's kind; fails the test when nothing (or something else) is thrown.
Kind kind_of(const Bytes& bytes) {
  try {
    parse_safetensors_header(bytes);
  } catch (const SafetensorsError& e) {
    CHECK(std::string(e.what()).size() > 0);
    return e.kind();
  }
  FAIL("expected a SafetensorsError");
  return Kind::InvalidJson;
}

std::string message_of(const Bytes& bytes) {
  try {
    parse_safetensors_header(bytes);
  } catch (const SafetensorsError& e) {
    return e.what();
  }
  return "";
}

#define CHECK_REJECTS(bytes, expected)                                 \
  do {                                                                 \
    const Bytes b_ = (bytes);                                          \
    CHECK_THROWS_AS(parse_safetensors_header(b_), SafetensorsError);   \
    const Kind k_ = kind_of(b_);                                       \
    CAPTURE(to_string(k_));                                            \
    CHECK(k_ == (expected));                                           \
  } while (0)

fs::path scratch_dir() {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_safetensors";
  fs::create_directories(dir);
  return dir;
}
fs::path scratch(const std::string& name) { return scratch_dir() / name; }

void write_file(const fs::path& p, const Bytes& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

bool points_into(const Tensor& t, std::span<const std::byte> bytes) {
  const auto* p = static_cast<const std::byte*>(t.raw_data());
  return std::less_equal<>()(bytes.data(), p) && std::less_equal<>()(p + t.nbytes(), bytes.data() + bytes.size());
}

}  // namespace

TEST_SUITE("io.safetensors") {
  // ---- rejected: the length prefix ------------------------------------------------------
  TEST_CASE("reject: file shorter than 8 bytes") {
    CHECK_REJECTS(Bytes(), Kind::FileTooSmall);
    CHECK_REJECTS(Bytes(7), Kind::FileTooSmall);
  }
  TEST_CASE("reject: header length 0") {
    CHECK_REJECTS(file_with_length(0, ""), Kind::HeaderLengthZero);
    CHECK_REJECTS(file_with_length(0, "{}"), Kind::HeaderLengthZero);
  }
  TEST_CASE("reject: 8 + N overflowing 64 bits (checked before the size limit)") {
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    CHECK_REJECTS(file_with_length(kMax, "{}"), Kind::HeaderLengthOverflow);
    CHECK_REJECTS(file_with_length(kMax - 7, "{}"), Kind::HeaderLengthOverflow);
    // One less no longer overflows; it is only too large.
    CHECK_REJECTS(file_with_length(kMax - 8, "{}"), Kind::HeaderTooLarge);
  }
  TEST_CASE("reject: header length above 100,000,000") {
    CHECK_REJECTS(file_with_length(100'000'001, "{}"), Kind::HeaderTooLarge);
    // At the limit it is allowed, and so fails only for running past this small file.
    CHECK_REJECTS(file_with_length(100'000'000, "{}"), Kind::HeaderLengthExceedsFile);
  }
  TEST_CASE("reject: header length larger than the file") {
    CHECK_REJECTS(file_with_length(3, "{}"), Kind::HeaderLengthExceedsFile);
    CHECK_REJECTS(file_with_length(64, kOne), Kind::HeaderLengthExceedsFile);
  }

  // ---- rejected: the header text ---------------------------------------------------------
  TEST_CASE("reject: header not UTF-8 (checked before JSON)") {
    CHECK_REJECTS(file("{\"\xff\":1}"), Kind::HeaderNotUtf8);              // never valid
    CHECK_REJECTS(file("{\"\x80\":1}"), Kind::HeaderNotUtf8);              // lone continuation
    CHECK_REJECTS(file("{\"\xc0\xaf\":1}"), Kind::HeaderNotUtf8);          // overlong '/'
    CHECK_REJECTS(file("{\"\xe0\x80\xaf\":1}"), Kind::HeaderNotUtf8);      // overlong, 3 bytes
    CHECK_REJECTS(file("{\"\xf0\x80\x80\xaf\":1}"), Kind::HeaderNotUtf8);  // overlong, 4 bytes
    CHECK_REJECTS(file("{\"\xed\xa0\x80\":1}"), Kind::HeaderNotUtf8);      // surrogate U+D800
    CHECK_REJECTS(file("{\"\xf4\x90\x80\x80\":1}"), Kind::HeaderNotUtf8);  // above U+10FFFF
    CHECK_REJECTS(file("{\"\xe2\x82\":1}"), Kind::HeaderNotUtf8);          // truncated, mid-text
    CHECK_REJECTS(file("{}\xe2\x82"), Kind::HeaderNotUtf8);                // truncated at the end
    // Invalid JSON that is valid UTF-8 is the JSON error, not this one.
    CHECK_REJECTS(file("{\xc3\xa9}"), Kind::InvalidJson);
  }
  TEST_CASE("reject: invalid JSON syntax") {
    CHECK_REJECTS(file("{\"a\":"), Kind::InvalidJson);
    CHECK_REJECTS(file("{,}"), Kind::InvalidJson);
    CHECK_REJECTS(file("{}{}"), Kind::InvalidJson);    // trailing content
    CHECK_REJECTS(file("{'a':1}"), Kind::InvalidJson);  // single quotes
    // The JSON library stops at a NUL byte; what follows must not be ignored.
    CHECK_REJECTS(file(std::string("{}\0", 3)), Kind::InvalidJson);
    CHECK_REJECTS(file(std::string("{}\0{\"a\":1}", 10)), Kind::InvalidJson);
    CHECK_REJECTS(file(std::string("{\"a\0\":1}", 8)), Kind::InvalidJson);
    CHECK_REJECTS(file("{\"a\":\"\\ud800\"}"), Kind::InvalidJson);  // escaped lone surrogate
  }
  TEST_CASE("reject: JSON nested deeper than any header") {
    const std::string deep = std::string(40, '[') + std::string(40, ']');
    CHECK_REJECTS(file("{\"__metadata__\":" + deep + "}"), Kind::NestingTooDeep);
    // Deep nesting is refused even where the text later turns invalid.
    CHECK_REJECTS(file("{\"a\":" + std::string(100000, '[')), Kind::NestingTooDeep);
  }
  TEST_CASE("reject: JSON that is not an object") {
    CHECK_REJECTS(file("[1,2]"), Kind::HeaderNotObject);
    CHECK_REJECTS(file("\"text\""), Kind::HeaderNotObject);
    CHECK_REJECTS(file("3"), Kind::HeaderNotObject);
    CHECK_REJECTS(file("null"), Kind::HeaderNotObject);
  }
  TEST_CASE("reject: duplicate tensor names (the JSON library would keep the last)") {
    const Bytes b = file(obj({entry("a", "F32", "[1]", "[0,4]"), entry("a", "F32", "[1]", "[4,8]")}), filler(8));
    CHECK_REJECTS(b, Kind::DuplicateName);
    CHECK(message_of(b).find("'a'") != std::string::npos);
    CHECK_REJECTS(file(R"({"__metadata__":{},"__metadata__":{}})"), Kind::DuplicateName);
  }
  TEST_CASE("reject: duplicate keys inside an entry or __metadata__") {
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})", filler(4)),
                  Kind::DuplicateKey);
    CHECK_REJECTS(file(R"({"__metadata__":{"k":"1","k":"2"}})"), Kind::DuplicateKey);
  }

  // ---- rejected: __metadata__ ------------------------------------------------------------
  TEST_CASE("reject: a tensor entry named __metadata__") {
    CHECK_REJECTS(file(obj({entry("__metadata__", "F32", "[1]", "[0,4]")}), filler(4)), Kind::MetadataNameAsTensor);
    CHECK_REJECTS(file(R"({"__metadata__":{"shape":[0],"data_offsets":[0,0]}})"), Kind::MetadataNameAsTensor);
  }
  TEST_CASE("reject: __metadata__ that is not an object") {
    CHECK_REJECTS(file(R"({"__metadata__":"v1"})"), Kind::MetadataNotObject);
    CHECK_REJECTS(file(R"({"__metadata__":["a","b"]})"), Kind::MetadataNotObject);
    CHECK_REJECTS(file(R"({"__metadata__":null})"), Kind::MetadataNotObject);
  }
  TEST_CASE("reject: __metadata__ values that are not strings") {
    CHECK_REJECTS(file(R"({"__metadata__":{"epoch":3}})"), Kind::MetadataValueNotString);
    CHECK_REJECTS(file(R"({"__metadata__":{"ok":"x","nested":{"a":"b"}}})"), Kind::MetadataValueNotString);
    CHECK_REJECTS(file(R"({"__metadata__":{"flag":true}})"), Kind::MetadataValueNotString);
  }

  // ---- rejected: one entry ---------------------------------------------------------------
  TEST_CASE("reject: entry not an object") {
    CHECK_REJECTS(file(R"({"a":[1,2]})"), Kind::EntryNotObject);
    CHECK_REJECTS(file(R"({"a":"F32"})"), Kind::EntryNotObject);
  }
  TEST_CASE("reject: missing dtype") {
    const Bytes b = file(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", filler(4));
    CHECK_REJECTS(b, Kind::MissingDtype);
    CHECK(message_of(b).find("'w'") != std::string::npos);
  }
  TEST_CASE("reject: dtype that is not a string") {
    CHECK_REJECTS(file(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", filler(4)), Kind::DtypeNotString);
    CHECK_REJECTS(file(R"({"a":{"dtype":["F32"],"shape":[1],"data_offsets":[0,4]}})", filler(4)), Kind::DtypeNotString);
  }
  TEST_CASE("reject: unknown dtype") {
    CHECK_REJECTS(file(obj({entry("a", "F33", "[1]", "[0,4]")}), filler(4)), Kind::UnknownDtype);
    CHECK_REJECTS(file(obj({entry("a", "f32", "[1]", "[0,4]")}), filler(4)), Kind::UnknownDtype);  // case matters
    CHECK_REJECTS(file(obj({entry("a", "", "[1]", "[0,4]")}), filler(4)), Kind::UnknownDtype);
  }
  TEST_CASE("reject: missing shape") {
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", filler(4)), Kind::MissingShape);
  }
  TEST_CASE("reject: shape that is not a list") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "\"1\"", "[0,4]")}), filler(4)), Kind::ShapeNotArray);
    CHECK_REJECTS(file(obj({entry("a", "F32", "1", "[0,4]")}), filler(4)), Kind::ShapeNotArray);
    CHECK_REJECTS(file(obj({entry("a", "F32", "{}", "[0,4]")}), filler(4)), Kind::ShapeNotArray);
  }
  TEST_CASE("reject: rank above 8") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]")}), filler(4)), Kind::RankTooLarge);
    // Rank 8 itself is fine.
    CHECK(parse_safetensors_header(file(obj({entry("a", "F32", "[1,1,1,1,1,1,1,1]", "[0,4]")}), filler(4)))
              .tensors[0]
              .shape.size() == 8);
  }
  TEST_CASE("reject: missing data_offsets") {
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","shape":[1]}})", filler(4)), Kind::MissingDataOffsets);
  }
  TEST_CASE("reject: data_offsets that is not a list") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", "4")}), filler(4)), Kind::DataOffsetsNotArray);
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", "{\"begin\":0}")}), filler(4)), Kind::DataOffsetsNotArray);
  }
  TEST_CASE("reject: data_offsets without exactly 2 elements") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", "[0,4,8]")}), filler(4)), Kind::DataOffsetsNotPair);
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", "[4]")}), filler(4)), Kind::DataOffsetsNotPair);
    CHECK_REJECTS(file(obj({entry("a", "F32", "[0]", "[]")})), Kind::DataOffsetsNotPair);
  }
  TEST_CASE("reject: negative or non-integer numbers in shape or offsets") {
    for (const char* bad : {"-1", "-0", "1.0", "1e0", "1E3", "0.5", "\"1\"", "null", "true", "[1]"}) {
      CAPTURE(bad);
      CHECK_REJECTS(file(obj({entry("a", "F32", std::string("[") + bad + "]", "[0,4]")}), filler(4)),
                    Kind::NotNonNegativeInteger);
      CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", std::string("[0,") + bad + "]")}), filler(4)),
                    Kind::NotNonNegativeInteger);
      CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", std::string("[") + bad + ",4]")}), filler(4)),
                    Kind::NotNonNegativeInteger);
    }
    // Beyond 64 bits the JSON library reads a float: refused the same way.
    CHECK_REJECTS(file(obj({entry("a", "U8", "[0]", "[0,18446744073709551616]")})), Kind::NotNonNegativeInteger);
  }
  TEST_CASE("reject: a dimension of 2^48 or more") {
    CHECK_REJECTS(file(obj({entry("a", "U8", "[281474976710656]", "[0,1]")}), filler(1)), Kind::DimensionTooLarge);
    CHECK_REJECTS(file(obj({entry("a", "U8", "[0,18446744073709551615]", "[0,0]")})), Kind::DimensionTooLarge);
  }
  TEST_CASE("reject: an offset of 2^48 or more") {
    CHECK_REJECTS(file(obj({entry("a", "U8", "[0]", "[281474976710656,281474976710656]")})), Kind::OffsetTooLarge);
    CHECK_REJECTS(file(obj({entry("a", "U8", "[1]", "[0,281474976710656]")}), filler(1)), Kind::OffsetTooLarge);
  }
  TEST_CASE("reject: unknown keys in an entry") {
    const Bytes b = file(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"offset":1}})", filler(4));
    CHECK_REJECTS(b, Kind::UnknownEntryKey);
    CHECK(message_of(b).find("'offset'") != std::string::npos);
  }
  TEST_CASE("reject: END < BEGIN") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[0]", "[4,0]")}), filler(4)), Kind::EndBeforeBegin);
  }
  TEST_CASE("reject: shape product overflow") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[281474976710655,281474976710655]", "[0,4]")}), filler(4)),
                  Kind::ShapeOverflow);
    // Also with a zero dimension: the element count is 0, but the strides would overflow.
    CHECK_REJECTS(file(obj({entry("a", "F32", "[0,281474976710655,281474976710655]", "[0,0]")})),
                  Kind::ShapeOverflow);
  }
  TEST_CASE("reject: bit size overflow") {
    // 2^47 * 2^15 = 2^62 elements fit in I64, but 2^62 * 64 bits do not fit in 64 bits.
    CHECK_REJECTS(file(obj({entry("a", "F64", "[140737488355328,32768]", "[0,8]")}), filler(8)),
                  Kind::BitSizeOverflow);
    // 2^61 elements of 8 bits are 2^64 bits: just over.
    CHECK_REJECTS(file(obj({entry("a", "U8", "[140737488355328,16384]", "[0,8]")}), filler(8)),
                  Kind::BitSizeOverflow);
  }
  TEST_CASE("reject: a size that is not a whole number of bytes") {
    CHECK_REJECTS(file(obj({entry("a", "F4", "[3]", "[0,2]")}), filler(2)), Kind::FractionalByteSize);
    CHECK_REJECTS(file(obj({entry("a", "F6_E2M3", "[2]", "[0,2]")}), filler(2)), Kind::FractionalByteSize);
    CHECK_REJECTS(file(obj({entry("a", "F6_E3M2", "[3,1]", "[0,3]")}), filler(3)), Kind::FractionalByteSize);
  }
  TEST_CASE("reject: END - BEGIN differs from the shape's byte size") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[3]", "[0,8]")}), filler(8)), Kind::SizeMismatch);
    CHECK_REJECTS(file(obj({entry("a", "BF16", "[2]", "[0,8]")}), filler(8)), Kind::SizeMismatch);
    CHECK_REJECTS(file(obj({entry("a", "F32", "[]", "[0,0]")})), Kind::SizeMismatch);  // a scalar has 1 element
    CHECK_REJECTS(file(obj({entry("a", "F4", "[4]", "[0,4]")}), filler(4)), Kind::SizeMismatch);
  }

  // ---- rejected: the data section ----------------------------------------------------------
  TEST_CASE("reject: gap at the start of the data section") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", "[4,8]")}), filler(8)), Kind::GapAtStart);
    // An empty tensor at 0 covers nothing: the gap is still at the start.
    CHECK_REJECTS(file(obj({entry("z", "F32", "[0]", "[0,0]"), entry("a", "F32", "[1]", "[4,8]")}), filler(8)),
                  Kind::GapAtStart);
  }
  TEST_CASE("reject: gap between tensors") {
    const Bytes b = file(obj({entry("a", "F32", "[1]", "[0,4]"), entry("b", "F32", "[1]", "[8,12]")}), filler(12));
    CHECK_REJECTS(b, Kind::GapBetweenTensors);
    CHECK(message_of(b).find("[4, 8)") != std::string::npos);
    // An empty tensor beyond the end of the others also leaves a gap.
    CHECK_REJECTS(file(obj({entry("a", "F32", "[1]", "[0,4]"), entry("z", "F32", "[0]", "[8,8]")}), filler(4)),
                  Kind::GapBetweenTensors);
  }
  TEST_CASE("reject: overlapping tensors") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[2]", "[0,8]"), entry("b", "F32", "[2]", "[4,12]")}), filler(12)),
                  Kind::OverlappingTensors);
    // Same start, different lengths.
    CHECK_REJECTS(file(obj({entry("a", "F32", "[2]", "[0,8]"), entry("b", "F32", "[1]", "[0,4]")}), filler(8)),
                  Kind::OverlappingTensors);
    // A zero-size tensor inside another's bytes overlaps it too.
    CHECK_REJECTS(file(obj({entry("a", "F32", "[2]", "[0,8]"), entry("z", "F32", "[0]", "[4,4]")}), filler(8)),
                  Kind::OverlappingTensors);
  }
  TEST_CASE("reject: several tensors aliasing one non-empty range") {
    CHECK_REJECTS(file(obj({entry("a", "F32", "[2]", "[0,8]"), entry("b", "F32", "[2]", "[0,8]")}), filler(8)),
                  Kind::AliasedTensors);
    CHECK_REJECTS(file(obj({entry("a", "F32", "[2]", "[0,8]"), entry("b", "I32", "[2]", "[0,8]"),
                            entry("c", "U8", "[8]", "[0,8]")}),
                       filler(8)),
                  Kind::AliasedTensors);
  }
  TEST_CASE("reject: trailing bytes after the last tensor") {
    CHECK_REJECTS(file(kOne, filler(9)), Kind::TrailingBytes);
    CHECK_REJECTS(file("{}", filler(1)), Kind::TrailingBytes);
  }
  TEST_CASE("reject: missing bytes (truncated data)") {
    CHECK_REJECTS(file(kOne, filler(7)), Kind::MissingBytes);
    CHECK_REJECTS(file(kOne), Kind::MissingBytes);
  }

  TEST_CASE("every kind has its own description") {
    std::set<std::string_view> seen;
    for (int k = 0; k <= static_cast<int>(Kind::MissingBytes); ++k) {
      const auto s = to_string(static_cast<Kind>(k));
      CHECK(s != "?");
      CHECK(seen.insert(s).second);
    }
  }

  TEST_CASE("errors from a file name the file; unreadable files are IoErrors") {
    const fs::path p = scratch("trailing.safetensors");
    write_file(p, file(kOne, filler(9)));
    try {
      (void)SafetensorsFile::open(p);
      FAIL("expected a SafetensorsError");
    } catch (const SafetensorsError& e) {
      CHECK(e.kind() == Kind::TrailingBytes);
      CHECK(std::string(e.what()).rfind(p.string() + ": ", 0) == 0);
    }
    try {
      (void)SafetensorsFile::from_bytes(file("[]"), "weights.bin");
      FAIL("expected a SafetensorsError");
    } catch (const SafetensorsError& e) {
      CHECK(e.kind() == Kind::HeaderNotObject);
      CHECK(std::string(e.what()).rfind("weights.bin: ", 0) == 0);
    }
    const fs::path missing = scratch("does-not-exist.safetensors");
    CHECK_THROWS_AS((void)SafetensorsFile::open(missing), IoError);
    try {
      (void)SafetensorsFile::open(missing);
    } catch (const IoError& e) {
      CHECK(std::string(e.what()).find(missing.string()) != std::string::npos);
      CHECK(std::string(e.what()).find("No such file") != std::string::npos);
    }
    CHECK_THROWS_AS((void)SafetensorsFile::open(scratch_dir()), IoError);  // a directory
    // An empty file maps to nothing and is simply too small.
    write_file(scratch("empty.safetensors"), {});
    try {
      (void)SafetensorsFile::open(scratch("empty.safetensors"));
      FAIL("expected a SafetensorsError");
    } catch (const SafetensorsError& e) {
      CHECK(e.kind() == Kind::FileTooSmall);
    }
  }

  // ---- accepted ---------------------------------------------------------------------------
  TEST_CASE("accept: empty header {}") {
    const auto h = parse_safetensors_header(file("{}"));
    CHECK(h.header_size == 2);
    CHECK(h.data_offset == 10);
    CHECK(h.tensors.empty());
    CHECK(h.metadata.empty());
    const auto f = SafetensorsFile::from_bytes(file("{}"));
    CHECK(f.names().empty());
    CHECK(!f.contains("a"));
  }
  TEST_CASE("accept: whitespace padding before and after the JSON") {
    const auto h = parse_safetensors_header(file(" \t\n\r" + kOne + "   \n\t ", filler(8)));
    REQUIRE(h.tensors.size() == 1);
    CHECK(h.tensors[0].shape == Shape{2});
    CHECK(h.header_size == kOne.size() + 10);
    CHECK(parse_safetensors_header(file("{}      ")).tensors.empty());
  }
  TEST_CASE("accept: zero-size tensors, several at one offset") {
    const Bytes b = file(obj({entry("z1", "F32", "[0,3]", "[0,0]"), entry("z2", "I64", "[0]", "[0,0]"),
                              entry("a", "F32", "[1]", "[0,4]"), entry("z3", "F32", "[2,0]", "[4,4]"),
                              entry("z4", "U8", "[0,281474976710655]", "[4,4]")}),
                         raw<float>({6.5f}));
    const auto h = parse_safetensors_header(b);
    CHECK(h.tensors.size() == 5);
    const auto f = SafetensorsFile::from_bytes(b);
    CHECK(f.get("z1").shape() == Shape{0, 3});
    CHECK(f.get("z1").numel() == 0);
    CHECK(f.get("z2").dtype() == DType::I64);
    CHECK(f.get("z3").shape() == Shape{2, 0});
    CHECK(f.get("z4").numel() == 0);
    CHECK(f.get("a").item() == 6.5);
    // A file of nothing but empty tensors has an empty data section.
    CHECK(parse_safetensors_header(file(obj({entry("e", "BF16", "[0]", "[0,0]")}))).tensors.size() == 1);
  }
  TEST_CASE("accept: rank-0 scalars") {
    const auto f = SafetensorsFile::from_bytes(file(obj({entry("s", "F64", "[]", "[0,8]")}), raw<double>({-2.25})));
    const Tensor s = f.get("s");
    CHECK(s.dim() == 0);
    CHECK(s.numel() == 1);
    CHECK(s.dtype() == DType::F32);
    CHECK(s.item() == -2.25);
    CHECK(f.get_raw("s").dtype() == DType::F64);
  }
  TEST_CASE("accept: entries in any order") {
    const Bytes b = file(obj({entry("second", "F32", "[1]", "[4,8]"), entry("first", "F32", "[1]", "[0,4]")}),
                         raw<float>({1.f, 2.f}));
    const auto h = parse_safetensors_header(b);
    REQUIRE(h.tensors.size() == 2);
    CHECK(h.tensors[0].name == "first");  // by offset
    CHECK(h.tensors[1].begin == 4);
    const auto f = SafetensorsFile::from_bytes(b);
    CHECK(f.get("first").item() == 1.0);
    CHECK(f.get("second").item() == 2.0);
  }
  TEST_CASE("accept: unaligned data, copied on load with the right values") {
    // A U8 first puts the F32 at data offset 1: misaligned for 4-byte floats.
    const Bytes b = file(obj({entry("u", "U8", "[1]", "[0,1]"), entry("f", "F32", "[2]", "[1,9]"),
                              entry("i", "I64", "[1]", "[9,17]")}),
                         concat({Bytes{std::byte{200}}, raw<float>({1.5f, -2.0f}), raw<std::int64_t>({-5})}));
    const auto f = SafetensorsFile::from_bytes(b);
    const Tensor t = f.get("f");
    CHECK(t.to_vector() == std::vector<float>{1.5f, -2.0f});
    CHECK(t.storage()->owned());  // a copy
    CHECK(reinterpret_cast<std::uintptr_t>(t.raw_data()) % alignof(float) == 0);
    CHECK(f.get("i").item() == -5.0);
    CHECK(f.get_raw("i").storage()->owned());
    CHECK(f.get("u").item() == 200.0);
  }
  TEST_CASE("accept: metadata of strings, and names in any UTF-8") {
    const auto f = SafetensorsFile::from_bytes(
        file(R"({"__metadata__":{"format":"pt","note":"caf\u00e9"},)" +
                 entry("\xc3\xa9t\xc3\xa9\xf0\x9f\x98\x80", "U8", "[1]", "[0,1]") + "}",
             filler(1)));
    CHECK(f.metadata().size() == 2);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.metadata().at("note") == "caf\xc3\xa9");
    CHECK(f.contains("\xc3\xa9t\xc3\xa9\xf0\x9f\x98\x80"));
    // __metadata__ alone, and an all-string object that merely uses tensor-like keys.
    CHECK(parse_safetensors_header(file(R"({"__metadata__":{"dtype":"F32"}})")).metadata.at("dtype") == "F32");
  }
  TEST_CASE("accept: sub-byte dtypes whose size is whole bytes (parsed, not loaded)") {
    const auto f = SafetensorsFile::from_bytes(
        file(obj({entry("q4", "F4", "[2]", "[0,1]"), entry("q6", "F6_E2M3", "[4]", "[1,4]")}), filler(4)));
    CHECK(f.info("q4").dtype == StDType::F4);
    CHECK(f.info("q6").end == 4);
    CHECK_THROWS_AS(f.get("q4"), UnsupportedError);
    CHECK_THROWS_AS(f.get_raw("q6"), UnsupportedError);
  }

  // ---- loading ----------------------------------------------------------------------------
  TEST_CASE("release_pages: contents unchanged, a caller's changes kept, unknown names ignored") {
    const fs::path p = scratch("release.safetensors");
    std::vector<float> big(3 * 4096);  // several pages
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.5f;
    save_safetensors(p, {{"big", Tensor::from_vector(std::span<const float>(big), {3, 4096})},
                         {"small", Tensor::from_vector({7.f}, {1})}});
    const auto f = SafetensorsFile::open(p);
    Tensor v = f.get("big");
    REQUIRE(points_into(v, f.bytes()));
    v.data<float>()[5000] = -1.f;  // a caller's change to its (copy-on-write) view
    f.release_pages("big");
    f.release_pages("small");
    f.release_pages("not there");
    std::vector<float> want = big;
    want[5000] = -1.f;
    CHECK(v.to_vector() == want);
    CHECK(f.get("small").to_vector() == std::vector<float>{7.f});
    const auto mem = SafetensorsFile::from_bytes(serialize_safetensors({{"x", Tensor::full({2}, 3.0)}}));
    mem.release_pages("x");  // in memory: nothing to do
    CHECK(mem.get("x").to_vector() == std::vector<float>{3.f, 3.f});
  }

  TEST_CASE("aligned F32 is a zero-copy view of the mapping") {
    const fs::path p = scratch("aligned.safetensors");
    save_safetensors(p, {{"w", Tensor::from_vector({1.f, 2.f, 3.f, 4.f}, {2, 2})},
                         {"b", Tensor::from_vector({5.f}, {1})}});
    const auto f = SafetensorsFile::open(p);
    const Tensor w = f.get("w");
    CHECK(!w.storage()->owned());
    CHECK(points_into(w, f.bytes()));
    CHECK(static_cast<const std::byte*>(w.raw_data()) == f.bytes().data() + f.header().data_offset + f.info("w").begin);
    CHECK(w.to_vector() == std::vector<float>{1.f, 2.f, 3.f, 4.f});
    CHECK(f.get_raw("w").raw_data() == w.raw_data());
    // The view outlives the file object: the storage holds the mapping.
    Tensor b;
    {
      const auto inner = SafetensorsFile::open(p);
      b = inner.get("b");
    }
    CHECK(b.item() == 5.0);
  }
  TEST_CASE("from_bytes: aligned tensors are views of the given bytes") {
    Bytes b = serialize_safetensors({{"x", Tensor::from_vector({7.f, 8.f}, {2})},
                                     {"n", Tensor::from_vector(std::vector<std::int64_t>{3, -4}, {2})}});
    const std::byte* base = b.data();  // a moved vector keeps its buffer
    const auto f = SafetensorsFile::from_bytes(std::move(b));
    CHECK(f.bytes().data() == base);
    const Tensor x = f.get("x"), n = f.get("n");
    CHECK(points_into(x, f.bytes()));
    CHECK(points_into(n, f.bytes()));
    CHECK(x.to_vector() == std::vector<float>{7.f, 8.f});
    CHECK(n.to_vector_f64() == std::vector<double>{3.0, -4.0});
  }
  TEST_CASE("F16 and BF16 convert to F32 exactly") {
    const Bytes b = file(obj({entry("h", "F16", "[7]", "[0,14]"), entry("b", "BF16", "[5]", "[14,24]")}),
                         concat({raw<std::uint16_t>({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x7C00, 0x8000}),
                                 raw<std::uint16_t>({0x3F80, 0xC0A0, 0x3EAB, 0xFF80, 0x0001})}));
    const auto f = SafetensorsFile::from_bytes(b);
    const Tensor h = f.get("h");
    CHECK(h.dtype() == DType::F32);
    const auto hv = h.to_vector();
    CHECK(hv[0] == 1.0f);
    CHECK(hv[1] == -2.0f);
    CHECK(hv[2] == 65504.0f);
    CHECK(hv[3] == std::ldexp(1.0f, -24));  // smallest subnormal
    CHECK(hv[4] == 0.333251953125f);
    CHECK(hv[5] == std::numeric_limits<float>::infinity());
    CHECK((hv[6] == 0.0f && std::signbit(hv[6])));
    const auto bv = f.get("b").to_vector();
    CHECK(bv[0] == 1.0f);
    CHECK(bv[1] == -5.0f);
    CHECK(bv[2] == 0.333984375f);
    CHECK(bv[3] == -std::numeric_limits<float>::infinity());
    CHECK(bv[4] == std::bit_cast<float>(std::uint32_t{0x00010000}));
    // get_raw keeps the 16-bit types.
    CHECK(f.get_raw("h").dtype() == DType::F16);
    CHECK(f.get_raw("b").dtype() == DType::BF16);
    CHECK(f.get_raw("b").get({1}) == -5.0);
  }
  TEST_CASE("FP8 decodes to F32") {
    const Bytes b = file(obj({entry("e4", "F8_E4M3", "[5]", "[0,5]"), entry("e5", "F8_E5M2", "[3]", "[5,8]")}),
                         Bytes{std::byte{0x38}, std::byte{0xC4}, std::byte{0x01}, std::byte{0x7E}, std::byte{0x7F},
                               std::byte{0x3C}, std::byte{0xC2}, std::byte{0x7C}});
    const auto f = SafetensorsFile::from_bytes(b);
    const auto e4 = f.get("e4").to_vector();
    CHECK(e4[0] == 1.0f);
    CHECK(e4[1] == -3.0f);                     // sign, exponent 8, mantissa 4: -1.5 * 2
    CHECK(e4[2] == std::ldexp(1.0f, -9));      // smallest subnormal
    CHECK(e4[3] == 448.0f);                    // largest finite
    CHECK(std::isnan(e4[4]));                  // the NaN encoding
    CHECK(f.get("e5").to_vector() == std::vector<float>{1.0f, -3.0f, std::numeric_limits<float>::infinity()});
  }
  TEST_CASE("integers load as I64 ids") {
    const Bytes b = file(obj({entry("i64", "I64", "[1]", "[0,8]"), entry("u64", "U64", "[1]", "[8,16]"),
                              entry("i32", "I32", "[1]", "[16,20]"), entry("u32", "U32", "[1]", "[20,24]"),
                              entry("i16", "I16", "[1]", "[24,26]"), entry("u16", "U16", "[1]", "[26,28]"),
                              entry("i8", "I8", "[2]", "[28,30]"), entry("u8", "U8", "[2]", "[30,32]")}),
                         concat({raw<std::int64_t>({std::numeric_limits<std::int64_t>::min()}),
                                 raw<std::uint64_t>({std::uint64_t{1} << 62}), raw<std::int32_t>({-2147483647 - 1}),
                                 raw<std::uint32_t>({4294967295u}), raw<std::int16_t>({-32768}),
                                 raw<std::uint16_t>({65535}), raw<std::int8_t>({-128, 127}),
                                 raw<std::uint8_t>({0, 255})}));
    const auto f = SafetensorsFile::from_bytes(b);
    for (const auto& n : f.names()) {
      CAPTURE(n);
      CHECK(f.get(n).dtype() == DType::I64);
    }
    CHECK(f.get("i64").data<std::int64_t>()[0] == std::numeric_limits<std::int64_t>::min());
    CHECK(f.get("u64").data<std::int64_t>()[0] == std::int64_t{1} << 62);
    CHECK(f.get("i32").data<std::int64_t>()[0] == -2147483648LL);
    CHECK(f.get("u32").data<std::int64_t>()[0] == 4294967295LL);
    CHECK(f.get("i16").data<std::int64_t>()[0] == -32768);
    CHECK(f.get("u16").data<std::int64_t>()[0] == 65535);
    CHECK(f.get("i8").to_vector_f64() == std::vector<double>{-128, 127});
    CHECK(f.get("u8").to_vector_f64() == std::vector<double>{0, 255});
    // get_raw keeps I32 and U8, and refuses the types relprop lacks.
    CHECK(f.get_raw("i32").dtype() == DType::I32);
    CHECK(f.get_raw("u8").dtype() == DType::U8);
    CHECK_THROWS_AS(f.get_raw("u16"), UnsupportedError);
  }
  TEST_CASE("U64 values above INT64_MAX are a ValueError") {
    const auto f = SafetensorsFile::from_bytes(
        file(obj({entry("big", "U64", "[2]", "[0,16]")}), raw<std::uint64_t>({1, std::uint64_t{1} << 63})), "ids.st");
    try {
      (void)f.get("big");
      FAIL("expected a ValueError");
    } catch (const ValueError& e) {
      CHECK(std::string(e.what()).find("'big'") != std::string::npos);
      CHECK(std::string(e.what()).find("9223372036854775808") != std::string::npos);
    }
  }
  TEST_CASE("BOOL loads as BOOL; bytes other than 0/1 read as true") {
    const auto f = SafetensorsFile::from_bytes(
        file(obj({entry("m", "BOOL", "[4]", "[0,4]"), entry("ok", "BOOL", "[2]", "[4,6]")}),
             Bytes{std::byte{0}, std::byte{1}, std::byte{2}, std::byte{255}, std::byte{1}, std::byte{0}}));
    const Tensor m = f.get("m");
    CHECK(m.dtype() == DType::BOOL);
    CHECK(m.to_vector_f64() == std::vector<double>{0, 1, 1, 1});
    CHECK(static_cast<const std::uint8_t*>(m.raw_data())[3] == 1);  // normalised copy
    const Tensor ok = f.get_raw("ok");
    CHECK(!ok.storage()->owned());  // valid bytes stay a view
    CHECK(ok.to_vector_f64() == std::vector<double>{1, 0});
  }
  TEST_CASE("dtypes relprop does not load are refused by tensor and dtype") {
    const auto f = SafetensorsFile::from_bytes(
        file(obj({entry("c", "C64", "[1]", "[0,8]"), entry("e8", "F8_E8M0", "[1]", "[8,9]")}), filler(9)), "q.st");
    for (const char* n : {"c", "e8"}) {
      CAPTURE(n);
      CHECK_THROWS_AS(f.get(n), UnsupportedError);
      CHECK_THROWS_AS(f.get_raw(n), UnsupportedError);
    }
    try {
      (void)f.get("c");
    } catch (const UnsupportedError& e) {
      const std::string m = e.what();
      CHECK(m.find("'c'") != std::string::npos);
      CHECK(m.find("C64") != std::string::npos);
      CHECK(m.find("q.st") != std::string::npos);
    }
  }
  TEST_CASE("unknown names are a NotFoundError naming the tensor, the file and some names") {
    std::vector<std::pair<std::string, Tensor>> ts;
    for (int i = 0; i < 12; ++i) ts.emplace_back("t" + std::to_string(100 + i), Tensor::zeros({1}));
    const auto f = SafetensorsFile::from_bytes(serialize_safetensors(ts), "many.safetensors");
    CHECK_THROWS_AS(f.get("nope"), NotFoundError);
    CHECK_THROWS_AS(f.info("nope"), NotFoundError);
    try {
      (void)f.get("nope");
    } catch (const NotFoundError& e) {
      const std::string m = e.what();
      CHECK(m.find("'nope'") != std::string::npos);
      CHECK(m.find("many.safetensors") != std::string::npos);
      CHECK(m.find("t100") != std::string::npos);
      CHECK(m.find("t109") != std::string::npos);
      CHECK(m.find("t111") == std::string::npos);  // only the first 10
      CHECK(m.find("12 in all") != std::string::npos);
    }
    const auto empty = SafetensorsFile::from_bytes(file("{}"));
    CHECK_THROWS_AS(empty.get("x"), NotFoundError);
  }

  // ---- writing ----------------------------------------------------------------------------
  TEST_CASE("round trip: every relprop dtype, non-contiguous, zero-size and rank-0") {
    const Tensor base = Tensor::from_vector({1.f, -2.5f, 3.f, 4.f, 0.f, 6.f}, {2, 3});
    const std::vector<std::pair<std::string, Tensor>> ts = {
        {"f32_t", base.transpose(0, 1)},                   // non-contiguous
        {"f32_s", base.slice(1, 0, 3, 2)},                 // strided slice
        {"f64", base.to(DType::F64)},
        {"f16", base.to(DType::F16).transpose(0, 1)},
        {"bf16", base.to(DType::BF16)},
        {"i32", base.to(DType::I32)},
        {"i64", base.to(DType::I64).transpose(0, 1)},
        {"u8", Tensor::from_vector({0.f, 7.f, 255.f}, {3}).to(DType::U8)},
        {"bool", base.to(DType::BOOL)},
        {"empty", Tensor::zeros({0, 4})},
        {"empty_i64", Tensor::zeros({3, 0}, DType::I64)},
        {"scalar", Tensor::scalar(7.5)},
        {"scalar_f64", Tensor::scalar(-1.25, DType::F64)},
    };
    const auto f = SafetensorsFile::from_bytes(serialize_safetensors(ts, {{"k", "v"}, {"producer", "test"}}));
    CHECK(f.metadata() == std::map<std::string, std::string>{{"k", "v"}, {"producer", "test"}});
    CHECK(f.names().size() == ts.size());
    for (const auto& item : ts) {
      const std::string& name = item.first;  // not a structured binding: CAPTURE is a lambda
      const Tensor& t = item.second;
      CAPTURE(name);
      const Tensor r = f.get_raw(name);
      CHECK(r.dtype() == t.dtype());
      CHECK(r.shape() == t.shape());
      CHECK(r.to_vector_f64() == t.to_vector_f64());
      // get() gives the documented compute dtypes with the same values.
      const Tensor g = f.get(name);
      CHECK(g.to_vector_f64() == t.to_vector_f64());
      CHECK(g.dtype() == (is_floating(t.dtype()) ? DType::F32 : t.dtype() == DType::BOOL ? DType::BOOL : DType::I64));
    }
    CHECK(f.get("f32_t").to_vector() == std::vector<float>{1.f, 4.f, -2.5f, 0.f, 3.f, 6.f});
    CHECK(f.get("f32_s").to_vector() == std::vector<float>{1.f, 3.f, 4.f, 6.f});
    CHECK(f.get("bool").to_vector_f64() == std::vector<double>{1, 1, 1, 1, 0, 1});
  }
  TEST_CASE("writer layout: padded header, alignment order, aligned offsets") {
    const auto bytes = serialize_safetensors({{"b_u8", Tensor::zeros({3}, DType::U8)},
                                              {"a_f16", Tensor::zeros({1}, DType::F16)},
                                              {"z_f64", Tensor::zeros({1}, DType::F64)},
                                              {"c_f32", Tensor::zeros({1})},
                                              {"a_f32", Tensor::zeros({3})},
                                              {"m_bool", Tensor::zeros({2}, DType::BOOL)},
                                              {"y_i64", Tensor::zeros({1}, DType::I64)}});
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    const std::string text(reinterpret_cast<const char*>(bytes.data()) + 8, n);
    const auto close = text.rfind('}');
    REQUIRE(close != std::string::npos);
    CHECK(text.find_first_not_of(' ', close + 1) == std::string::npos);  // padding is spaces
    CHECK(text.size() - close - 1 < 8);
    const auto h = parse_safetensors_header(bytes);
    std::vector<std::string> order;
    for (const auto& t : h.tensors) {
      order.push_back(t.name);
      CHECK((h.data_offset + t.begin) % (st_dtype_bits(t.dtype) / 8) == 0);
    }
    CHECK(order == std::vector<std::string>{"y_i64", "z_f64", "a_f32", "c_f32", "a_f16", "b_u8", "m_bool"});
    CHECK(bytes.size() == 8 + n + 8 + 8 + 12 + 4 + 2 + 3 + 2);
    // No tensors at all: "{}" padded to 8.
    const auto none = serialize_safetensors({});
    CHECK(none.size() == 16);
    CHECK(parse_safetensors_header(none).tensors.empty());
  }
  TEST_CASE("writer refuses names and tensors a reader could not load") {
    CHECK_THROWS_AS(serialize_safetensors({{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({2})}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"__metadata__", Tensor::zeros({1})}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"", Tensor::zeros({1})}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"bad\xff", Tensor::zeros({1})}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"a", Tensor::zeros({1})}}, {{"k", "\xc0\xaf"}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"u", Tensor()}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"r9", Tensor::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1})}}), ValueError);
  }
  TEST_CASE("save replaces atomically: an open reader keeps the old contents") {
    const fs::path p = scratch("atomic.safetensors");
    save_safetensors(p, {{"v", Tensor::full({4}, 1.0)}});
    const auto old_file = SafetensorsFile::open(p);
    const Tensor old_view = old_file.get("v");  // a view of the old mapping
    REQUIRE(!old_view.storage()->owned());
    save_safetensors(p, {{"v", Tensor::full({4}, 2.0)}, {"w", Tensor::zeros({2})}});
    CHECK(old_view.to_vector() == std::vector<float>{1.f, 1.f, 1.f, 1.f});
    CHECK(old_file.get("v").get({3}) == 1.0);
    CHECK(!old_file.contains("w"));
    const auto new_file = SafetensorsFile::open(p);
    CHECK(new_file.get("v").get({3}) == 2.0);
    CHECK(new_file.contains("w"));
    // No temporary files are left beside it.
    int entries = 0;
    for (const auto& e : fs::directory_iterator(p.parent_path()))
      entries += e.path().filename().string().find("atomic") != std::string::npos;
    CHECK(entries == 1);
  }
  TEST_CASE("save into a missing directory is an IoError and creates nothing") {
    const fs::path dir = scratch("no-such-dir");
    fs::remove_all(dir);
    const fs::path p = dir / "x.safetensors";
    try {
      save_safetensors(p, {{"v", Tensor::zeros({1})}});
      FAIL("expected an IoError");
    } catch (const IoError& e) {
      CHECK(std::string(e.what()).find(p.string()) != std::string::npos);
    }
    CHECK(!fs::exists(dir));
  }
  TEST_CASE("a failed save leaves the old file and no temporary file") {
    // Renaming a file over a directory fails after the temporary file was written.
    const fs::path dir = scratch("save-over-dir");
    fs::remove_all(dir);
    fs::create_directories(dir / "target.safetensors");
    CHECK_THROWS_AS(save_safetensors(dir / "target.safetensors", {{"v", Tensor::zeros({1})}}), IoError);
    CHECK(fs::is_directory(dir / "target.safetensors"));
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
    // Bad names fail before the disk is touched.
    const fs::path p = dir / "kept.safetensors";
    save_safetensors(p, {{"v", Tensor::full({1}, 3.0)}});
    CHECK_THROWS_AS(save_safetensors(p, {{"", Tensor::zeros({1})}}), ValueError);
    CHECK(SafetensorsFile::open(p).get("v").item() == 3.0);
    fs::remove_all(dir);
  }
  TEST_CASE("writing into a loaded tensor never changes the file") {
    const fs::path p = scratch("cow.safetensors");
    save_safetensors(p, {{"v", Tensor::full({2}, 3.0)}});
    {
      const auto f = SafetensorsFile::open(p);
      const Tensor v = f.get("v");
      REQUIRE(!v.storage()->owned());
      v.fill(9.0);  // lands in copy-on-write pages of the private mapping
      CHECK(v.get({0}) == 9.0);
    }
    CHECK(SafetensorsFile::open(p).get("v").get({0}) == 3.0);
  }

  // ---- the mapping --------------------------------------------------------------------------
  TEST_CASE("MappedFile: contents, empty files, moves, errors") {
    const fs::path p = scratch("mapped.bin");
    write_file(p, Bytes{std::byte{1}, std::byte{2}, std::byte{3}});
    MappedFile m = MappedFile::open(p);
    REQUIRE(m.size() == 3);
    CHECK(m.bytes()[2] == std::byte{3});
    const std::byte* data = m.bytes().data();
    MappedFile moved = std::move(m);
    CHECK(moved.bytes().data() == data);
    CHECK(m.bytes().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    write_file(scratch("mapped-empty.bin"), {});
    CHECK(MappedFile::open(scratch("mapped-empty.bin")).bytes().empty());
    try {
      (void)MappedFile::open(scratch("mapped-missing.bin"));
      FAIL("expected an IoError");
    } catch (const IoError& e) {
      CHECK(std::string(e.what()).find("mapped-missing.bin") != std::string::npos);
    }
  }
}
