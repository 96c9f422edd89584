// The command-line tool, run in-process: the worked example end to end, the result file,
// and one-line errors with a non-zero status on bad input.

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "apps/cli_run.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/graph.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/viz/image.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";

using relprop::testing::cli;
using relprop::testing::Run;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_cli";
  fs::create_directories(dir);
  return dir / name;
}

std::vector<std::string> explain_args(const fs::path& out) {
  return {"explain", "--graph", kDir + "graph.json", "--weights", kDir + "weights.safetensors",
          "--input", kDir + "input.safetensors", "--out", out.string()};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_SUITE("apps.cli") {
  TEST_CASE("the worked example: backtrace / and zero with a one-hot seed x 100") {
    const fs::path out = scratch("worked.safetensors");
    for (const auto& extra : {std::vector<std::string>{"--composite", "backtrace"},
                              std::vector<std::string>{"--composite", "zero", "--seed", "one-hot", "--multiplier", "100"}}) {
      auto args = explain_args(out);
      args.insert(args.end(), extra.begin(), extra.end());
      const Run r = cli(args);
      CAPTURE(r.err);
      REQUIRE(r.status == 0);
      CHECK(contains(r.out, "x  [3.846, 30.769, 57.692]"));
      CHECK(contains(r.out, "target    1 (arg-max)"));
      const SafetensorsFile f = SafetensorsFile::open(out);
      CHECK(f.names() == std::vector<std::string>{"output", "x"});
      const Tensor x = f.get("x");
      CHECK(x.get({0, 0}) == doctest::Approx(100 * 0.1 / 2.6).epsilon(1e-6));
      CHECK(x.get({0, 1}) == doctest::Approx(100 * 0.8 / 2.6).epsilon(1e-6));
      CHECK(x.get({0, 2}) == doctest::Approx(100 * 1.5 / 2.6).epsilon(1e-6));
      CHECK(f.get("output").get({0, 0}) == doctest::Approx(1.8).epsilon(1e-6));
      CHECK(f.get("output").get({0, 1}) == doctest::Approx(2.6).epsilon(1e-6));
    }
  }

  TEST_CASE("backtrace-contrastive writes NAME.positive and NAME.negative, each conserved (no bias sink)") {
    const fs::path out = scratch("contrast.safetensors");
    auto args = explain_args(out);
    args.insert(args.end(), {"--composite", "backtrace-contrastive", "--keep", "fc"});
    const Run r = cli(args);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "x.positive"));
    const SafetensorsFile f = SafetensorsFile::open(out);
    CHECK(f.names() == std::vector<std::string>{"fc.negative", "fc.positive", "output", "x.negative", "x.positive"});
    // R+ = 100 on output 1 (z = 2.6); R- = output 0's value, scaled to 100. Every
    // contribution is positive, so each map spreads by x_j w_kj / P_k (bias not a sink).
    const Tensor p = f.get("x.positive"), n = f.get("x.negative");
    CHECK(p.get({0, 0}) == doctest::Approx(100 * 0.1 / 2.4).epsilon(1e-5));
    CHECK(p.get({0, 2}) == doctest::Approx(100 * 1.5 / 2.4).epsilon(1e-5));
    CHECK(n.get({0, 0}) == doctest::Approx(100 * 0.5 / 1.7).epsilon(1e-5));
    CHECK(n.get({0, 1}) == doctest::Approx(100 * 0.6 / 1.7).epsilon(1e-5));
    CHECK(sum_all(p) == doctest::Approx(100.0).epsilon(1e-5));
    CHECK(sum_all(n) == doctest::Approx(100.0).epsilon(1e-5));
  }

  TEST_CASE("gradient-x-input: x times the one-hot gradient of the arg-max class") {
    const fs::path out = scratch("gxi.safetensors");
    auto args = explain_args(out);
    args.insert(args.end(), {"--composite", "gradient-x-input", "--quiet"});
    REQUIRE(cli(args).status == 0);
    const Tensor x = SafetensorsFile::open(out).get("x");
    CHECK(x.get({0, 0}) == doctest::Approx(1 * 0.1));
    CHECK(x.get({0, 1}) == doctest::Approx(2 * 0.4));
    CHECK(x.get({0, 2}) == doctest::Approx(3 * 0.5));
  }

  TEST_CASE("keep all / target / epsilon and per-node rules") {
    const fs::path out = scratch("keep.safetensors");
    auto args = explain_args(out);
    for (const char* a : {"--composite", "epsilon", "--epsilon", "0.1", "--target", "0", "--keep", "all", "--rule", "a*=pass"})
      args.push_back(a);
    const Run r = cli(args);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    const SafetensorsFile f = SafetensorsFile::open(out);
    CHECK(f.names() == std::vector<std::string>{"act", "fc", "output", "x"});
    // Value seed at target 0: R = 1.8 on output 0; epsilon 0.1: s = 1.8 / 1.9.
    const Tensor x = f.get("x");
    CHECK(x.get({0, 0}) == doctest::Approx(0.5 * 1.8 / 1.9).epsilon(1e-6));
    CHECK(x.get({0, 2}) == doctest::Approx(0.6 * 1.8 / 1.9).epsilon(1e-6));
    CHECK(f.get("act").get({0, 0}) == doctest::Approx(1.8));
  }

  TEST_CASE("--rule is checked up front against the op table: the node, its op and the rules it takes") {
    auto args = explain_args(scratch("rule_check.safetensors"));
    for (const char* a : {"--composite", "epsilon", "--rule", "act=zplus"}) args.push_back(a);
    const Run r = cli(args);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "--rule 'act=zplus': node 'act' (relu) does not support rule 'zplus' (supported: pass, "
                          "gradient, backtrace)"));
    CHECK_FALSE(fs::exists(scratch("rule_check.safetensors")));
  }

  TEST_CASE("relprop ops lists the op table; README.md carries it as relprop ops --markdown prints it") {
    const Run text = cli({"ops"});
    REQUIRE(text.status == 0);
    for (const OpInfo& op : op_table()) CHECK(contains(text.out, std::string(op.name)));
    const Run md = cli({"ops", "--markdown"});
    REQUIRE(md.status == 0);
    CHECK(contains(md.out, "| `linear` | linear-type | 1 | zero, epsilon, pass, gradient, backtrace, zplus, "));
    std::ifstream in(std::string(RELPROP_SOURCE_DIR) + "/README.md");
    const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string begin = "<!-- relprop ops --markdown: begin -->\n", end = "<!-- relprop ops --markdown: end -->";
    const auto b = readme.find(begin), e = readme.find(end);
    REQUIRE(b != std::string::npos);
    REQUIRE(e != std::string::npos);
    CHECK_MESSAGE(readme.substr(b + begin.size(), e - b - begin.size()) == md.out,
                  "README.md's table differs from relprop ops --markdown: paste the command's output between the markers");
  }

  TEST_CASE("every composite runs on the worked example / epsilon-gamma-box takes --low and --high") {
    for (const char* c : {"zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-gamma-box", "epsilon-alpha2-beta1",
                          "epsilon-alpha2-beta1-flat", "backtrace", "backtrace-contrastive", "gradient", "gradient-x-input"}) {
      auto args = explain_args(scratch("all.safetensors"));
      args.insert(args.end(), {"--composite", c});
      if (std::string(c) == "epsilon-gamma-box") args.insert(args.end(), {"--low", "0/0/0", "--high", "4/4/4"});
      const Run r = cli(args);
      CAPTURE(c);
      CAPTURE(r.err);
      CHECK(r.status == 0);
    }
    // z^B through a per-node rule (epsilon-gamma-box gives it to the first convolution,
    // and this model has none): bounds [0, 4] per input feature, value seed 2.6 on output
    // 1; d = sum_j x_j w_j - 4 * 0 (no negative weights) = 2.4.
    auto args = explain_args(scratch("box.safetensors"));
    args.insert(args.end(), {"--composite", "epsilon", "--rule", "fc=zbox:0,4", "--quiet"});
    REQUIRE(cli(args).status == 0);
    const Tensor x = SafetensorsFile::open(scratch("box.safetensors")).get("x");
    CHECK(x.get({0, 1}) == doctest::Approx(0.8 * 2.6 / 2.4).epsilon(1e-5));
    // Two per-channel bounds for three input features, and low above high, are errors.
    auto bad = explain_args(scratch("box.safetensors"));
    bad.insert(bad.end(), {"--rule", "fc=zbox:0/0,4/4"});
    Run r = cli(bad);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "2 per-channel bounds"));
    bad = explain_args(scratch("box.safetensors"));
    bad.insert(bad.end(), {"--composite", "epsilon-gamma-box", "--low", "5", "--high", "4"});
    r = cli(bad);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "low 5 is above high 4"));
  }

  TEST_CASE("regression and segmentation tasks / scaler and max-unit") {
    const fs::path out = scratch("task.safetensors");
    auto args = explain_args(out);
    args.insert(args.end(), {"--composite", "zero", "--task", "regression", "--outputs", "0,1", "--scaler", "10"});
    Run r = cli(args);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "task      regression, seed sum 4.400"));
    CHECK(sum_all(SafetensorsFile::open(out).get("x")) == doctest::Approx(10.0).epsilon(1e-5));
    args = explain_args(out);
    args.insert(args.end(), {"--composite", "zero", "--task", "segmentation", "--threshold", "2", "--max-unit", "1"});
    r = cli(args);
    REQUIRE(r.status == 0);
    // Only output 1 (2.6) is above 2: x relevance proportional to [0.1, 0.8, 1.5], largest scaled to 1.
    const Tensor x = SafetensorsFile::open(out).get("x");
    CHECK(x.get({0, 2}) == doctest::Approx(1.0));
    CHECK(x.get({0, 0}) == doctest::Approx(0.1 / 1.5).epsilon(1e-5));
    args = explain_args(out);
    args.insert(args.end(), {"--task", "detection"});
    CHECK(cli(args).status == 1);
  }

  TEST_CASE("--model builds a known architecture and refuses a checkpoint of another") {
    const fs::path w = scratch("mlp.safetensors"), in = scratch("mlp_in.safetensors"), out = scratch("mlp_out.safetensors");
    save_safetensors(w, {{"layers.0.weight", Tensor::full({2, 3}, 0.5)}, {"layers.0.bias", Tensor::zeros({2})},
                         {"layers.2.weight", Tensor::full({1, 2}, 1.0)}, {"layers.2.bias", Tensor::zeros({1})}});
    save_safetensors(in, {{"x", Tensor::from_vector({1.f, 2.f, 3.f}, {1, 3})}});
    const std::vector<std::string> base = {"explain", "--model", "mlp:3,2,1", "--weights", w.string(), "--input",
                                           in.string(), "--out", out.string(), "--composite", "zero"};
    Run r = cli(base);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    // y = 2 * 0.5 * (1 + 2 + 3) = 6; LRP-0 with the value seed gives x * dy/dx = x * 1.
    CHECK(SafetensorsFile::open(out).get("x").to_vector() == std::vector<float>{1.f, 2.f, 3.f});
    save_safetensors(w, {{"layers.0.weight", Tensor::full({2, 3}, 0.5)}, {"layers.0.bias", Tensor::zeros({2})},
                         {"layers.2.weight", Tensor::full({1, 2}, 1.0)}, {"layers.2.bias", Tensor::zeros({1})},
                         {"head.weight", Tensor::zeros({1})}});
    r = cli(base);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "does not have: head.weight"));
    auto both = base;
    both.insert(both.end(), {"--graph", kDir + "graph.json"});
    CHECK(contains(cli(both).err, "give one of --graph and --model"));
  }

  TEST_CASE("--conv-algorithm winograd holds for the command only") {
    const fs::path out = scratch("winograd.safetensors");
    set_conv_algorithm(ConvAlgorithm::Direct);
    auto args = explain_args(out);
    args.insert(args.end(), {"--conv-algorithm", "winograd", "--composite", "epsilon"});
    const Run r = cli(args);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(conv_algorithm() == ConvAlgorithm::Direct);  // restored when the command ends
    const Run plain = cli({"explain", "--graph", kDir + "graph.json", "--weights", kDir + "weights.safetensors", "--input",
                           kDir + "input.safetensors", "--out", scratch("direct.safetensors").string(), "--composite",
                           "epsilon"});
    REQUIRE(plain.status == 0);
    // The worked example has no convolution: the same relevance either way.
    CHECK(SafetensorsFile::open(out).get("x").to_vector() ==
          SafetensorsFile::open(scratch("direct.safetensors")).get("x").to_vector());
  }

  TEST_CASE("inspect lists names / dtypes / shapes and sizes") {
    const Run r = cli({"inspect", kDir + "weights.safetensors"});
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "2 tensors"));
    CHECK(contains(r.out, "fc.weight"));
    CHECK(contains(r.out, "(2, 3)"));
    CHECK(contains(r.out, "24 bytes"));
  }

  TEST_CASE("bad input: one-line error / non-zero status / nothing overwritten") {
    const fs::path out = scratch("bad.safetensors");
    struct Bad {
      std::vector<std::string> extra;
      std::string message;
    };
    const Bad cases[] = {
        {{"--composite", "nope"}, "unknown composite 'nope'"},
        {{"--target", "7"}, "target class 7 is out of range"},
        {{"--rule", "fc=fancy:0.25"}, "unknown rule 'fancy'"},
        {{"--rule", "zz*=zero"}, "no node matches 'zz*'"},
        {{"--rule", "act=epsilon"}, "'act' (relu) does not support rule 'epsilon"},
        {{"--seed", "maybe"}, "--seed must be"},
        {{"--conv-algorithm", "fft"}, "--conv-algorithm must be 'direct' or 'winograd', got 'fft'"},
    };
    for (const auto& c : cases) {
      auto args = explain_args(out);
      args.insert(args.end(), c.extra.begin(), c.extra.end());
      const Run r = cli(args);
      CAPTURE(r.err);
      CHECK(r.status == 1);
      CHECK(lines(r.err) == 1);
      CHECK(contains(r.err, c.message));
    }
    // --out naming one of the inputs is refused, and the file is left as it was.
    const fs::path copy = scratch("input_copy.safetensors");
    fs::copy_file(kDir + "input.safetensors", copy, fs::copy_options::overwrite_existing);
    const auto before = fs::file_size(copy);
    auto args = explain_args(copy);
    args[6] = copy.string();  // --input copy, --out copy
    const Run r = cli(args);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "refusing to overwrite"));
    CHECK(fs::file_size(copy) == before);
    // Missing files and malformed ones.
    CHECK(cli({"inspect", "/nonexistent.safetensors"}).status == 1);
    const Run g = cli({"inspect", kDir + "graph.json"});
    CHECK(g.status == 1);
    CHECK(lines(g.err) == 1);
    CHECK(cli({"explain", "--graph", kDir + "graph.json"}).status != 0);  // usage error
    CHECK(cli({}).status != 0);
  }

  TEST_CASE("an input file with a wrong shape or an unknown tensor is rejected by name") {
    const fs::path in = scratch("wrong_input.safetensors");
    save_safetensors(in, {{"x", Tensor::zeros({1, 4})}});
    auto args = explain_args(scratch("o.safetensors"));
    args[6] = in.string();
    Run r = cli(args);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "input 'x' has shape (1, 4)"));
    save_safetensors(in, {{"x", Tensor::zeros({1, 3})}, {"y", Tensor::zeros({1})}});
    r = cli(args);
    CHECK(r.status == 1);
    CHECK(contains(r.err, "'y' is not an input of the graph"));
  }
}

// ---- the demo, pictures, many inputs ----------------------------------------------------

namespace {

const std::string kDemo = std::string(RELPROP_SOURCE_DIR) + "/examples/demo/";

fs::path fresh_dir(const std::string& name) {
  const fs::path d = scratch(name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector_f64(), y = b.to_vector_f64();
  REQUIRE(x.size() == y.size());
  double d = 0, m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(x[i] - y[i]));
    m = std::max(m, std::abs(y[i]));
  }
  return m > 0 ? d / m : d;
}

// The demo's digits written out as 8x8 PNG files (grey, 0..255).
std::vector<fs::path> digit_pngs(const fs::path& dir, int count) {
  const auto f = SafetensorsFile::open(kDemo + "digits/samples.safetensors");
  const Tensor x = f.get("x");
  std::vector<fs::path> files;
  for (int i = 0; i < count; ++i) {
    viz::Image im = viz::Image::blank(8, 8, 1);
    for (int k = 0; k < 64; ++k)
      im.pixels[k] = static_cast<std::uint8_t>(std::lround(x.get({i, 0, k / 8, k % 8}) * 255.0));
    char name[32];
    std::snprintf(name, sizeof name, "digit%02d.png", i);
    files.push_back(dir / name);
    viz::write_png(files.back().string(), im);
  }
  return files;
}

std::vector<std::string> digits_args(const std::string& input, const std::string& out) {
  // The PNGs hold 0..255; the model reads 0..1: mean 0, std 1 (the default for grey).
  return {"explain", "--graph", kDemo + "digits/graph.json", "--weights", kDemo + "digits/weights.safetensors",
          "--input", input, "--out", out, "--composite", "epsilon-plus", "--crop", "1"};
}

}  // namespace

TEST_SUITE("apps.demo") {
  TEST_CASE("the demo models (exported by tools/export_torch.py) give PyTorch's outputs") {
    for (const char* m : {"digits", "cancer"}) {
      CAPTURE(m);
      Graph g = Graph::load(kDemo + m + "/graph.json");
      g.bind(SafetensorsFile::open(kDemo + m + "/weights.safetensors"));
      const Tensor x = SafetensorsFile::open(kDemo + m + "/samples.safetensors").get("x");
      const Tensor want = SafetensorsFile::open(kDemo + m + "/expected.safetensors").get("output");
      CHECK(max_rel_diff(g.forward({{"x", x}})[0], want) <= 1e-5);
    }
  }

  TEST_CASE("relprop demo: digits, breast cancer, their pictures, and heatmaps on the strokes") {
    const fs::path out = fresh_dir("demo");
    const Run r = cli({"demo", "--out", out.string()});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "20/20 predicted correctly"));
    // The share of positive relevance on the pen strokes, averaged over the digits.
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("on average ([0-9.]+)% of the positive relevance")));
    CHECK(std::stod(m[1]) >= 90.0);
    CHECK(contains(r.out, "patient 0: predicted"));
    CHECK(contains(r.out, "most relevant:"));
    const viz::Image grid = viz::read_image((out / "digits" / "grid.png").string());
    CHECK(grid.width == 10 * 128 + 9 * 4);
    CHECK(grid.height == 4 * 128 + 3 * 4);
    CHECK(fs::exists(out / "digits" / "digit_00_label0.png"));
    CHECK(fs::exists(out / "digits" / "digit_19_label9.overlay.png"));
    CHECK(fs::exists(out / "cancer" / "patient_7.png"));
    std::ifstream csv(out / "cancer" / "patient_0.csv");
    std::string header, first;
    std::getline(csv, header);
    std::getline(csv, first);
    CHECK(header == "rank,feature,value,relevance");
    CHECK(first.rfind("1,", 0) == 0);
    // Not a folder: a typed error, nothing written.
    const fs::path file = scratch("demo_file");
    std::ofstream(file) << "x";
    const Run bad = cli({"demo", "--out", file.string()});
    CHECK(bad.status == 1);
    CHECK(contains(bad.err, "not a folder"));
    CHECK(cli({"demo", "--data", "/nonexistent"}).status == 1);
  }

  TEST_CASE("explain an image file: heatmap and overlay beside the result") {
    const fs::path dir = fresh_dir("one_image");
    const auto files = digit_pngs(dir, 1);
    auto args = digits_args(files[0].string(), (dir / "r.safetensors").string());
    args.insert(args.end(), {"--heatmap", "--overlay", "--cmap", "coldnhot"});
    const Run r = cli(args);
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "target    0 (arg-max)"));
    const viz::Image h = viz::read_image((dir / "r.png").string());
    CHECK(h.width == 128);  // 8 px magnified to >= 128
    CHECK(fs::exists(dir / "r.overlay.png"));
    // The input relevance equals explaining the same tensor from a safetensors file.
    const Tensor R = SafetensorsFile::open(dir / "r.safetensors").get("x");
    CHECK(R.shape() == Shape{1, 1, 8, 8});
    CHECK(cli({"explain", "--graph", kDemo + "digits/graph.json", "--weights", kDemo + "digits/weights.safetensors",
               "--input", files[0].string(), "--out", (dir / "r2.safetensors").string(), "--cmap", "nope"})
              .status == 1);
    // A batch of four in one file: one heatmap per sample, in a 2 x 2 grid.
    const Tensor four = SafetensorsFile::open(kDemo + "digits/samples.safetensors").get("x").slice(0, 0, 4).contiguous();
    save_safetensors(dir / "four.safetensors", {{"x", four}});
    const Run b = cli({"explain", "--graph", kDemo + "digits/graph.json", "--weights", kDemo + "digits/weights.safetensors",
                       "--input", (dir / "four.safetensors").string(), "--out", (dir / "four_r.safetensors").string(),
                       "--heatmap", "--overlay"});
    CAPTURE(b.err);
    REQUIRE(b.status == 0);
    const viz::Image g = viz::read_image((dir / "four_r.png").string());
    CHECK(g.width == 2 * 128 + 4);
    CHECK(g.height == 2 * 128 + 4);
    CHECK(viz::read_image((dir / "four_r.overlay.png").string()).width == 2 * 128 + 4);
  }

  TEST_CASE("a table with feature names: ranked CSV and chart") {
    const fs::path dir = fresh_dir("table");
    // One patient as its own input file.
    const Tensor x = SafetensorsFile::open(kDemo + "cancer/samples.safetensors").get("x").slice(0, 1, 2).contiguous();
    save_safetensors(dir / "patient.safetensors", {{"x", x}});
    const Run r = cli({"explain", "--graph", kDemo + "cancer/graph.json", "--weights", kDemo + "cancer/weights.safetensors",
                       "--input", (dir / "patient.safetensors").string(), "--out", (dir / "r.safetensors").string(),
                       "--features", kDemo + "cancer/meta.json", "--summary"});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "top features of x"));
    CHECK(fs::exists(dir / "r.features.png"));
    CHECK(fs::exists(dir / "r.layers.png"));
    std::ifstream csv(dir / "r.features.csv");
    int rows = 0;
    for (std::string line; std::getline(csv, line);) ++rows;
    CHECK(rows == 31);
    std::ifstream layers(dir / "r.layers.csv");
    std::string header;
    std::getline(layers, header);
    CHECK(header == "node,op,rule,relevance_out,relevance_in,absorbed_percent");
    // Wrong number of names: a typed error.
    std::ofstream(dir / "names.txt") << "a\nb\n";
    const Run bad = cli({"explain", "--graph", kDemo + "cancer/graph.json", "--weights", kDemo + "cancer/weights.safetensors",
                         "--input", (dir / "patient.safetensors").string(), "--out", (dir / "r3.safetensors").string(),
                         "--features", (dir / "names.txt").string()});
    CHECK(bad.status == 1);
    CHECK(contains(bad.err, "names 2"));
    // --heatmap on a table is refused.
    CHECK(cli({"explain", "--graph", kDemo + "cancer/graph.json", "--weights", kDemo + "cancer/weights.safetensors",
               "--input", (dir / "patient.safetensors").string(), "--out", (dir / "r4.safetensors").string(), "--heatmap"})
              .status == 1);
  }

  TEST_CASE("a folder of inputs: batched like one by one, resumed, sharded") {
    const fs::path in = fresh_dir("many_in");
    digit_pngs(in, 7);
    const fs::path one = scratch("many_one"), batched = scratch("many_batched");
    fs::remove_all(one);
    fs::remove_all(batched);
    Run r = cli(digits_args(in.string(), one.string()));
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "explained 7 inputs"));
    auto args = digits_args(in.string(), batched.string());
    args.insert(args.end(), {"--batch-size", "3", "--heatmap"});
    r = cli(args);
    REQUIRE(r.status == 0);
    for (int i = 0; i < 7; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "digit%02d", i);
      CAPTURE(name);
      const Tensor a = SafetensorsFile::open(one / (std::string(name) + ".safetensors")).get("x");
      const Tensor b = SafetensorsFile::open(batched / (std::string(name) + ".safetensors")).get("x");
      CHECK(a.shape() == Shape{1, 1, 8, 8});
      CHECK(max_rel_diff(b, a) <= 1e-5);
      CHECK(fs::exists(batched / (std::string(name) + ".png")));
    }
    // Re-run: everything is already there.
    r = cli(args);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "explained 0 inputs (7 already done, skipped)"));
    // Remove two results: only those are redone.
    fs::remove(batched / "digit02.safetensors");
    fs::remove(batched / "digit05.safetensors");
    r = cli(args);
    CHECK(contains(r.out, "explained 2 inputs (5 already done, skipped)"));

    // Shards 0/2 and 1/2 split the sorted list: 4 + 3, no overlap.
    const fs::path sharded = scratch("many_sharded");
    fs::remove_all(sharded);
    auto s0 = digits_args(in.string(), sharded.string());
    s0.insert(s0.end(), {"--shard", "0/2"});
    r = cli(s0);
    CHECK(contains(r.out, "explained 4 inputs"));
    CHECK(fs::exists(sharded / "digit00.safetensors"));
    CHECK_FALSE(fs::exists(sharded / "digit01.safetensors"));
    auto s1 = digits_args(in.string(), sharded.string());
    s1.insert(s1.end(), {"--shard", "1/2"});
    r = cli(s1);
    CHECK(contains(r.out, "explained 3 inputs"));
    CHECK(fs::exists(sharded / "digit01.safetensors"));
    for (const char* bad : {"2/2", "x", "1/0", "-1/2"}) {
      auto b = digits_args(in.string(), sharded.string());
      b.insert(b.end(), {"--shard", bad});
      CHECK(cli(b).status == 1);
    }

    // A list file, relative paths and comments; a missing entry is named.
    std::ofstream(in / "list.txt") << "# two digits\ndigit01.png\n\ndigit03.png\n";
    const fs::path listed = scratch("many_listed");
    fs::remove_all(listed);
    r = cli(digits_args((in / "list.txt").string(), listed.string()));
    CHECK(contains(r.out, "explained 2 inputs"));
    std::ofstream(in / "bad.txt") << "digit01.png\nnope.png\n";
    r = cli(digits_args((in / "bad.txt").string(), listed.string()));
    CHECK(r.status == 1);
    CHECK(contains(r.err, "line 2"));
    // --out a file while the input is a folder: refused.
    r = cli(digits_args(in.string(), (in / "digit00.png").string()));
    CHECK(r.status == 1);
  }
}

TEST_SUITE("apps.text") {
  TEST_CASE("relprop explain --model MINILM_DIR --text: tokens, HTML, result keys; --input with ids") {
    const fs::path model = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "models" / "all-MiniLM-L6-v2";
    if (!fs::exists(model / "model.safetensors")) {
      MESSAGE("skipped: " << model.string() << " is absent (tools/fetch_minilm.sh)");
      return;
    }
    const fs::path dir = fresh_dir("text");
    Run r = cli({"explain", "--model", model.string(), "--text", "The quick brown fox jumps over the lazy dog.",
                 "--composite", "attnlrp", "--compare", "A fast animal leaps.", "--out", (dir / "fox.safetensors").string()});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "cosine similarity to \"A fast animal leaps.\""));
    CHECK(contains(r.out, "token relevance"));
    CHECK(contains(r.out, "  jumps "));
    CHECK(fs::exists(dir / "fox.html"));
    const auto f = SafetensorsFile::open(dir / "fox.safetensors");
    CHECK(f.names() == std::vector<std::string>{"input_ids", "output"});
    CHECK(f.get("input_ids").shape() == Shape{1, 12});
    // The same token ids from a file give the same relevance (no --compare: the length).
    const std::vector<std::int64_t> ids{101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102};
    save_safetensors(dir / "ids.safetensors",
                     {{"input_ids", Tensor::from_vector(std::span<const std::int64_t>(ids), {1, 12})}});
    r = cli({"explain", "--model", model.string(), "--input", (dir / "ids.safetensors").string(), "--composite",
             "cp-lrp", "--out", (dir / "ids_r.safetensors").string(), "--keep", "all"});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "the embedding's length"));
    {
      // The seed sums to |e|, the length of the output embedding.
      std::smatch mm;
      REQUIRE(std::regex_search(r.out, mm, std::regex("length \\|e\\| = ([0-9.]+)")));
      const auto e = SafetensorsFile::open(dir / "ids_r.safetensors").get("output").to_vector_f64();
      double n = 0;
      for (double x : e) n += x * x;
      CHECK(std::stod(mm[1]) == doctest::Approx(std::sqrt(n)).epsilon(1e-3));
    }
    CHECK(contains(r.out, "  fox "));
    const auto g = SafetensorsFile::open(dir / "ids_r.safetensors");
    CHECK(g.contains("encoder.layer.5.output.LayerNorm"));
    // Bad combinations: typed one-line errors.
    CHECK(cli({"explain", "--model", model.string(), "--out", (dir / "x.safetensors").string()}).status == 1);
    CHECK(cli({"explain", "--model", model.string(), "--text", "hi", "--weights", "w.safetensors", "--out",
               (dir / "x.safetensors").string()})
              .status == 1);
    CHECK(cli({"explain", "--model", "resnet18", "--text", "hi", "--out", (dir / "x.safetensors").string()}).status == 1);
  }
}

TEST_SUITE("apps.text") {
  TEST_CASE("relprop explain on GPT-2 (tiny fixture): the next token, tokens, HTML; --target a token id") {
    const fs::path model = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "gpt2_tiny";
    const fs::path dir = fresh_dir("gpt2");
    Run r = cli({"explain", "--model", model.string(), "--text", "the quick brown fox", "--composite", "attnlrp",
                 "--out", (dir / "g.safetensors").string()});
    CAPTURE(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, "(arg-max) = next token"));
    CHECK(contains(r.out, "token relevance"));
    CHECK(fs::exists(dir / "g.html"));
    const auto f = SafetensorsFile::open(dir / "g.safetensors");
    CHECK(f.names() == std::vector<std::string>{"input_ids", "output"});
    CHECK(f.get("output").shape() == Shape{1, 657});
    r = cli({"explain", "--model", model.string(), "--text", "the quick brown fox", "--composite", "cp-lrp", "--target",
             "221", "--out", (dir / "g2.safetensors").string()});
    CHECK(contains(r.out, "target    221 = next token"));
    // Several target tokens: their logits summed into one seed.
    r = cli({"explain", "--model", model.string(), "--text", "the quick brown fox", "--targets", "221,300", "--out",
             (dir / "g5.safetensors").string()});
    CAPTURE(r.err);
    CHECK(r.status == 0);
    CHECK(contains(r.out, "target    221, 300 (their sum)"));
    // A token id outside the vocabulary is an IndexError, one line.
    r = cli({"explain", "--model", model.string(), "--text", "the fox", "--target", "100000", "--out",
             (dir / "g3.safetensors").string()});
    CHECK(r.status == 1);
    CHECK(lines(r.err) == 1);
    // --compare is for sentence embeddings only.
    CHECK(cli({"explain", "--model", model.string(), "--text", "the fox", "--compare", "a dog", "--out",
               (dir / "g4.safetensors").string()})
              .status == 1);
  }
}
