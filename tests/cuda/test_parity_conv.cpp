// GPU parity of conv1d / conv2d (cuda/conv.cu through ops/conv.cpp): forward and every
// linear-type rule, GPU against CPU, on the rows of tests/ops/test_conv.cpp and more:
// bias or not, stride 1 and 2 (and 3), padding, dilation, odd sizes where a stride leaves
// input rows unread (backward-data's output padding), TensorFlow-style padding_end (more
// and fewer zeros after than before), groups 2, depthwise (multiplier 1 and 2), batch 2.
//
// Inputs, weights and biases are multiples of 1/16: every forward sum (z, z+, |x||W|,
// F(1, W^2), the z^B terms) is then exact in float32 on both devices whatever the
// accumulation order, so the rules' denominators agree exactly and R / z cannot magnify a
// rounding difference (z near 0). What is left differs by the transpose's summation
// order only, well within 1e-5 of the largest relevance.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/parity.hpp"
#include "relprop/ops/activation.hpp"
#include "relprop/ops/conv.hpp"

using namespace relprop;
using parity::dyadic;

namespace {

// The rules every conv row runs under; per-channel z^B bounds need the input channels.
std::vector<Rule> rules(std::int64_t channels) {
  std::vector<double> lo, hi;
  for (std::int64_t c = 0; c < channels; ++c) {
    lo.push_back(-1.0 - 0.5 * static_cast<double>(c));
    hi.push_back(1.0 + 0.25 * static_cast<double>(c));
  }
  return {ZeroRule{},
          EpsilonRule{},
          EpsilonRule{0.1},
          EpsilonRule{0.1, Stabilizer::Scaled},
          ZPlusRule{},
          AlphaBetaRule{2.0, 1.0},
          AlphaBetaRule{1.0, 0.0},
          GammaRule{0.25},
          ZBoxRule{{-1.0}, {1.0}},
          ZBoxRule{lo, hi},
          WSquareRule{},
          FlatRule{},
          GradientRule{},
          BacktraceRule{}};
}

struct Conv2dRow {
  std::string name;
  std::int64_t N, C, H, W, O, KH, KW;
  Conv2dParams p;
  bool bias;
  std::uint32_t seed;
};

std::vector<Conv2dRow> conv2d_rows() {
  return {
      {"3x3 pad 1", 1, 3, 6, 6, 4, 3, 3, {{1, 1}, {1, 1}, {1, 1}, 1}, true, 1},
      {"groups 2, stride (2, 1), dilation (1, 2), batch 2", 2, 4, 7, 5, 6, 3, 2, {{2, 1}, {1, 0}, {1, 2}, 2}, true, 2},
      {"depthwise", 1, 4, 5, 5, 4, 3, 3, {{1, 1}, {1, 1}, {1, 1}, 4}, false, 3},
      {"pointwise, batch 3", 3, 5, 4, 4, 3, 1, 1, {{1, 1}, {0, 0}, {1, 1}, 1}, true, 4},
      {"stride 2, pad 2, dilation 2", 1, 2, 9, 9, 3, 3, 3, {{2, 2}, {2, 2}, {2, 2}, 1}, false, 5},
      {"TF SAME: more zeros after", 1, 3, 8, 7, 4, 3, 3, {{2, 2}, {0, 1}, {1, 1}, 1, {1, 2}}, true, 6},
      // (H + 2p - k) % stride != 0: the last input row(s) are never read by the forward.
      {"stride 2, odd remainder in H, batch 2", 2, 3, 8, 9, 5, 3, 3, {{2, 2}, {1, 1}, {1, 1}, 1}, true, 7},
      {"stride (3, 2), 4x2 kernel, remainders in H and W", 1, 2, 11, 7, 3, 4, 2, {{3, 2}, {0, 1}, {1, 1}, 1}, false, 8},
      {"depthwise multiplier 2, stride 2, batch 2", 2, 3, 8, 8, 6, 3, 3, {{2, 2}, {1, 1}, {1, 1}, 3}, true, 9},
      {"groups 2, stride 2, dilation 2, batch 2", 2, 4, 9, 8, 4, 3, 3, {{2, 2}, {1, 1}, {2, 2}, 2}, true, 10},
      {"fewer zeros after than before", 1, 2, 7, 7, 3, 3, 3, {{1, 1}, {2, 2}, {1, 1}, 1, {0, 1}}, true, 11},
      {"16x16, 8 channels", 2, 8, 16, 16, 8, 3, 3, {{1, 1}, {1, 1}, {1, 1}, 1}, true, 12},
  };
}

parity::Case conv2d_case(const Conv2dRow& r, bool nonneg) {
  const Tensor x = dyadic({r.N, r.C, r.H, r.W}, r.seed, nonneg ? 0.0 : -1.0, 1.0);
  const Tensor w = dyadic({r.O, r.C / r.p.groups, r.KH, r.KW}, r.seed + 10);
  const Tensor b = r.bias ? dyadic({r.O}, r.seed + 20) : Tensor();
  const Conv2dParams p = r.p;
  return {"conv2d " + r.name + (nonneg ? ", x >= 0" : ""),
          {x},
          [w, b, p](const std::vector<Tensor>& in, Device d) {
            return conv2d(in[0], w.to(d), b.defined() ? b.to(d) : Tensor(), p, "conv");
          }};
}

struct Conv1dRow {
  std::string name;
  std::int64_t N, C, L, O, K;
  Conv1dParams p;
  bool bias;
  std::uint32_t seed;
};

std::vector<Conv1dRow> conv1d_rows() {
  return {
      {"k3 pad 1, batch 2", 2, 3, 11, 4, 3, {1, 1, 1, 1}, true, 21},
      {"k5 stride 2 pad 2, groups 2, odd remainder", 1, 4, 12, 6, 5, {2, 2, 1, 2}, false, 22},
      {"depthwise, dilation 2, batch 2", 2, 4, 10, 4, 3, {1, 2, 2, 4}, true, 23},
      {"stride 2, padding_end 1", 1, 2, 9, 3, 4, {2, 0, 1, 1, 1}, true, 24},
      {"stride 2, dilation 2", 2, 3, 15, 5, 3, {2, 1, 2, 1}, true, 25},
  };
}

parity::Case conv1d_case(const Conv1dRow& r, bool nonneg) {
  const Tensor x = dyadic({r.N, r.C, r.L}, r.seed, nonneg ? 0.0 : -1.0, 1.0);
  const Tensor w = dyadic({r.O, r.C / r.p.groups, r.K}, r.seed + 10);
  const Tensor b = r.bias ? dyadic({r.O}, r.seed + 20) : Tensor();
  const Conv1dParams p = r.p;
  return {"conv1d " + r.name + (nonneg ? ", x >= 0" : ""),
          {x},
          [w, b, p](const std::vector<Tensor>& in, Device d) {
            return conv1d(in[0], w.to(d), b.defined() ? b.to(d) : Tensor(), p, "conv");
          }};
}

const BacktraceRule kContrastive{BacktraceRule::Mode::Contrastive};

}  // namespace

TEST_SUITE("cuda.parity.conv") {
  TEST_CASE("conv2d: forward and every linear-type rule") {
    for (const bool nonneg : {false, true})
      for (const auto& r : conv2d_rows()) {
        const parity::Case c = conv2d_case(r, nonneg);
        parity::check_all(c, rules(r.C));
        parity::check(c, kContrastive, 1e-5, true);
      }
  }

  TEST_CASE("conv1d: forward and every linear-type rule") {
    for (const bool nonneg : {false, true})
      for (const auto& r : conv1d_rows()) {
        const parity::Case c = conv1d_case(r, nonneg);
        parity::check_all(c, rules(r.C));
        parity::check(c, kContrastive, 1e-5, true);
      }
  }

  TEST_CASE("pass on a shape-preserving convolution") {
    parity::check(conv2d_case({"same shape", 2, 3, 5, 6, 3, 3, 3, {{1, 1}, {1, 1}, {1, 1}, 1}, true, 31}, false),
                  PassRule{});
    parity::check(conv1d_case({"same shape", 1, 4, 9, 4, 3, {1, 1, 1, 2}, false, 32}, false), PassRule{});
  }

  TEST_CASE("backtrace with the saturation gate of the following activation") {
    // Needs the activations' GPU twins too (relu, tanh forward; pass-through relevance).
    for (auto act : {&relprop::relu, &relprop::tanh}) {
      const Tensor x = dyadic({2, 3, 7, 6}, 41);
      const Tensor w = dyadic({4, 3, 3, 3}, 42);
      const Tensor b = dyadic({4}, 43);
      const parity::Case c{"conv2d -> activation",
                           {x},
                           [w, b, act](const std::vector<Tensor>& in, Device d) {
                             return act(conv2d(in[0], w.to(d), b.to(d), {{2, 1}, {1, 1}, {1, 1}, 1}, "conv"), "act");
                           }};
      BacktraceRule gated;
      gated.gate = true;
      parity::check(c, gated);
    }
  }

  TEST_CASE("errors on the GPU are those of the CPU") {
    if (!parity::have_gpu()) return;
    const Tensor x = dyadic({1, 4, 5, 5}, 51).to(Device::CUDA);
    const Tensor w = dyadic({4, 4, 3, 3}, 52);
    // Arguments on two devices.
    CHECK_THROWS_AS(conv2d(x, w), ValueError);
    CHECK_THROWS_AS(conv2d(x, w.to(Device::CUDA), dyadic({4}, 53)), ValueError);
    // Shape errors are checked before anything runs.
    CHECK_THROWS_AS(conv2d(x, dyadic({2, 3, 3, 3}, 54).to(Device::CUDA)), ShapeError);
    // A rule conv does not support, and pass on a shape-changing convolution.
    for (const Rule& rule : std::vector<Rule>{NormRule{}, PassRule{}}) {
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        y = conv2d(tape.input(x, "x"), w.to(Device::CUDA), {}, {{2, 2}, {0, 0}, {1, 1}, 1}, "conv");
      }
      Composite comp("errors");
      comp.set_fallback(rule);
      CHECK_THROWS_AS(propagate(tape, y, y, comp), UnsupportedError);
    }
  }
}
