// `relprop explain`'s numbers: every numeric option read strictly and checked at parse time
// (a one-line error naming the option and the text), options that would change nothing
// refused, NaN and infinity in weights and inputs refused by tensor name and index unless
// --allow-nonfinite, and --model mlp:... built with the sizes given.

#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "apps/cli_run.hpp"
#include "relprop/io/safetensors.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RELPROP_SOURCE_DIR) + "/examples/worked/";

using relprop::testing::cli;
using relprop::testing::Run;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "relprop_test_cli_numbers";
  fs::create_directories(dir);
  return dir / name;
}

std::vector<std::string> explain_args(const std::vector<std::string>& extra, const std::string& weights = kDir + "weights.safetensors",
                                      const std::string& input = kDir + "input.safetensors") {
  std::vector<std::string> a = {"explain", "--graph", kDir + "graph.json", "--weights", weights, "--input", input,
                                "--out", scratch("out.safetensors").string(), "--quiet"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Refused {
  std::vector<std::string> extra;
  std::string message;
};

void check_refused(const std::vector<Refused>& cases) {
  for (const auto& c : cases) {
    const Run r = cli(explain_args(c.extra));
    std::string args;
    for (const auto& e : c.extra) args += e + " ";
    CAPTURE(args);
    CAPTURE(r.err);
    CHECK(r.status == 1);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(contains(r.err, "relprop: error: " + c.message));
  }
}

}  // namespace

TEST_SUITE("apps.cli.numbers") {
  TEST_CASE("every numeric option refuses non-finite, out-of-range and malformed text, naming the option") {
    const std::string finite = ": not a finite number (float32: |v| <= 3.40282e+38)";
    check_refused({
        {{"--multiplier", "inf"}, "--multiplier 'inf'" + finite},
        {{"--multiplier", "nan"}, "--multiplier 'nan'" + finite},
        {{"--multiplier", "1e39"}, "--multiplier '1e39'" + finite},
        {{"--multiplier", "8x"}, "--multiplier '8x': not a number"},
        {{"--scaler", "inf"}, "--scaler 'inf'" + finite},
        {{"--scaler", "nan"}, "--scaler 'nan'" + finite},
        {{"--scaler", "-1"}, "--scaler '-1': must be >= 0"},
        {{"--max-unit", "nan"}, "--max-unit 'nan'" + finite},
        {{"--max-unit", "-1"}, "--max-unit '-1': must be >= 0"},
        {{"--epsilon", "inf"}, "--epsilon 'inf'" + finite},
        {{"--epsilon", "-1"}, "--epsilon '-1': must be >= 0"},
        {{"--composite", "epsilon-gamma-box", "--gamma", "nan"}, "--gamma 'nan'" + finite},
        {{"--composite", "epsilon-gamma-box", "--gamma", "-0.5"}, "--gamma '-0.5': must be >= 0"},
        {{"--composite", "epsilon-gamma-box", "--low", "-inf"}, "--low '-inf'" + finite},
        {{"--composite", "epsilon-gamma-box", "--high", "inf"}, "--high 'inf'" + finite},
        {{"--composite", "epsilon-gamma-box", "--low", "0/nan/0"}, "--low 'nan'" + finite},
        {{"--composite", "epsilon-gamma-box", "--low", "0//0"}, "--low '': not a number"},
        {{"--composite", "epsilon-gamma-box", "--low", "4", "--high", "4"}, "zbox: low 4 equals high 4"},
        {{"--target", "1e1"}, "--target '1e1': not an integer"},
        {{"--target", "8x"}, "--target '8x': not an integer"},
        {{"--target", "-1"}, "--target '-1': must be >= 0"},
        {{"--targets", "0,8x"}, "--targets '8x': not an integer"},
        {{"--task", "regression", "--outputs", "1e1"}, "--outputs '1e1': not an integer"},
        {{"--task", "segmentation", "--threshold", "inf"}, "--threshold 'inf'" + finite},
        {{"--heatmap", "--level", "0"}, "--level '0': must be > 0"},
        {{"--heatmap", "--scale", "1e1"}, "--scale '1e1': not an integer"},
        {{"--heatmap", "--scale", "1025"}, "--scale '1025': must be >= 0 and <= 1024"},
        {{"--mean", "inf"}, "--mean 'inf'" + finite},
        {{"--std", "0"}, "--std '0': must be > 0"},
        {{"--std", "0.2,-1"}, "--std '-1': must be > 0"},
        {{"--std", "1e-45"}, "--std '1e-45': too small, (pixel - mean) / std overflows float32"},
        {{"--mean", "1e30", "--std", "1e-10"}, "--std '1e-10': too small"},
        {{"--crop", "nan"}, "--crop 'nan'" + finite},
        {{"--crop", "0"}, "--crop '0': must be > 0 and <= 1"},
        {{"--batch-size", "0"}, "--batch-size '0': must be >= 1"},
        {{"--batch-size", "1e1"}, "--batch-size '1e1': not an integer"},
        // Rule parameters, through the rule parser.
        {{"--rule", "fc=zbox:-inf,inf"}, "rule 'zbox': parameter '-inf' is not a finite number"},
        {{"--rule", "fc=zbox:1,1"}, "zbox: low 1 equals high 1"},
        {{"--rule", "fc=epsilon:nan"}, "rule 'epsilon': parameter 'nan' is not a finite number"},
        {{"--rule", "fc=gamma:1e39"}, "rule 'gamma': parameter '1e39' is not a finite number"},
        {{"--rule", "fc=alpha-beta:inf,1"}, "rule 'alpha-beta': parameter 'inf' is not a finite number"},
    });
    // In range, they run.
    for (const auto& ok : {std::vector<std::string>{"--multiplier", "-2.5", "--scaler", "3", "--max-unit", "0"},
                           std::vector<std::string>{"--std", "1e-38", "--mean", "0", "--crop", "1", "--batch-size", "2"},
                           std::vector<std::string>{"--composite", "epsilon-gamma-box", "--low", "-1/0/0", "--high", "2",
                                                    "--gamma", "0", "--epsilon", "0"}}) {
      const Run r = cli(explain_args(ok));
      CAPTURE(r.err);
      CHECK(r.status == 0);
    }
  }

  TEST_CASE("an option that would change nothing is refused") {
    check_refused({
        {{"--composite", "epsilon", "--gamma", "0.5"}, "--gamma: the composite 'epsilon' has no gamma rule"},
        {{"--composite", "backtrace", "--epsilon", "0.1"}, "--epsilon: the composite 'backtrace' has no epsilon rules"},
        {{"--composite", "gradient", "--low", "0"}, "--low: the composite 'gradient' has no box bounds"},
        {{"--composite", "zero", "--high", "2"}, "--high: the composite 'zero' has no box bounds"},
        {{"--keep", "nothing*"}, "keep 'nothing*': no node matches it (nodes: "},
        {{"--threshold", "1"}, "--threshold applies to --task segmentation only"},
        {{"--outputs", "0"}, "--outputs applies to --task regression only"},
        {{"--level", "2"}, "--level and --scale shape the pictures of --heatmap and --overlay"},
        {{"--task", "regression", "--target", "1"}, "--target applies to --task classification"},
    });
    const Run kept = cli(explain_args({"--keep", "f*"}));
    CAPTURE(kept.err);
    CHECK(kept.status == 0);
  }

  TEST_CASE("NaN and infinity in weights and inputs: refused by tensor and index; --allow-nonfinite proceeds") {
    const SafetensorsFile w = SafetensorsFile::open(kDir + "weights.safetensors");
    Tensor fw = w.get("fc.weight").clone(), fb = w.get("fc.bias").clone();
    fw.set_flat(1 * 3 + 2, NAN);  // (1, 2)
    const fs::path bad_w = scratch("nan_weights.safetensors");
    save_safetensors(bad_w, {{"fc.weight", fw}, {"fc.bias", fb}});
    Run r = cli(explain_args({}, bad_w.string()));
    CHECK(r.status == 1);
    CHECK(contains(r.err, "weight 'fc.weight' (node 'fc') holds nan at (1, 2)"));
    r = cli(explain_args({"--allow-nonfinite"}, bad_w.string()));
    CAPTURE(r.err);
    CHECK(r.status == 0);

    const fs::path bad_x = scratch("inf_input.safetensors");
    save_safetensors(bad_x, {{"x", Tensor::from_vector({0.5f, -INFINITY, 1.f}, {1, 3})}});
    r = cli(explain_args({}, kDir + "weights.safetensors", bad_x.string()));
    CHECK(r.status == 1);
    CHECK(contains(r.err, "input '" + bad_x.string() + "': tensor 'x' holds -inf at (0, 1)"));
    r = cli(explain_args({"--allow-nonfinite"}, kDir + "weights.safetensors", bad_x.string()));
    CHECK(r.status == 0);
  }

  TEST_CASE("--model mlp:IN,HIDDEN,...,OUT builds the sizes given or refuses them") {
    const fs::path w = scratch("mlp.safetensors"), in = scratch("mlp_in.safetensors");
    save_safetensors(w, {{"layers.0.weight", Tensor::full({2, 3}, 0.5)}, {"layers.0.bias", Tensor::zeros({2})},
                         {"layers.2.weight", Tensor::full({1, 2}, 1.0)}, {"layers.2.bias", Tensor::zeros({1})}});
    save_safetensors(in, {{"x", Tensor::from_vector({1.f, 2.f, 3.f}, {1, 3})}});
    auto run = [&](const std::string& spec) {
      return cli({"explain", "--model", spec, "--weights", w.string(), "--input", in.string(), "--out",
                  scratch("mlp_out.safetensors").string(), "--quiet"});
    };
    CHECK(run("mlp:3,2,1").status == 0);
    const struct {
      const char* spec;
      std::string message;
    } bad[] = {
        {"mlp:3,2,9", "--model 'mlp:3,2,9': 'layers.2.weight' is (1, 2), the sizes given make it (9, 2)"},
        {"mlp:3,8,1", "--model 'mlp:3,8,1': 'layers.0.weight' is (2, 3), the sizes given make it (8, 3)"},
        {"mlp:3,0,1", "--model 'mlp:3,0,1': size '0': must be >= 1"},
        {"mlp:3,1e1,1", "--model 'mlp:3,1e1,1': size '1e1': not an integer"},
        {"mlp:3,8x,1", "--model 'mlp:3,8x,1': size '8x': not an integer"},
        {"mlp:3,,1", "--model 'mlp:3,,1': size '': not an integer"},
    };
    for (const auto& b : bad) {
      const Run r = run(b.spec);
      CAPTURE(r.err);
      CHECK(r.status == 1);
      CHECK(contains(r.err, b.message));
    }
  }
}

TEST_SUITE("apps.cli.numbers") {
  TEST_CASE("--shard I/N: decimal integers, 0 <= I < N") {
    const fs::path dir = scratch("shard_in");
    fs::create_directories(dir);
    fs::copy_file(kDir + "input.safetensors", dir / "a.safetensors", fs::copy_options::overwrite_existing);
    const struct {
      const char* shard;
      std::string message;
    } bad[] = {
        {"2", "--shard '2': expected I/N with 0 <= I < N"},
        {"1e0/2", "--shard '1e0/2': I '1e0': not an integer"},
        {"+1/2", "--shard '+1/2': I '+1': not an integer"},
        {"0/2x", "--shard '0/2x': N '2x': not an integer"},
        {"2/2", "--shard '2/2': I '2': must be >= 0 and <= 1"},
        {"0/0", "--shard '0/0': N '0': must be >= 1 and <= 2147483647"},
    };
    for (const auto& b : bad) {
      const Run r = cli({"explain", "--graph", kDir + "graph.json", "--weights", kDir + "weights.safetensors", "--input",
                         dir.string(), "--out", scratch("shard_out").string(), "--quiet", "--shard", b.shard});
      CAPTURE(r.err);
      CHECK(r.status == 1);
      CHECK(contains(r.err, b.message));
    }
  }
}
