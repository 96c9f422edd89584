// viz/: colour maps and heatmaps against Zennit 0.5.1's own (tests/data/zennit/
// images.safetensors, tools/make_zennit_image_fixtures.py), image files, preprocessing,
// grids, overlays, charts and token renderings.

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "relprop/io/safetensors.hpp"
#include "relprop/tensor/error.hpp"
#include "relprop/viz/chart.hpp"
#include "relprop/viz/image.hpp"

using namespace relprop;
using namespace relprop::viz;
namespace fs = std::filesystem;

namespace {

const std::string kImages = std::string(RELPROP_SOURCE_DIR) + "/tests/data/zennit/images.safetensors";

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_viz";
  fs::create_directories(dir);
  return dir / name;
}

std::string level_str(double l) { return l == 0.5 ? "0.5" : l == 1.0 ? "1" : l == 1.5 ? "1.5" : "2"; }

}  // namespace

TEST_SUITE("viz") {
  TEST_CASE("every built-in colour map's palette equals Zennit's, at levels 0.5, 1 and 2") {
    const auto f = SafetensorsFile::open(kImages);
    const auto names = ColorMap::builtin_names();
    CHECK(names.size() == 11);
    for (const auto& name : names)
      for (double level : {0.5, 1.0, 2.0}) {
        CAPTURE(name);
        CAPTURE(level);
        const auto want = f.get("palette." + name + "." + level_str(level)).to_vector_f64();
        const auto got = ColorMap::named(name).palette(level);
        REQUIRE(want.size() == 256 * 3);
        int bad = 0;
        for (int k = 0; k < 256; ++k)
          bad += got[k].r != want[3 * k] || got[k].g != want[3 * k + 1] || got[k].b != want[3 * k + 2];
        CHECK(bad == 0);
      }
  }

  TEST_CASE("heatmaps equal Zennit's imgify, pixel for pixel, under each normalisation") {
    const auto f = SafetensorsFile::open(kImages);
    int compared = 0;
    for (int k = 0; k < 3; ++k) {
      const Tensor r = f.get("relevance." + std::to_string(k));
      for (const char* norm : {"symmetric", "absolute", "unaligned"})
        for (const auto& [cmap, level] : std::vector<std::pair<std::string, double>>{
                 {"bwr", 1.0}, {"coldnhot", 1.0}, {"hot", 1.5}, {"gray", 1.0}}) {
          const std::string key = "heatmap." + std::to_string(k) + "." + norm + "." + cmap + "." + level_str(level);
          CAPTURE(key);
          const Tensor want = f.get(key);
          HeatmapOptions o;
          o.cmap = cmap;
          o.level = level;
          o.normalization = parse_normalization(norm);
          const Image im = heatmap(r, o);
          REQUIRE(im.height == want.shape()[0]);
          REQUIRE(im.width == want.shape()[1]);
          const auto w = want.to_vector_f64();
          int bad = 0;
          for (std::size_t i = 0; i < w.size(); ++i) bad += im.pixels[i] != w[i];
          CHECK(bad == 0);
          ++compared;
        }
    }
    CHECK(compared == 36);
  }

  TEST_CASE("the colour-map language: placed and spaced nodes, and errors naming the problem") {
    // "00f,80:fff,f00": blue at 0, white at 0x80, red at 255.
    const ColorMap m = ColorMap::parse("00f,80:fff,f00");
    auto c = m(0.0);
    CHECK(c[0] == doctest::Approx(0.0));
    CHECK(c[2] == doctest::Approx(1.0));
    c = m(128.0 / 255.0);
    CHECK(c[0] == doctest::Approx(1.0));
    CHECK(c[1] == doctest::Approx(1.0));
    c = m(1.0);
    CHECK(c[0] == doctest::Approx(1.0));
    CHECK(c[1] == doctest::Approx(0.0));
    // Unplaced middle colours are spaced evenly: "000,f00,ff0,fff" puts red at 85.
    const ColorMap hot = ColorMap::parse("000, f00, ff0, fff");
    CHECK(hot(85.0 / 255.0)[0] == doctest::Approx(1.0));
    CHECK(hot(85.0 / 255.0)[1] == doctest::Approx(0.0));
    // Values outside [0, 1] are clipped.
    CHECK(m(-3.0) == m(0.0));
    CHECK(m(7.0) == m(1.0));
    CHECK_THROWS_AS(ColorMap::parse("00f"), ValueError);           // one colour
    CHECK_THROWS_AS(ColorMap::parse("00f,80:"), ValueError);       // index without colour
    CHECK_THROWS_AS(ColorMap::parse("00f,c0:fff,40:f00"), ValueError);  // descending
    CHECK_THROWS_AS(ColorMap::parse("00f fff"), ValueError);       // missing comma
    CHECK_THROWS_WITH_AS(ColorMap::named("rainbow"), doctest::Contains("unknown colour map 'rainbow'"), ValueError);
    CHECK_THROWS_AS(parse_normalization("max"), ValueError);
  }

  TEST_CASE("PNG round trip, JPEG reading, and typed errors for bad image files") {
    Image im = Image::blank(5, 3, 3);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint8_t>(i * 17);
    const fs::path p = scratch("round.png");
    write_png(p.string(), im);
    const Image back = read_image(p.string());
    CHECK(back.width == 5);
    CHECK(back.height == 3);
    CHECK(back.channels == 3);
    CHECK(back.pixels == im.pixels);
    CHECK_FALSE(fs::exists(p.string() + ".part"));
    Image grey = Image::blank(4, 4, 1, 200);
    write_png(scratch("grey.png").string(), grey);
    CHECK(read_image(scratch("grey.png").string()).channels == 1);

    const fs::path junk = scratch("junk.png");
    std::ofstream(junk) << "not a picture";
    CHECK_THROWS_AS(read_image(junk.string()), FormatError);
    CHECK_THROWS_AS(read_image(scratch("missing.png").string()), IoError);
    CHECK_THROWS_AS(write_png(scratch("no/such/dir/x.png").string(), im), IoError);
  }

  TEST_CASE("preprocessing: shorter side, centre crop, mean and std; and back to a picture") {
    // A 40 x 20 image whose columns count up: resized to 16 x 8 (shorter side 8 for an
    // 8 x 8 input with crop fraction 1), the centre crop keeps the middle 8 columns.
    Image im = Image::blank(40, 20, 3);
    for (int y = 0; y < 20; ++y)
      for (int x = 0; x < 40; ++x)
        for (int c = 0; c < 3; ++c) im.at(x, y)[c] = static_cast<std::uint8_t>(c == 0 ? 100 : c == 1 ? 150 : 200);
    Preprocess pre;
    pre.crop_fraction = 1.0;
    const Tensor t = image_to_tensor(im, 3, 8, 8, pre);
    CHECK(t.shape() == Shape{1, 3, 8, 8});
    CHECK(t.get({0, 0, 3, 3}) == doctest::Approx((100 / 255.0 - 0.485) / 0.229).epsilon(1e-5));
    CHECK(t.get({0, 2, 7, 0}) == doctest::Approx((200 / 255.0 - 0.406) / 0.225).epsilon(1e-5));
    const Image back = tensor_to_image(t, &pre);
    CHECK(back.width == 8);
    CHECK(int(back.at(2, 2)[1]) == 150);
    // A colour picture for a 1-channel model becomes luma.
    Preprocess one;
    one.mean = {0.0};
    one.std = {1.0};
    const Tensor g = image_to_tensor(im, 1, 4, 4, one);
    CHECK(g.get({0, 0, 1, 1}) == doctest::Approx((100 * 299 + 150 * 587 + 200 * 114) / 1000 / 255.0).epsilon(1e-5));
    CHECK_THROWS_AS(image_to_tensor(im, 3, 8, 8, one), ValueError);  // mean/std count
    // Stretching keeps the whole picture: a left-to-right ramp keeps its ends.
    Image ramp = Image::blank(40, 20, 1);
    for (int y = 0; y < 20; ++y)
      for (int x = 0; x < 40; ++x) ramp.at(x, y)[0] = static_cast<std::uint8_t>(x * 6);
    Preprocess st = one;
    st.stretch = true;
    const Tensor r = image_to_tensor(ramp, 1, 8, 8, st), c = image_to_tensor(ramp, 1, 8, 8, one);
    CHECK(r.get({0, 0, 4, 0}) < c.get({0, 0, 4, 0}));  // the crop starts a quarter in
    CHECK(r.get({0, 0, 4, 7}) > c.get({0, 0, 4, 7}));
    CHECK_THROWS_AS(image_to_tensor(im, 2, 8, 8, pre), ShapeError);
  }

  TEST_CASE("grid, magnify, overlay") {
    std::vector<Image> ims;
    for (int k = 0; k < 5; ++k) ims.push_back(Image::blank(3, 2, 3, static_cast<std::uint8_t>(10 * k)));
    const Image g = grid(ims, 0, 1, 255);  // ⌊√5⌋ = 2 columns, 3 rows
    CHECK(g.width == 2 * 3 + 1);
    CHECK(g.height == 3 * 2 + 2);
    CHECK(int(g.at(4, 0)[0]) == 10);   // second image
    CHECK(int(g.at(3, 0)[0]) == 255);  // the gap
    CHECK(int(g.at(0, 6)[0]) == 40);   // fifth image, third row
    CHECK_THROWS_AS(grid({Image::blank(3, 2, 3), Image::blank(2, 2, 3)}), ShapeError);
    const Image m = magnify(ims[1], 3);
    CHECK(m.width == 9);
    CHECK(int(m.at(8, 5)[2]) == 10);

    // Zero relevance shows the (slightly desaturated) picture; the strongest pixel the colour.
    Tensor r = Tensor::zeros({1, 1, 2, 2});
    r.set_flat(3, 5.0);
    Image base = Image::blank(2, 2, 3, 0);
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x) base.at(x, y)[0] = 200;  // red picture
    const Image o = overlay(r, base, {}, 1.0);
    CHECK(int(o.at(0, 0)[0]) == std::lround(0.5 * 200 + 0.5 * 0.299 * 200));
    CHECK(int(o.at(1, 1)[0]) == 255);  // bwr's top: red
    CHECK(int(o.at(1, 1)[1]) == 0);
  }

  TEST_CASE("bar chart, CSV, tokens as HTML and as terminal colours") {
    const Image chart = bar_chart({{"a", 2.0, ""}, {"b", -1.0, "(= 3)"}, {"c", 0.5, ""}}, {"title", 600, 20, 0, true});
    CHECK(chart.width == 600);
    CHECK(chart.height > 3 * 20);
    // Red and blue bars are drawn.
    bool red = false, blue = false;
    for (int y = 0; y < chart.height; ++y)
      for (int x = 0; x < chart.width; ++x) {
        const auto* p = chart.at(x, y);
        red = red || (p[0] == 214 && p[1] == 39 && p[2] == 40);
        blue = blue || (p[0] == 31 && p[1] == 119 && p[2] == 180);
      }
    CHECK(red);
    CHECK(blue);
    CHECK_THROWS_AS(bar_chart({}), ValueError);
    if (!font_path().empty()) CHECK(text_width("relevance", 14) > 40);

    CHECK(csv({"a", "b"}, {{"1", "x,y"}, {"2", "say \"hi\""}}) == "a,b\n1,\"x,y\"\n2,\"say \"\"hi\"\"\"\n");

    const std::string html = tokens_html({"[CLS]", "play", "##ing", "<b>"}, {0.0, 2.0, -1.0, 0.5}, "t");
    CHECK(html.find("playing") == std::string::npos);  // spans keep the pieces apart…
    CHECK(html.find(">play</span><span") != std::string::npos);  // …but with no space between
    CHECK(html.find("&lt;b&gt;") != std::string::npos);
    CHECK(html.find("rgba(255,0,0,1.000)") != std::string::npos);  // the largest, fully red
    CHECK(html.find("rgba(0,0,255,0.500)") != std::string::npos);  // half as large, negative
    CHECK_THROWS_AS(tokens_html({"a"}, {1.0, 2.0}), ShapeError);
    const std::string ansi = tokens_ansi({"\xC4\xA0" "the", "\xC4\xA0" "cat"}, {1.0, -1.0});
    CHECK(ansi.find("\x1b[48;2;255;0;0m") != std::string::npos);
    CHECK(ansi.find("\x1b[48;2;0;0;255m") != std::string::npos);
    CHECK(ansi.find(" cat") == std::string::npos);  // the space sits outside the colour
  }
}
