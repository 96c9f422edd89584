// viz/: the limits on picture sizes (every size computed from a file, an option or a
// tensor shape is checked before anything is allocated or resized) and the image formats
// told apart by their magic bytes, on the fuzzer's seed corpus (tests/fuzz/corpus/image/).

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "relprop/tensor/error.hpp"
#include "relprop/viz/image.hpp"

using namespace relprop;
using namespace relprop::viz;
namespace fs = std::filesystem;

namespace {

const std::string kCorpus = std::string(RELPROP_SOURCE_DIR) + "/tests/fuzz/corpus/image/";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_image_limits";
  fs::create_directories(dir);
  return dir / name;
}

// The message of the relprop::Error `f` throws, or "" when it throws none; any other
// exception (std::bad_alloc) propagates and fails the test case.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A grey PNG of width x height holding `value`, stored compressed (a 1 x 11000 picture is
// a few dozen bytes), through the library's own writer.
fs::path grey_png(const std::string& name, int width, int height, std::uint8_t value = 128) {
  const fs::path p = scratch(name);
  write_png(p.string(), Image::blank(width, height, 1, value));
  return p;
}

// A PNG whose header declares width x height but whose pixel data is cut short.
fs::path declared_png(const std::string& name, std::uint32_t width, std::uint32_t height) {
  auto be32 = [](std::uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  std::string ihdr = be32(width) + be32(height) + std::string{8, 0, 0, 0, 0};  // 8-bit grey
  std::string png = "\x89PNG\r\n\x1a\n" + be32(13) + "IHDR" + ihdr + be32(0);  // CRC not checked by stb
  png += be32(0) + "IEND" + be32(0);
  const fs::path p = scratch(name);
  std::ofstream(p, std::ios::binary) << png;
  return p;
}

}  // namespace

TEST_SUITE("viz.limits") {
  TEST_CASE("a 1 x 11000 picture resized for a 224 x 224 input: a ResourceError, not a crash in the resizer") {
    const Image tall = read_image(grey_png("tall_11000.png", 1, 11000).string());
    CHECK(tall.height == 11000);
    // Shorter side to 256: 256 x 2816000 x 3 = 2.0 GiB, past 2^31 bytes.
    const std::string e = error_of([&] { image_to_tensor(tall, 3, 224, 224); });
    CAPTURE(e);
    CHECK(contains(e, "256 x 2816000"));
    CHECK(contains(e, "1 GiB"));
    CHECK_THROWS_AS(image_to_tensor(tall, 3, 224, 224), ResourceError);
    // Stretched straight to the input size, the same picture is fine.
    Preprocess stretch;
    stretch.stretch = true;
    CHECK(image_to_tensor(tall, 3, 224, 224, stretch).shape() == Shape{1, 3, 224, 224});
  }

  TEST_CASE("a 1 x 100000 picture: a ResourceError, not std::bad_alloc") {
    const Image tall = read_image(grey_png("tall_100000.png", 1, 100000).string());
    CHECK_THROWS_AS(image_to_tensor(tall, 3, 224, 224), ResourceError);
    CHECK(contains(error_of([&] { image_to_tensor(tall, 3, 224, 224); }), "16777216 pixels a side"));
  }

  TEST_CASE("a tiny crop fraction: a ResourceError naming --crop, at any magnitude") {
    const Image photo = Image::blank(64, 48, 3, 90);
    for (double crop : {0.005, 1e-9, 1e-300, 5e-324}) {
      CAPTURE(crop);
      Preprocess pre;
      pre.crop_fraction = crop;
      const std::string e = error_of([&] { image_to_tensor(photo, 3, 224, 224, pre); });
      CHECK(contains(e, "--crop"));
      CHECK_THROWS_AS(image_to_tensor(photo, 3, 224, 224, pre), ResourceError);
    }
    // The smallest crop that fits still works: shorter side 224 / 0.05 = 4480.
    Preprocess fits;
    fits.crop_fraction = 0.05;
    CHECK(image_to_tensor(photo, 3, 224, 224, fits).shape() == Shape{1, 3, 224, 224});
  }

  TEST_CASE("a model input too large for a picture is refused before the tensor is made") {
    const Image photo = Image::blank(4, 3, 3, 90);
    CHECK_THROWS_AS(image_to_tensor(photo, 3, 1 << 20, 1 << 20), ResourceError);
  }

  TEST_CASE("heatmap magnification: the int product of side and --scale no longer wraps to a blank 192 x 192") {
    const Tensor r = Tensor::zeros({1, 1, 224, 224});
    HeatmapOptions o;
    o.scale = 19173962;  // 224 x 19173962 = 2^32 + 192
    CHECK_THROWS_AS(heatmap(r, o), ValueError);
    CHECK(contains(error_of([&] { heatmap(r, o); }), "1..1024"));
    o.scale = 1000;  // 224000 x 224000 x 3: within the range, past the byte limit
    CHECK_THROWS_AS(heatmap(r, o), ResourceError);
    CHECK_THROWS_AS(overlay(r, Image::blank(224, 224, 3), o), ResourceError);
    o.scale = 0;
    CHECK_THROWS_AS(heatmap(r, o), ValueError);
    o.scale = 4;
    const Image h = heatmap(r, o);
    CHECK(h.width == 896);
    CHECK(h.height == 896);
  }

  TEST_CASE("magnify and grid: sizes past int are refused, not wrapped") {
    const Image small = Image::blank(3, 2, 3, 7);
    CHECK_THROWS_AS(magnify(small, 1 << 30), ValueError);  // above 1024
    CHECK_THROWS_AS(magnify(small, 0), ValueError);
    CHECK(magnify(small, 1024).width == 3072);
    // 3,000,000 x 1000 wraps an int to a negative width.
    const Image wide = Image::blank(3000000, 1, 1);
    CHECK_THROWS_AS(magnify(wide, 1000), ResourceError);
    // Three 2 x 2 cells 2^30 pixels apart: 6 + 2 x 2^30 wraps an int.
    const std::vector<Image> cells(3, Image::blank(2, 2, 3));
    CHECK_THROWS_AS(grid(cells, 3, 1 << 30), ResourceError);
    CHECK(grid(cells, 3, 1).width == 8);
    // The size a grid would have, without drawing its cells.
    const GridExtent g = grid_extent(5, 3, 2, 3, 0, 1);
    CHECK(g.columns == 2);
    CHECK(g.rows == 3);
    CHECK(g.width == 7);
    CHECK(g.height == 8);
    CHECK_THROWS_AS(grid_extent(100000, 128, 128, 3, 0, 4), ResourceError);
    CHECK_THROWS_AS(Image::blank(1 << 16, 1 << 15, 1), ResourceError);  // 2 GiB
  }

  TEST_CASE("a PNG declaring a picture past the limit is refused before it is decoded") {
    // 40000 x 40000 grey (1.5 GiB): stb_image would allocate it and start decoding.
    const fs::path big = declared_png("declared_40000.png", 40000, 40000);
    const std::string e = error_of([&] { read_image(big.string()); });
    CAPTURE(e);
    CHECK(contains(e, "40000 x 40000"));
    CHECK(contains(e, big.string()));
    CHECK_THROWS_AS(read_image(big.string()), ResourceError);
    CHECK_THROWS_AS(read_image(declared_png("declared_wide.png", (1u << 24) + 1, 1).string()), ResourceError);
  }
}
