// NaN and infinity in weights and inputs: first_nonfinite over each floating dtype and at
// every position of a block, check_finite's message (the tensor's name and the first bad
// index), Graph::bind refusing a bad weight unless allowed, GraphExplainer refusing a bad
// input unless told not to check, the arg-max seed never choosing a NaN, and a Hugging
// Face folder's weights and image normalisation.

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "reference/fixtures.hpp"
#include "reference/oracle.hpp"
#include "relprop/nn/explainer.hpp"
#include "relprop/io/safetensors.hpp"
#include "relprop/nn/models.hpp"
#include "relprop/nn/transformers.hpp"
#include "relprop/relevance/seed.hpp"

using namespace relprop;
namespace fs = std::filesystem;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::map<std::string, Tensor> mlp_weights() {
  return {{"layers.0.weight", oracle::random_tensor({5, 6}, 1)},
          {"layers.0.bias", oracle::random_tensor({5}, 2)},
          {"layers.2.weight", oracle::random_tensor({3, 5}, 3)},
          {"layers.2.bias", oracle::random_tensor({3}, 4)}};
}

Graph mlp() {
  ModelOptions o;
  o.mlp_sizes = {6, 5, 3};
  return build_model("mlp", o);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "(no ValueError)";
}

}  // namespace

TEST_SUITE("nn.nonfinite") {
  TEST_CASE("first_nonfinite: every floating dtype, every position across block edges, largest finite values pass") {
    for (const DType dt : {DType::F32, DType::F64, DType::F16, DType::BF16}) {
      CAPTURE(dtype_name(dt));
      const std::int64_t n = 9000;  // over two blocks of 4096
      Tensor t = Tensor::full({n}, 1.0, dt);
      CHECK(first_nonfinite(t) == -1);
      // The largest finite value of the dtype and the smallest denormal are finite.
      const double big = dt == DType::F16 ? 65504.0 : dt == DType::F64 ? std::numeric_limits<double>::max() : 3.0e38;
      t.set_flat(5, big);
      t.set_flat(6, -big);
      t.set_flat(7, dt == DType::F64 ? 4.9e-324 : dt == DType::F16 ? 6e-8 : 1.4e-45);
      CHECK(first_nonfinite(t) == -1);
      for (const std::int64_t at : {std::int64_t{0}, std::int64_t{4095}, std::int64_t{4096}, std::int64_t{8999}}) {
        for (const double bad : {kNan, kInf, -kInf}) {
          Tensor u = t.clone();
          u.set_flat(at, bad);
          if (at != 8999) u.set_flat(8999, kNan);  // a later one does not hide the first
          CAPTURE(at);
          CAPTURE(bad);
          CHECK(first_nonfinite(u) == at);
        }
      }
    }
    CHECK(first_nonfinite(Tensor::zeros({3}, DType::I64)) == -1);  // integers are always finite
    CHECK(first_nonfinite(Tensor::zeros({0})) == -1);
    // A strided view is searched in row-major order of its elements.
    Tensor m = Tensor::zeros({3, 4});
    m.set_flat(2, kNan);  // (0, 2): column 2 of the transposed view's row 2
    CHECK(first_nonfinite(m.transpose(0, 1)) == 2 * 3 + 0);
  }

  TEST_CASE("check_finite names the tensor, the value and the first bad index") {
    Tensor t = Tensor::zeros({2, 3, 4});
    t.set_flat(1 * 12 + 1 * 4 + 3, -kInf);
    t.set_flat(23, kNan);
    const std::string m = message_of([&] { check_finite(t, "input 'x'"); });
    CHECK(m.find("input 'x' holds -inf at (1, 1, 3)") == 0);
    CHECK(m.find("--allow-nonfinite") != std::string::npos);
    CHECK_NOTHROW(check_finite(Tensor::zeros({2, 3}), "fine"));
  }

  TEST_CASE("Graph::bind refuses a NaN or infinite weight by name and index; set_allow_nonfinite accepts it") {
    auto w = mlp_weights();
    w["layers.2.weight"].set_flat(7, kNan);  // (1, 2)
    Graph g = mlp();
    const std::string m = message_of([&] { g.bind(w); });
    CHECK(m.find("weight 'layers.2.weight' (node 'layers.2') holds nan at (1, 2)") != std::string::npos);
    CHECK_FALSE(g.bound());
    w["layers.2.weight"].set_flat(7, 0.5);
    w["layers.0.bias"].set_flat(4, kInf);
    CHECK(message_of([&] { mlp().bind(w); }).find("'layers.0.bias' (node 'layers.0') holds inf at (4)") !=
          std::string::npos);
    Graph allowed = mlp();
    allowed.set_allow_nonfinite(true);
    CHECK_NOTHROW(allowed.bind(w));
    CHECK(allowed.bound());
  }

  TEST_CASE("GraphExplainer refuses a NaN or infinite input by name unless check_finite_inputs is off") {
    const Graph g = test::small_mlp();
    Tensor x = oracle::random_tensor({2, 6}, 9);
    x.set_flat(6 + 1, kInf);  // (1, 1)
    ExplainSettings s;
    GraphExplainer ex(g, s);
    CHECK(message_of([&] { ex.explain({{"x", x}}); }).find("input 'x' holds inf at (1, 1)") == 0);
    s.check_finite_inputs = false;
    GraphExplainer lax(g, s);
    CHECK_NOTHROW(lax.explain({{"x", x}}));
  }

  TEST_CASE("the arg-max seed never chooses a NaN (torch.argmax would); a row of NaN only gets class 0") {
    const Tensor y = Tensor::from_vector({NAN, 3.f, 2.f, 1.f, NAN, 5.f, NAN, NAN, NAN}, {3, 3});
    const Seed s = classification_seed(y, std::nullopt, SeedForm::OneHot, 1.0);
    CHECK(s.targets == std::vector<std::int64_t>{1, 2, 0});
    // A NaN after the maximum does not take its place either.
    CHECK(classification_seed(Tensor::from_vector({1.f, 4.f, NAN, 2.f}, {4}), std::nullopt, SeedForm::OneHot, 1).targets ==
          std::vector<std::int64_t>{1});
  }
}

TEST_SUITE("nn.nonfinite") {
  TEST_CASE("a Hugging Face folder: a NaN weight refused unless allowed; a zero or tiny image_std refused") {
    const fs::path src = fs::path(RELPROP_SOURCE_DIR) / "tests" / "data" / "vit_tiny";
    const fs::path dir = fs::temp_directory_path() / "relprop_test_nonfinite_vit";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"config.json", "preprocessor_config.json"}) fs::copy_file(src / f, dir / f);
    const SafetensorsFile w = SafetensorsFile::open(src / "model.safetensors");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& name : w.names()) tensors.emplace_back(name, w.get(name).clone());
    const std::string victim = tensors.back().first;
    tensors.back().second.set_flat(0, kNan);
    save_safetensors(dir / "model.safetensors", tensors);
    CHECK(message_of([&] { load_transformer(dir); }).find("weight '" + victim + "'") != std::string::npos);
    CHECK_NOTHROW(load_transformer(dir, true));

    tensors.back().second = w.get(victim).clone();
    save_safetensors(dir / "model.safetensors", tensors);
    CHECK_NOTHROW(load_transformer(dir));
    for (const char* std_list : {"[0.5, 0, 0.5]", "[0.5, -1, 0.5]", "[1e-45, 0.5, 0.5]"}) {
      CAPTURE(std_list);
      std::ofstream(dir / "preprocessor_config.json")
          << R"({"image_mean": [0.5, 0.5, 0.5], "image_std": )" << std_list << "}";
      CHECK_THROWS_AS(load_transformer(dir), FormatError);
    }
    fs::remove_all(dir);
  }
}
