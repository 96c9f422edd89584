// GPU parity of linear (cuda/linear.cu, cuda/linear_type.cu through ops/linear.cpp):
// forward and every linear-type rule, GPU against CPU, on the rows of
// tests/ops/test_linear.cpp and more: bias or not, M = 1 and M > 1, 3-D inputs (N, T, I),
// odd sizes, mixed-sign inputs and non-negative ones (after a ReLU: the CPU drops the x-
// terms and takes the gamma shortcut there, the GPU runs the general formulas), the
// saturation gate of a following activation, the contrastive mode, and TF32 math.
//
// Inputs, weights and biases are multiples of 1/16 (as in test_parity_conv.cpp): every
// forward sum (z, z+, z-, u, v of gamma, |x||W|, F(1, W^2), the z^B terms) is then exact
// in float32 on both devices whatever the accumulation order, so the denominators and
// every sign test on z agree exactly and R / z cannot magnify a rounding difference (z
// near 0). What is left differs by the transposes' summation order, well within 1e-5 of
// the largest relevance. The TF32 rows use plain random values (multiples of 1/16 are
// exact in TF32) and rules whose sums are well conditioned, within 2e-3.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "reference/linear_type_rules.hpp"
#include "relprop/ops/activation.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear.hpp"
#endif

using namespace relprop;
using parity::dyadic;

namespace {

// A linear row: x of shape `x_shape` (..., I), W (O, I), b (O,) when `bias`.
struct LinearRow {
  std::string name;
  Shape x_shape;
  std::int64_t O;
  bool bias;
  std::uint32_t seed;
};

// The rows of tests/ops/test_linear.cpp, then 3-D inputs (N, T, I) and more odd sizes.
std::vector<LinearRow> rows() {
  return {
      {"M 1, 3 -> 2, bias", {1, 3}, 2, true, 1},
      {"M 1, 16 -> 7", {1, 16}, 7, false, 2},
      {"M 4, 33 -> 17, bias", {4, 33}, 17, true, 3},
      {"M 5, 64 -> 128, bias", {5, 64}, 128, true, 4},
      {"M 2, 7 -> 7", {2, 7}, 7, false, 5},
      {"(N, T, I) = (2, 3, 5) -> 4, bias", {2, 3, 5}, 4, true, 6},
      {"(N, T, I) = (3, 5, 9) -> 6", {3, 5, 9}, 6, false, 7},
      {"(N, T, I) = (1, 4, 31) -> 13, bias", {1, 4, 31}, 13, true, 8},
  };
}

parity::Case linear_case(const LinearRow& r, bool nonneg) {
  const Tensor x = dyadic(r.x_shape, r.seed, nonneg ? 0.0 : -1.0, 1.0);
  const std::int64_t I = r.x_shape.back();
  const Tensor w = dyadic({r.O, I}, r.seed + 100);
  const Tensor b = r.bias ? dyadic({r.O}, r.seed + 200) : Tensor();
  return {"linear " + r.name + (nonneg ? ", x >= 0" : ""),
          {x},
          [w, b](const std::vector<Tensor>& in, Device d) {
            return linear(in[0], w.to(d), b.defined() ? b.to(d) : Tensor(), "fc");
          }};
}

// x -> linear -> activation (the gate's bounds come from the activation that reads z).
parity::Case gated_case(Tensor (*act)(const Tensor&, std::string_view), const char* act_name, bool nonneg) {
  const Tensor x = dyadic({3, 4, 11}, 41, nonneg ? 0.0 : -1.0, 1.0);
  const Tensor w = dyadic({9, 11}, 42);
  const Tensor b = dyadic({9}, 43);
  return {std::string("linear -> ") + act_name + (nonneg ? ", x >= 0" : ""),
          {x},
          [w, b, act](const std::vector<Tensor>& in, Device d) {
            return act(linear(in[0], w.to(d), b.to(d), "fc"), "act");
          }};
}

// A two-layer MLP: linear -> relu -> linear; the second layer sees x >= 0 on the CPU's
// shortcut path.
parity::Case mlp_case() {
  const Tensor x = dyadic({2, 3, 10}, 61);
  const Tensor w1 = dyadic({12, 10}, 62), b1 = dyadic({12}, 63);
  const Tensor w2 = dyadic({5, 12}, 64), b2 = dyadic({5}, 65);
  return {"linear -> relu -> linear",
          {x},
          [w1, b1, w2, b2](const std::vector<Tensor>& in, Device d) {
            return linear(relu(linear(in[0], w1.to(d), b1.to(d), "fc1"), "act"), w2.to(d), b2.to(d), "fc2");
          }};
}

const Rule kContrastive = parse_rule("backtrace-contrastive");

}  // namespace

TEST_SUITE("cuda.parity.linear") {
  TEST_CASE("linear: forward and every linear-type rule, mixed-sign and non-negative inputs") {
    for (const bool nonneg : {false, true})
      for (const auto& r : rows()) {
        const parity::Case c = linear_case(r, nonneg);
        parity::check_all(c, testing::linear_type_rules(r.x_shape.back()));
        parity::check(c, kContrastive, 1e-5, true);
      }
  }

  TEST_CASE("pass when in == out features") {
    parity::check(linear_case({"M 2, 7 -> 7", {2, 7}, 7, false, 5}, false), parse_rule("pass"));
    parity::check(linear_case({"(2, 3, 6) -> 6, bias", {2, 3, 6}, 6, true, 9}, false), parse_rule("pass"));
  }

  TEST_CASE("backtrace with the saturation gate of the following activation") {
    // Needs the activations' GPU twins too (relu, tanh forward; pass-through relevance).
    // relu gates below 0 only, tanh below -2 and above 2.
    for (const bool nonneg : {false, true}) {
      parity::check(gated_case(&relprop::relu, "relu", nonneg), parse_rule("backtrace:gate"));
      parity::check(gated_case(&relprop::tanh, "tanh", nonneg), parse_rule("backtrace:gate"));
      parity::check(gated_case(&relprop::relu, "relu", nonneg), kContrastive, 1e-5, true);
    }
  }

  TEST_CASE("a two-layer MLP: backtrace (plain and gated), gradient, contrastive") {
    const parity::Case c = mlp_case();
    for (const char* spec : {"backtrace", "backtrace:gate", "gradient"}) parity::check(c, parse_rule(spec));
    parity::check(c, kContrastive, 1e-5, true);
  }

  TEST_CASE("TF32 math agrees with the CPU to 2e-3") {
#if RELPROP_HAVE_CUDA
    if (!parity::have_gpu()) return;
    struct Tf32 {  // TF32 on for this scope, FP32 again afterwards whatever happens
      Tf32() { cuda::set_tf32(true); }
      ~Tf32() { cuda::set_tf32(false); }
    } on;
    CHECK(cuda::tf32());
    const Tensor x = oracle::random_tensor({4, 5, 96}, 71, 0.0, 1.0);  // after a ReLU
    const Tensor w = oracle::random_tensor({80, 96}, 72);
    const Tensor b = oracle::random_tensor({80}, 73);
    const parity::Case c{"linear (4, 5, 96) -> 80, TF32",
                         {x},
                         [w, b](const std::vector<Tensor>& in, Device d) {
                           return linear(in[0], w.to(d), b.to(d), "fc");
                         }};
    for (const char* spec : {"gradient", "zplus", "backtrace"}) parity::check(c, parse_rule(spec), 2e-3);
#else
    MESSAGE("skipped: TF32 needs the CUDA backend");
#endif
  }

  TEST_CASE("errors on the GPU are those of the CPU") {
    if (!parity::have_gpu()) return;
    const Tensor x = dyadic({2, 4}, 51).to(Device::CUDA);
    const Tensor w = dyadic({3, 4}, 52);
    // Arguments on two devices.
    CHECK_THROWS_AS(linear(x, w), ValueError);
    CHECK_THROWS_AS(linear(x, w.to(Device::CUDA), dyadic({3}, 53)), ValueError);
    // Shape errors are checked before anything runs.
    CHECK_THROWS_AS(linear(x, dyadic({3, 5}, 54).to(Device::CUDA)), ShapeError);
    // Rules linear does not take: norm, pass with in != out, per-feature z^B bounds of the
    // wrong count, backtrace-contrastive through propagate.
    const std::vector<std::pair<Rule, bool>> bad{{NormRule{}, false},
                                                 {PassRule{}, false},
                                                 {parse_rule("zbox:-1/-1/-1,1/1/1"), true},
                                                 {kContrastive, false}};
    for (const auto& [rule, shape_error] : bad) {
      CAPTURE(rule_str(rule));
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = linear(tape.input(x, "x"), w.to(Device::CUDA), {}, "fc");
      }
      Composite comp("errors");
      comp.set_fallback(rule);
      if (shape_error) CHECK_THROWS_AS(propagate(tape, y, y, comp), ShapeError);
      else CHECK_THROWS_AS(propagate(tape, y, y, comp), UnsupportedError);
    }
  }
}
