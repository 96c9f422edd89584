// The command-line tool on hostile pictures and picture options: sizes past the limits
// end in one-line typed errors (no crash, no std::bad_alloc, no silently blank heatmap),
// and files are told apart by their contents, not their names.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/cli_run.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/viz/image.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

const std::string kDemo = std::string(RELPROP_SOURCE_DIR) + "/examples/demo/";
const std::string kCorpus = std::string(RELPROP_SOURCE_DIR) + "/tests/fuzz/corpus/image/";

using relprop::testing::cli;
using relprop::testing::Run;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / "relprop_test_cli_images" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
// A ResourceError's exit status: 1 as every relprop::Error, or one of its own above 3 (not
// 0 success, 2 a command-line mistake, 3 an internal error).
bool refused_as_too_large(int status) { return status == 1 || status > 3; }
int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// The demo's digit CNN (8 x 8 grey input) on `input`.
std::vector<std::string> digits(const std::string& input, const fs::path& out) {
  return {"explain", "--graph", kDemo + "digits/graph.json", "--weights", kDemo + "digits/weights.safetensors",
          "--input", input, "--out", out.string(), "--quiet"};
}

// A graph with one (N, 3, 224, 224) input: global average pooling, then a linear layer.
fs::path rgb224_graph(const fs::path& dir) {
  std::ofstream(dir / "graph.json") << R"({"format": "relprop-graph", "version": 1,
    "inputs": [{"name": "x", "shape": [-1, 3, 224, 224]}],
    "nodes": [{"name": "pool", "op": "adaptive_avg_pool2d", "inputs": ["x"], "attrs": {"output_size": [1, 1]}},
              {"name": "flat", "op": "flatten", "inputs": ["pool"]},
              {"name": "fc", "op": "linear", "inputs": ["flat"], "params": {"weight": "fc.weight", "bias": "fc.bias"}}],
    "outputs": ["fc"]})";
  const std::vector<float> w{1, 2, 3, -1, 0, 1}, b{0.5f, -0.5f};
  save_safetensors(dir / "weights.safetensors",
                   {{"fc.weight", Tensor::from_vector(std::span<const float>(w), {2, 3})},
                    {"fc.bias", Tensor::from_vector(std::span<const float>(b), {2})}});
  return dir;
}

}  // namespace

TEST_SUITE("apps.cli.images") {
  TEST_CASE("a 1 x 11000 PNG for a 224 x 224 model: a one-line ResourceError naming the file, not a segfault") {
    const fs::path dir = rgb224_graph(fresh_dir("tall"));
    const fs::path tall = dir / "tall.png";
    viz::write_png(tall.string(), viz::Image::blank(1, 11000, 1, 128));
    CHECK(fs::file_size(tall) < 1000);
    const Run r = cli({"explain", "--graph", (dir / "graph.json").string(), "--weights",
                       (dir / "weights.safetensors").string(), "--input", tall.string(), "--out",
                       (dir / "r.safetensors").string(), "--quiet"});
    CAPTURE(r.err);
    CHECK(refused_as_too_large(r.status));
    CHECK(lines(r.err) == 1);
    CHECK(contains(r.err, "'" + tall.string() + "'"));
    CHECK(contains(r.err, "256 x 2816000"));
    CHECK(contains(r.err, "1 GiB"));
    CHECK_FALSE(fs::exists(dir / "r.safetensors"));
    // The same picture with --crop 1 on the digits model fits, and explains.
    const Run ok = cli(digits(tall.string(), dir / "d.safetensors"));
    CAPTURE(ok.err);
    CHECK(ok.status == 0);
  }

  TEST_CASE("--crop 0.000001 on a picture: a one-line error naming --crop and the file, not std::bad_alloc") {
    const fs::path dir = fresh_dir("crop");
    const fs::path pic = dir / "pic.png";
    viz::write_png(pic.string(), viz::Image::blank(12, 10, 1, 50));
    auto args = digits(pic.string(), dir / "r.safetensors");
    args.insert(args.end(), {"--crop", "0.000001"});
    const Run r = cli(args);
    CAPTURE(r.err);
    CHECK(refused_as_too_large(r.status));
    CHECK(lines(r.err) == 1);
    CHECK(contains(r.err, "--crop"));
    CHECK(contains(r.err, pic.string()));
    CHECK_FALSE(contains(r.err, "internal error"));
  }

  TEST_CASE("--scale: 0 (automatic) or 1..1024; a heatmap past the picture limit is refused before it is drawn") {
    const fs::path dir = fresh_dir("scale");
    const fs::path pic = dir / "pic.png";
    viz::write_png(pic.string(), viz::Image::blank(8, 8, 1, 50));
    for (const char* bad : {"19173962", "100000", "-1"}) {
      CAPTURE(bad);
      auto args = digits(pic.string(), dir / "r.safetensors");
      args.insert(args.end(), {"--heatmap", "--scale", bad});
      const Run r = cli(args);
      CAPTURE(r.err);
      CHECK(r.status == 1);
      CHECK(lines(r.err) == 1);
      CHECK(contains(r.err, std::string("--scale '") + bad + "': must be >= 0 and <= 1024"));
      CHECK_FALSE(fs::exists(dir / "r.png"));
    }
    // 224 x 1000 a side: within the range, past the byte limit; names --scale and the limit.
    const fs::path g = rgb224_graph(fresh_dir("scale224"));
    const fs::path photo = g / "photo.png";
    viz::write_png(photo.string(), viz::Image::blank(300, 250, 3, 99));
    const Run big = cli({"explain", "--graph", (g / "graph.json").string(), "--weights",
                         (g / "weights.safetensors").string(), "--input", photo.string(), "--out",
                         (g / "r.safetensors").string(), "--quiet", "--overlay", "--scale", "1000"});
    CAPTURE(big.err);
    CHECK(refused_as_too_large(big.status));
    CHECK(lines(big.err) == 1);
    CHECK(contains(big.err, "--scale 1000"));
    CHECK(contains(big.err, "1 GiB"));
    CHECK_FALSE(fs::exists(g / "r.overlay.png"));
    // A usable magnification still draws.
    auto ok = digits(pic.string(), dir / "ok.safetensors");
    ok.insert(ok.end(), {"--heatmap", "--scale", "3"});
    REQUIRE(cli(ok).status == 0);
    CHECK(viz::read_image((dir / "ok.png").string()).width == 24);
  }

  TEST_CASE("--input by content: WebP, TIFF and broken JPEGs named as pictures; a PSD read; safetensors by any name") {
    const fs::path dir = fresh_dir("formats");
    struct Case {
      const char* seed;
      const char* name;  // the file name given
      const char* message;
    };
    const Case cases[] = {
        {"webp_lossless.webp", "x.webp", "is a WebP picture"},
        {"tiff_le.tif", "x.tiff", "is a TIFF picture"},
        {"webp_lossless.webp", "x.safetensors", "is a WebP picture"},  // the name does not matter
        {"truncated_jpeg.jpg", "x.jpg", "is a JPEG picture that cannot be decoded"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      fs::copy_file(kCorpus + c.seed, dir / c.name, fs::copy_options::overwrite_existing);
      const Run r = cli(digits((dir / c.name).string(), dir / "r.safetensors"));
      CAPTURE(r.err);
      CHECK(r.status == 1);
      CHECK(lines(r.err) == 1);
      CHECK(contains(r.err, c.message));
      CHECK_FALSE(contains(r.err, "safetensors header"));
      CHECK_FALSE(contains(r.err, "png sig"));
    }
    // stb_image reads PSD (the composite image): a grey model takes its luma.
    const Run psd = cli(digits(kCorpus + "psd_rgb_2x2.psd", dir / "psd.safetensors"));
    CAPTURE(psd.err);
    CHECK(psd.status == 0);
    CHECK(fs::exists(dir / "psd.safetensors"));
    // A safetensors input named like a picture is read as safetensors.
    const Tensor x = SafetensorsFile::open(kDemo + "digits/samples.safetensors").get("x").slice(0, 0, 1).contiguous();
    save_safetensors(dir / "digit.png", {{"x", x}});
    const Run st = cli(digits((dir / "digit.png").string(), dir / "st.safetensors"));
    CAPTURE(st.err);
    CHECK(st.status == 0);
  }

  TEST_CASE("a graph input whose height passes int: refused as too large for a picture, not wrapped to 8") {
    const fs::path dir = fresh_dir("hugeinput");
    // 2^32 + 8 rows: cast to int, the height would read 8.
    std::ofstream(dir / "graph.json") << R"({"format": "relprop-graph", "version": 1,
      "inputs": [{"name": "x", "shape": [-1, 1, 4294967304, 8]}],
      "nodes": [{"name": "pool", "op": "adaptive_avg_pool2d", "inputs": ["x"], "attrs": {"output_size": [1, 1]}},
                {"name": "flat", "op": "flatten", "inputs": ["pool"]},
                {"name": "fc", "op": "linear", "inputs": ["flat"], "params": {"weight": "fc.weight"}}],
      "outputs": ["fc"]})";
    const std::vector<float> w{1, -1};
    save_safetensors(dir / "weights.safetensors", {{"fc.weight", Tensor::from_vector(std::span<const float>(w), {2, 1})}});
    const fs::path pic = dir / "pic.png";
    viz::write_png(pic.string(), viz::Image::blank(8, 8, 1, 50));
    const Run r = cli({"explain", "--graph", (dir / "graph.json").string(), "--weights",
                       (dir / "weights.safetensors").string(), "--input", pic.string(), "--out",
                       (dir / "r.safetensors").string(), "--quiet"});
    CAPTURE(r.err);
    CHECK(r.status == 1);
    CHECK(lines(r.err) == 1);
    CHECK(contains(r.err, "larger than a picture can be"));
    CHECK(contains(r.err, "4294967304"));
  }
}
