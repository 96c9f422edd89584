// The command-line tool, run in-process: the worked example end to end, the result file,
// and one-line errors with a non-zero status on bad input.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/cli.hpp"
#include "io/safetensors.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";

struct Run {
  int status;
  std::string out, err;
};

Run cli(std::vector<std::string> args) {
  args.insert(args.begin(), "relprop");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, out.str(), err.str()};
}

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

  TEST_CASE("every composite runs on the worked example / epsilon-gamma-box takes --low and --high") {
    for (const char* c : {"zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-gamma-box", "epsilon-alpha2-beta1",
                          "epsilon-alpha2-beta1-flat", "backtrace", "backtrace-contrastive", "gradient", "gradient-x-input"}) {
      auto args = explain_args(scratch("all.safetensors"));
      args.insert(args.end(), {"--composite", c, "--low", "0/0/0", "--high", "4/4/4"});
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
