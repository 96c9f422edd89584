// safetensors: loading (zero-copy views and conversions), the writer (layout, round
// trips, atomic replace) and MappedFile. Header parsing is in test_safetensors_header.cpp.

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <span>

#include "io/safetensors_bytes.hpp"
#include "relprop/io/mmap.hpp"
#include "relprop/io/safetensors.hpp"

using namespace relprop;
using namespace relprop::safetensors_test;

namespace {

bool points_into(const Tensor& t, std::span<const std::byte> bytes) {
  const auto* p = static_cast<const std::byte*>(t.raw_data());
  return std::less_equal<>()(bytes.data(), p) && std::less_equal<>()(p + t.nbytes(), bytes.data() + bytes.size());
}

}  // namespace

TEST_SUITE("io.safetensors") {
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
