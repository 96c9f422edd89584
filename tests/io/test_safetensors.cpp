// safetensors: one test per rejected case (each its own typed error), the accepted edge
// cases, loading (zero-copy and conversions), and the writer (layout, atomic replace).

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/safetensors.hpp"

using namespace relprop;
using Kind = SafetensorsErrorKind;
namespace fs = std::filesystem;

namespace {

// u64 N | header text | data bytes, exactly as given (malformed cases stay malformed).
std::vector<std::byte> file_with_length(std::uint64_t n, const std::string& header, std::size_t data_bytes = 0) {
  std::vector<std::byte> f(8 + header.size() + data_bytes, std::byte{0});
  std::memcpy(f.data(), &n, 8);
  std::memcpy(f.data() + 8, header.data(), header.size());
  for (std::size_t i = 0; i < data_bytes; ++i) f[8 + header.size() + i] = static_cast<std::byte>(i * 7 + 1);
  return f;
}
std::vector<std::byte> file(const std::string& header, std::size_t data_bytes = 0) {
  return file_with_length(header.size(), header, data_bytes);
}

Kind kind_of(const std::vector<std::byte>& bytes) {
  try {
    parse_safetensors_header(bytes);
  } catch (const SafetensorsError& e) {
    return e.kind();
  }
  FAIL("expected a SafetensorsError");
  return Kind::InvalidJson;
}

#define CHECK_REJECTS(bytes, expected)                   \
  do {                                                   \
    const Kind k_ = kind_of(bytes);                      \
    CAPTURE(to_string(k_));                              \
    CHECK(k_ == (expected));                             \
  } while (0)

const std::string kOne = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_safetensors";
  fs::create_directories(dir);
  return dir / name;
}

}  // namespace

TEST_SUITE("io.safetensors") {
  // ---- rejected: lengths ------------------------------------------------------------
  TEST_CASE("reject: file shorter than 8 bytes") {
    CHECK_REJECTS(std::vector<std::byte>(7), Kind::FileTooSmall);
    CHECK_REJECTS(std::vector<std::byte>(), Kind::FileTooSmall);
  }
  TEST_CASE("reject: header length 0") { CHECK_REJECTS(file_with_length(0, ""), Kind::HeaderLengthZero); }
  TEST_CASE("reject: header length making 8 + N overflow") {
    CHECK_REJECTS(file_with_length(std::numeric_limits<std::uint64_t>::max() - 3, "{}"), Kind::HeaderLengthOverflow);
  }
  TEST_CASE("reject: header length over 100000000") {
    CHECK_REJECTS(file_with_length(100'000'001, "{}"), Kind::HeaderTooLarge);
  }
  TEST_CASE("reject: header length larger than the file") {
    CHECK_REJECTS(file_with_length(64, "{}"), Kind::HeaderLengthExceedsFile);
  }
  // ---- rejected: text and JSON ------------------------------------------------------
  TEST_CASE("reject: header not UTF-8") {
    CHECK_REJECTS(file("{\"\xff\":1}"), Kind::HeaderNotUtf8);
    CHECK_REJECTS(file("{\"\xc0\xaf\":1}"), Kind::HeaderNotUtf8);      // overlong '/'
    CHECK_REJECTS(file("{\"\xed\xa0\x80\":1}"), Kind::HeaderNotUtf8);  // surrogate
    CHECK_REJECTS(file("{\"\xe2\x82"), Kind::HeaderNotUtf8);           // truncated
  }
  TEST_CASE("reject: invalid JSON") { CHECK_REJECTS(file("{\"a\":"), Kind::InvalidJson); }
  TEST_CASE("reject: JSON not an object") {
    CHECK_REJECTS(file("[1,2]"), Kind::HeaderNotObject);
    CHECK_REJECTS(file("\"text\""), Kind::HeaderNotObject);
  }
  TEST_CASE("reject: entry not an object") { CHECK_REJECTS(file(R"({"a":[1,2]})"), Kind::EntryNotObject); }
  TEST_CASE("reject: unknown key in an entry") {
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", 4), Kind::UnknownEntryKey);
  }
  TEST_CASE("reject: missing or ill-typed dtype") {
    CHECK_REJECTS(file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), Kind::MissingDtype);
    CHECK_REJECTS(file(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4), Kind::InvalidDtypeType);
  }
  TEST_CASE("reject: unknown dtype") {
    CHECK_REJECTS(file("{" + entry("a", "F33", "[1]", "[0,4]") + "}", 4), Kind::UnknownDtype);
    CHECK_REJECTS(file("{" + entry("a", "f32", "[1]", "[0,4]") + "}", 4), Kind::UnknownDtype);
  }
  TEST_CASE("reject: missing or ill-typed shape") {
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), Kind::MissingShape);
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4), Kind::InvalidShapeType);
  }
  TEST_CASE("reject: negative or non-integer numbers") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[-1]", "[0,4]") + "}", 4), Kind::InvalidShapeType);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1.0]", "[0,4]") + "}", 4), Kind::InvalidShapeType);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1e0]", "[0,4]") + "}", 4), Kind::InvalidShapeType);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[0,4.0]") + "}", 4), Kind::InvalidDataOffsetsType);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[-0,4]") + "}", 4), Kind::InvalidDataOffsetsType);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[-4,0]") + "}", 4), Kind::InvalidDataOffsetsType);
  }
  TEST_CASE("reject: missing or ill-typed data_offsets") {
    CHECK_REJECTS(file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), Kind::MissingDataOffsets);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[0,4,8]") + "}", 4), Kind::InvalidDataOffsetsType);
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "4") + "}", 4), Kind::InvalidDataOffsetsType);
  }
  TEST_CASE("reject: __metadata__ values that are not strings") {
    CHECK_REJECTS(file(R"({"__metadata__":{"epoch":3}})"), Kind::InvalidMetadata);
    CHECK_REJECTS(file(R"({"__metadata__":"v1"})"), Kind::InvalidMetadata);
  }
  // ---- rejected: offsets and sizes --------------------------------------------------
  TEST_CASE("reject: END < BEGIN") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[0]", "[4,0]") + "}", 4), Kind::EndBeforeBegin);
  }
  TEST_CASE("reject: gap at the start of the data section") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[4,8]") + "}", 8), Kind::GapAtStart);
  }
  TEST_CASE("reject: gap between tensors") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}", 12),
                  Kind::GapBetweenTensors);
  }
  TEST_CASE("reject: overlapping tensors") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}", 12),
                  Kind::OverlappingTensors);
    // A zero-size tensor placed inside another's bytes overlaps it too.
    CHECK_REJECTS(file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[0]", "[4,4]") + "}", 8),
                  Kind::OverlappingTensors);
  }
  TEST_CASE("reject: many tensors aliasing one range") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[0,8]") + "," +
                       entry("c", "F32", "[2]", "[0,8]") + "}",
                       8),
                  Kind::OverlappingTensors);
  }
  TEST_CASE("reject: shape product overflow") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[281474976710655,281474976710655]", "[0,4]") + "}", 4),
                  Kind::ShapeOverflow);
  }
  TEST_CASE("reject: byte size overflow") {
    // 2^47 * 2^15 = 2^62 elements fit in I64, but 2^62 * 64 bits do not fit in 64 bits.
    CHECK_REJECTS(file("{" + entry("a", "F64", "[140737488355328,32768]", "[0,8]") + "}", 8), Kind::BitSizeOverflow);
  }
  TEST_CASE("reject: byte size that is not a whole number of bytes") {
    CHECK_REJECTS(file("{" + entry("a", "F4", "[3]", "[0,2]") + "}", 2), Kind::FractionalByteSize);
    CHECK_REJECTS(file("{" + entry("a", "F6_E2M3", "[2]", "[0,2]") + "}", 2), Kind::FractionalByteSize);
  }
  TEST_CASE("reject: declared size differs from shape x dtype size") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[3]", "[0,8]") + "}", 8), Kind::SizeMismatch);
    CHECK_REJECTS(file("{" + entry("a", "BF16", "[2]", "[0,8]") + "}", 8), Kind::SizeMismatch);
  }
  TEST_CASE("reject: trailing bytes after the last tensor") {
    CHECK_REJECTS(file(kOne, 9), Kind::TrailingBytes);
    CHECK_REJECTS(file("{}", 1), Kind::TrailingBytes);
  }
  TEST_CASE("reject: missing bytes (truncated data)") { CHECK_REJECTS(file(kOne, 7), Kind::MissingBytes); }
  // ---- rejected: stricter than the reference ----------------------------------------
  TEST_CASE("reject: duplicate names") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("a", "F32", "[1]", "[4,8]") + "}", 8),
                  Kind::DuplicateName);
  }
  TEST_CASE("reject: rank above 8") {
    CHECK_REJECTS(file("{" + entry("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") + "}", 4), Kind::RankTooLarge);
    CHECK(kind_of(file("{" + entry("a", "F32", "[1,1,1,1,1,1,1,1]", "[0,4]") + "}", 5)) == Kind::TrailingBytes);
  }
  TEST_CASE("reject: dimensions or offsets of 2^48 or more") {
    CHECK_REJECTS(file("{" + entry("a", "U8", "[281474976710656]", "[0,1]") + "}", 1), Kind::DimensionTooLarge);
    CHECK_REJECTS(file("{" + entry("a", "U8", "[0]", "[281474976710656,281474976710656]") + "}"), Kind::OffsetTooLarge);
  }
  TEST_CASE("reject: a tensor named __metadata__") {
    CHECK_REJECTS(file("{" + entry("__metadata__", "F32", "[1]", "[0,4]") + "}", 4), Kind::MetadataNameAsTensor);
  }
  TEST_CASE("errors from a file name the file") {
    const fs::path p = scratch("trailing.safetensors");
    const auto bytes = file(kOne, 9);
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                             static_cast<std::streamsize>(bytes.size()));
    try {
      SafetensorsFile::open(p);
      FAIL("expected a SafetensorsError");
    } catch (const SafetensorsError& e) {
      CHECK(e.kind() == Kind::TrailingBytes);
      CHECK(std::string(e.what()).find(p.string()) == 0);
    }
    CHECK_THROWS_AS(SafetensorsFile::open(scratch("does-not-exist.safetensors")), IoError);
    CHECK_THROWS_AS(SafetensorsFile::open(fs::temp_directory_path()), IoError);
  }

  // ---- accepted ---------------------------------------------------------------------
  TEST_CASE("accept: empty header {}") {
    const auto h = parse_safetensors_header(file("{}"));
    CHECK(h.tensors.empty());
    CHECK(h.data_offset == 10);
  }
  TEST_CASE("accept: whitespace padding around the JSON") {
    const auto h = parse_safetensors_header(file(" \t\n" + kOne + "   \n ", 8));
    REQUIRE(h.tensors.size() == 1);
    CHECK(h.tensors[0].shape == Shape{2});
  }
  TEST_CASE("accept: zero-size tensors (several at one offset)") {
    const auto h = parse_safetensors_header(file(
        "{" + entry("z1", "F32", "[0,3]", "[0,0]") + "," + entry("z2", "I64", "[0]", "[0,0]") + "," +
            entry("a", "F32", "[1]", "[0,4]") + "," + entry("z3", "F32", "[2,0]", "[4,4]") + "}",
        4));
    CHECK(h.tensors.size() == 4);
    const auto f = SafetensorsFile::from_bytes(file("{" + entry("z", "F32", "[0,3]", "[0,0]") + "}"));
    CHECK(f.get("z").shape() == Shape{0, 3});
  }
  TEST_CASE("accept: rank-0 scalars") {
    const auto f = SafetensorsFile::from_bytes(file("{" + entry("s", "F64", "[]", "[0,8]") + "}", 8));
    const Tensor s = f.get("s");
    CHECK(s.dim() == 0);
    CHECK(s.dtype() == DType::F32);
  }
  TEST_CASE("accept: entries in any order") {
    const auto h = parse_safetensors_header(
        file("{" + entry("second", "F32", "[1]", "[4,8]") + "," + entry("first", "F32", "[1]", "[0,4]") + "}", 8));
    REQUIRE(h.tensors.size() == 2);
    CHECK(h.tensors[0].name == "first");
  }
  TEST_CASE("accept: metadata of strings") {
    const auto f = SafetensorsFile::from_bytes(file(R"({"__metadata__":{"format":"pt"}})"));
    CHECK(f.metadata().at("format") == "pt");
  }
  TEST_CASE("accept: unaligned data is copied with the right values") {
    // A 3-byte header puts the data at offset 11: misaligned for F32.
    std::vector<std::byte> bytes = file("{" + entry("u", "U8", "[1]", "[0,1]") + "," + entry("f", "F32", "[2]", "[1,9]") + "}", 9);
    const std::size_t data = bytes.size() - 9;
    const float vals[2] = {1.5f, -2.0f};
    std::memcpy(bytes.data() + data + 1, vals, 8);
    const auto f = SafetensorsFile::from_bytes(bytes);
    const Tensor t = f.get("f");
    CHECK(t.to_vector() == std::vector<float>{1.5f, -2.0f});
    CHECK(t.storage()->owned());  // a copy
  }

  // ---- loading ----------------------------------------------------------------------
  TEST_CASE("aligned F32 is a zero-copy view of the mapping") {
    const fs::path p = scratch("aligned.safetensors");
    save_safetensors(p, {{"w", Tensor::from_vector({1.f, 2.f, 3.f, 4.f}, {2, 2})}});
    const auto f = SafetensorsFile::open(p);
    const Tensor w = f.get("w");
    CHECK(!w.storage()->owned());
    CHECK(w.get({1, 0}) == 3.0);
    CHECK(f.get_raw("w").storage()->owned() == false);
  }
  TEST_CASE("conversions: floats to F32, integers to I64, bool") {
    const Tensor h = Tensor::from_vector({0.5f, -3.f}, {2});
    const auto f = SafetensorsFile::from_bytes(serialize_safetensors({
        {"f16", h.to(DType::F16)},
        {"bf16", h.to(DType::BF16)},
        {"f64", h.to(DType::F64)},
        {"i32", Tensor::from_vector({7.f, -9.f}, {2}).to(DType::I32)},
        {"u8", Tensor::from_vector({255.f}, {1}).to(DType::U8)},
        {"b", Tensor::from_vector({0.f, 1.f}, {2}).to(DType::BOOL)},
    }));
    for (const char* n : {"f16", "bf16", "f64"}) {
      CHECK(f.get(n).dtype() == DType::F32);
      CHECK(f.get(n).to_vector() == std::vector<float>{0.5f, -3.f});
    }
    CHECK(f.get("i32").dtype() == DType::I64);
    CHECK(f.get("i32").get({1}) == -9.0);
    CHECK(f.get("u8").get({0}) == 255.0);
    CHECK(f.get("b").dtype() == DType::BOOL);
    CHECK(f.get_raw("f16").dtype() == DType::F16);
    CHECK(f.get_raw("i32").dtype() == DType::I32);
  }
  TEST_CASE("FP8 decodes; sub-byte and complex dtypes are refused by name") {
    std::vector<std::byte> bytes = file("{" + entry("e4", "F8_E4M3", "[2]", "[0,2]") + "," +
                                        entry("e5", "F8_E5M2", "[1]", "[2,3]") + "," + entry("c", "C64", "[1]", "[3,11]") + "}",
                                        11);
    const std::size_t d = bytes.size() - 11;
    bytes[d] = std::byte{0x38};      // E4M3 1.0
    bytes[d + 1] = std::byte{0xC4};  // E4M3 -3.0 (sign, exp 8, man 4: -1.5 * 2)
    bytes[d + 2] = std::byte{0x3C};  // E5M2 1.0
    const auto f = SafetensorsFile::from_bytes(bytes);
    CHECK(f.get("e4").to_vector() == std::vector<float>{1.0f, -3.0f});
    CHECK(f.get("e5").get({0}) == 1.0);
    CHECK_THROWS_AS(f.get("c"), UnsupportedError);
    CHECK_THROWS_AS(f.get_raw("e4"), UnsupportedError);
  }
  TEST_CASE("U64 values beyond I64 are an error, unknown names a NotFoundError listing names") {
    std::vector<std::byte> bytes = file("{" + entry("big", "U64", "[1]", "[0,8]") + "}", 8);
    const std::uint64_t v = std::numeric_limits<std::uint64_t>::max();
    std::memcpy(bytes.data() + bytes.size() - 8, &v, 8);
    const auto f = SafetensorsFile::from_bytes(bytes, "ids.safetensors");
    CHECK_THROWS_AS(f.get("big"), ValueError);
    try {
      f.get("nope");
      FAIL("expected NotFoundError");
    } catch (const NotFoundError& e) {
      const std::string m = e.what();
      CHECK(m.find("'nope'") != std::string::npos);
      CHECK(m.find("ids.safetensors") != std::string::npos);
      CHECK(m.find("big") != std::string::npos);
    }
  }

  // ---- writing ----------------------------------------------------------------------
  TEST_CASE("round trip: every dtype, non-contiguous, zero-size and rank-0 tensors") {
    const Tensor base = Tensor::from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
    std::vector<std::pair<std::string, Tensor>> ts = {
        {"f32_t", base.transpose(0, 1)},  // non-contiguous
        {"f64", base.to(DType::F64)},       {"f16", base.to(DType::F16)}, {"bf16", base.to(DType::BF16)},
        {"i32", base.to(DType::I32)},       {"i64", base.to(DType::I64)}, {"u8", base.to(DType::U8)},
        {"bool", base.to(DType::BOOL)},     {"empty", Tensor::zeros({0, 4})}, {"scalar", Tensor::scalar(7.5)},
    };
    const auto f = SafetensorsFile::from_bytes(serialize_safetensors(ts, {{"k", "v"}}));
    CHECK(f.metadata().at("k") == "v");
    CHECK(f.names().size() == ts.size());
    for (const auto& [name, t] : ts) {
      CAPTURE(name);
      const Tensor r = f.get_raw(name);
      CHECK(r.dtype() == t.dtype());
      CHECK(r.shape() == t.shape());
      CHECK(max_abs_diff(r, t) == 0.0);
    }
  }
  TEST_CASE("writer layout: padded header, alignment order, aligned offsets") {
    const auto bytes = serialize_safetensors({{"b_u8", Tensor::zeros({3}, DType::U8)},
                                              {"a_f16", Tensor::zeros({1}, DType::F16)},
                                              {"z_f64", Tensor::zeros({1}, DType::F64)},
                                              {"c_f32", Tensor::zeros({1})}});
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    const std::string text(reinterpret_cast<const char*>(bytes.data()) + 8, n);
    CHECK(text.find_last_not_of(' ') == text.rfind('}'));
    const auto h = parse_safetensors_header(bytes);
    std::vector<std::string> order;
    for (const auto& t : h.tensors) {
      order.push_back(t.name);
      CHECK(t.begin % (st_dtype_bits(t.dtype) / 8) == 0);
    }
    CHECK(order == std::vector<std::string>{"z_f64", "c_f32", "a_f16", "b_u8"});
    CHECK_THROWS_AS(serialize_safetensors({{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"__metadata__", Tensor::zeros({1})}}), ValueError);
    CHECK_THROWS_AS(serialize_safetensors({{"", Tensor::zeros({1})}}), ValueError);
  }
  TEST_CASE("save replaces atomically: an open reader keeps the old contents") {
    const fs::path p = scratch("atomic.safetensors");
    save_safetensors(p, {{"v", Tensor::full({4}, 1.0)}});
    const auto old_file = SafetensorsFile::open(p);
    const Tensor old_view = old_file.get("v");
    save_safetensors(p, {{"v", Tensor::full({4}, 2.0)}});
    CHECK(old_view.get({3}) == 1.0);
    CHECK(SafetensorsFile::open(p).get("v").get({3}) == 2.0);
    // No temporary files are left beside it.
    int entries = 0;
    for (const auto& e : fs::directory_iterator(p.parent_path()))
      entries += e.path().filename().string().find("atomic") != std::string::npos;
    CHECK(entries == 1);
  }
  TEST_CASE("save into a missing directory is an IoError and creates nothing") {
    const fs::path p = scratch("no-such-dir") / "x.safetensors";
    CHECK_THROWS_AS(save_safetensors(p, {{"v", Tensor::zeros({1})}}), IoError);
    CHECK(!fs::exists(p.parent_path()));
  }
  TEST_CASE("writing into a loaded tensor never changes the file") {
    const fs::path p = scratch("cow.safetensors");
    save_safetensors(p, {{"v", Tensor::full({2}, 3.0)}});
    {
      const auto f = SafetensorsFile::open(p);
      f.get("v").fill(9.0);  // copy-on-write pages of the private mapping
    }
    CHECK(SafetensorsFile::open(p).get("v").get({0}) == 3.0);
  }
}
