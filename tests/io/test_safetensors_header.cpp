// safetensors headers: one test per rejected case (each its own typed error, checked by
// kind), the errors' descriptions and file names, and the accepted edge cases. Loading,
// the writer and MappedFile are in test_safetensors.cpp.

#include <doctest/doctest.h>

#include <limits>
#include <set>

#include "io/safetensors_bytes.hpp"
#include "relprop/io/safetensors.hpp"

using namespace relprop;
using namespace relprop::safetensors_test;
using Kind = SafetensorsErrorKind;

namespace {

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

}  // namespace

TEST_SUITE("io.safetensors.header") {
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
}
