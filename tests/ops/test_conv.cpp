// conv1d / conv2d: forward against direct loops in double, and every rule against the
// linear oracles applied to the convolution written out as a dense matrix.

#include <doctest/doctest.h>

#include <limits>

#include "relprop/ops/activation.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

struct ConvCase {
  std::int64_t N, C, H, W, O, KH, KW, groups;
  Conv2dParams p;
  bool bias;
  std::uint32_t seed;
};

// stride, padding, dilation, groups (depthwise included), rectangular kernels.
std::vector<ConvCase> cases() {
  return {
      {1, 3, 6, 6, 4, 3, 3, 1, {{1, 1}, {1, 1}, {1, 1}, 1}, true, 1},
      {2, 4, 7, 5, 6, 3, 2, 2, {{2, 1}, {1, 0}, {1, 2}, 2}, true, 2},
      {1, 4, 5, 5, 4, 3, 3, 4, {{1, 1}, {1, 1}, {1, 1}, 4}, false, 3},  // depthwise
      {3, 5, 4, 4, 3, 1, 1, 1, {{1, 1}, {0, 0}, {1, 1}, 1}, true, 4},   // pointwise
      {1, 2, 9, 9, 3, 3, 3, 1, {{2, 2}, {2, 2}, {2, 2}, 1}, false, 5},
      {1, 3, 8, 7, 4, 3, 3, 1, {{2, 2}, {0, 1}, {1, 1}, 1, {1, 2}}, true, 6},  // TF SAME: more zeros after
      // Enough output channels for relprop's own GEMM, stride 1 or 2 along the width: the
      // forward packs its columns straight from x (panels across output rows, groups).
      {2, 3, 9, 20, 8, 3, 3, 1, {{1, 1}, {1, 1}, {1, 1}, 1}, true, 7},
      {1, 12, 8, 8, 16, 3, 3, 2, {{2, 1}, {1, 2}, {1, 2}, 2}, false, 8},
      {2, 6, 9, 13, 8, 3, 3, 1, {{2, 2}, {1, 1}, {1, 1}, 1}, true, 9},  // stride 2 both ways
  };
}

// The convolution as a dense matrix D: z[n] = D x[n] + b_dense, rows (O, HO, WO), cols (C, H, W).
o::Mat dense(const ConvCase& c, const Tensor& w, std::int64_t HO, std::int64_t WO, bool ones = false) {
  o::Mat D(c.O * HO * WO, c.C * c.H * c.W);
  const std::int64_t CG = c.C / c.p.groups, OG = c.O / c.p.groups;
  for (std::int64_t oc = 0; oc < c.O; ++oc)
    for (std::int64_t oh = 0; oh < HO; ++oh)
      for (std::int64_t ow = 0; ow < WO; ++ow)
        for (std::int64_t ci = 0; ci < CG; ++ci)
          for (std::int64_t kh = 0; kh < c.KH; ++kh)
            for (std::int64_t kw = 0; kw < c.KW; ++kw) {
              const std::int64_t ih = oh * c.p.stride[0] - c.p.padding[0] + kh * c.p.dilation[0];
              const std::int64_t iw = ow * c.p.stride[1] - c.p.padding[1] + kw * c.p.dilation[1];
              if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
              const std::int64_t ch = (oc / OG) * CG + ci;
              D((oc * HO + oh) * WO + ow, (ch * c.H + ih) * c.W + iw) = ones ? 1.0 : w.get({oc, ci, kh, kw});
            }
  return D;
}

Tensor relevance(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, const Tensor& R,
                 const Rule& rule) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = conv2d(tape.input(x, "x"), w, b, p, "conv");
  }
  Composite c("test");
  c.set_fallback(rule);
  return propagate(tape, y, R.reshape(y.shape()), c).input("x");
}

// Backtrace contrastive on one conv node: (positive, negative) maps of x.
std::pair<Tensor, Tensor> contrastive(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                                      const Tensor& Rp, const Tensor& Rn) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = conv2d(tape.input(x, "x"), w, b, p, "conv");
  }
  const RelevanceMap R = propagate_contrastive(tape, y, Rp.reshape(y.shape()), Rn.reshape(y.shape()),
                                               Composite::by_name("backtrace-contrastive"));
  return {R.input("x.positive"), R.input("x.negative")};
}

// Backtrace with the saturation gate on conv -> activation (the gate reads the activation).
Tensor gated(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, const Tensor& R,
             Tensor (*act)(const Tensor&, std::string_view)) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = act(conv2d(tape.input(x, "x"), w, b, p, "conv"), "act");
  }
  Composite c = Composite::by_name("backtrace");
  c.for_class(OpClass::LinearType, parse_rule("backtrace:gate"));
  return propagate(tape, y, R.reshape(y.shape()), c).input("x");
}

}  // namespace

TEST_SUITE("ops.conv") {
  TEST_CASE("conv2d forward equals the dense-matrix product") {
    for (const auto& c : cases()) {
      CAPTURE(c.seed);
      const Tensor x = o::random_tensor({c.N, c.C, c.H, c.W}, c.seed);
      const Tensor w = o::random_tensor({c.O, c.C / c.p.groups, c.KH, c.KW}, c.seed + 10);
      const Tensor b = c.bias ? o::random_tensor({c.O}, c.seed + 20) : Tensor();
      const Tensor y = conv2d(x, w, b, c.p);
      const std::int64_t HO = y.size(2), WO = y.size(3);
      const o::Mat D = dense(c, w, HO, WO);
      std::vector<double> bd;
      if (c.bias)
        for (std::int64_t k = 0; k < D.rows; ++k) bd.push_back(b.get({k / (HO * WO)}));
      const o::Mat z = o::linear_forward(o::from_tensor(x, c.N, c.C * c.H * c.W), D, bd);
      CHECK(o::rel_err(y.reshape({c.N, D.rows}), o::to_tensor(z, {c.N, D.rows})) < 1e-5);
    }
  }

  TEST_CASE("every linear-type rule on conv2d equals the dense oracle") {
    for (const bool nonneg : {false, true})
    for (const auto& c : cases()) {
      CAPTURE(c.seed);
      CAPTURE(nonneg);
      const Tensor x = o::random_tensor({c.N, c.C, c.H, c.W}, c.seed, nonneg ? 0.0 : -1.0, 1.0);
      const Tensor w = o::random_tensor({c.O, c.C / c.p.groups, c.KH, c.KW}, c.seed + 10);
      const Tensor b = c.bias ? o::random_tensor({c.O}, c.seed + 20) : Tensor();
      const Shape ys = conv2d_shape(x.shape(), w.shape(), nullptr, c.p);
      const std::int64_t HO = ys[2], WO = ys[3], I = c.C * c.H * c.W;
      const Tensor R = o::random_tensor(ys, c.seed + 30);
      const o::Mat D = dense(c, w, HO, WO), X = o::from_tensor(x, c.N, I), Rm = o::from_tensor(R, c.N, D.rows);
      std::vector<double> bd;
      if (c.bias)
        for (std::int64_t k = 0; k < D.rows; ++k) bd.push_back(b.get({k / (HO * WO)}));
      const Shape xs{c.N, I};
      auto check = [&](const Rule& rule, const o::Mat& expected) {
        CAPTURE(rule_str(rule));
        CHECK(o::rel_err(relevance(x, w, b, c.p, R, rule).reshape(xs), o::to_tensor(expected, xs)) < 2e-5);
      };
      check(EpsilonRule{0.1}, o::linear_epsilon(X, D, bd, Rm, 0.1));
      check(EpsilonRule{0.1, Stabilizer::Scaled}, o::linear_epsilon(X, D, bd, Rm, 0.1, o::Stab::Scaled));
      check(ZPlusRule{0.1}, o::linear_zplus(X, D, bd, Rm, 0.1));
      check(AlphaBetaRule{2.0, 1.0, 0.1}, o::linear_alpha_beta(X, D, bd, Rm, 2.0, 1.0, 0.1));
      check(GammaRule{0.25, 0.1}, o::linear_gamma(X, D, bd, Rm, 0.25, 0.1));
      check(WSquareRule{0.1}, o::linear_wsquare(c.N, D, bd, Rm, 0.1, false));
      check(FlatRule{0.1}, o::linear_wsquare(c.N, dense(c, w, HO, WO, true), {}, Rm, 0.1, false));
      // Clip with an epsilon above the smaller counts (borders), and Scaled.
      check(FlatRule{20.0, Stabilizer::Clip},
            o::linear_wsquare(c.N, dense(c, w, HO, WO, true), {}, Rm, 20.0, false, o::Stab::Clip));
      check(FlatRule{0.05, Stabilizer::Scaled},
            o::linear_wsquare(c.N, dense(c, w, HO, WO, true), {}, Rm, 0.05, false, o::Stab::Scaled));
      check(BacktraceRule{}, o::linear_backtrace(X, D, bd, Rm));
      {
        const Tensor Rn = o::random_tensor(ys, c.seed + 40);
        const auto [P, N] = contrastive(x, w, b, c.p, R, Rn);
        const auto [Pe, Ne] = o::linear_backtrace_contrastive(X, D, bd, Rm, o::from_tensor(Rn, c.N, D.rows));
        CHECK(o::rel_err(P.reshape(xs), o::to_tensor(Pe, xs)) < 2e-5);
        CHECK(o::rel_err(N.reshape(xs), o::to_tensor(Ne, xs)) < 2e-5);
        const double inf = std::numeric_limits<double>::infinity();
        CHECK(o::rel_err(gated(x, w, b, c.p, R, &relprop::relu).reshape(xs),
                         o::to_tensor(o::linear_backtrace_gated(X, D, bd, Rm, 0.0, inf), xs)) < 2e-5);
        CHECK(o::rel_err(gated(x, w, b, c.p, R, &relprop::tanh).reshape(xs),
                         o::to_tensor(o::linear_backtrace_gated(X, D, bd, Rm, -2.0, 2.0), xs)) < 2e-5);
      }
      check(GradientRule{}, o::linear_gradient(D, Rm));
      // z^B with one bound per input channel.
      std::vector<double> lo, hi, lo_f, hi_f;
      for (std::int64_t ch = 0; ch < c.C; ++ch) {
        lo.push_back(-1.0 - 0.5 * ch);
        hi.push_back(1.0 + 0.25 * ch);
      }
      for (std::int64_t j = 0; j < I; ++j) {
        lo_f.push_back(lo[j / (c.H * c.W)]);
        hi_f.push_back(hi[j / (c.H * c.W)]);
      }
      check(ZBoxRule{lo, hi, 0.1}, o::linear_zbox(X, D, lo_f, hi_f, Rm, 0.1));
    }
  }

  TEST_CASE("large images are processed in pixel blocks: forward and backward-data against direct loops") {
    // 48 x 40 with stride 1 gives 1920 pixels; 50 x 50 gives 2500, past one block of 2048.
    for (const std::int64_t H : {48, 50}) {
      const std::int64_t C = 2, O = 3, W = H == 48 ? 40 : 50;
      const Tensor x = o::random_tensor({1, C, H, W}, 1);
      const Tensor w = o::random_tensor({O, C, 3, 3}, 2);
      const Conv2dParams p{{1, 1}, {1, 1}, {1, 1}, 1};
      const Tensor y = conv2d(x, w, {}, p);
      const Tensor R = o::random_tensor(y.shape(), 3);
      std::vector<double> z(O * H * W, 0.0), g(C * H * W, 0.0);
      for (std::int64_t oc = 0; oc < O; ++oc)
        for (std::int64_t oh = 0; oh < H; ++oh)
          for (std::int64_t ow = 0; ow < W; ++ow)
            for (std::int64_t c = 0; c < C; ++c)
              for (std::int64_t kh = 0; kh < 3; ++kh)
                for (std::int64_t kw = 0; kw < 3; ++kw) {
                  const std::int64_t ih = oh - 1 + kh, iw = ow - 1 + kw;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  z[(oc * H + oh) * W + ow] += x.get({0, c, ih, iw}) * w.get({oc, c, kh, kw});
                  g[(c * H + ih) * W + iw] += R.get({0, oc, oh, ow}) * w.get({oc, c, kh, kw});
                }
      CHECK(o::rel_err(y, Tensor::from_vector(std::span<const double>(z), y.shape())) < 1e-5);
      CHECK(o::rel_err(relevance(x, w, {}, p, R, GradientRule{}), Tensor::from_vector(std::span<const double>(g), x.shape())) <
            1e-5);
    }
  }

  TEST_CASE("a convolution over zero input channels gives its bias") {
    const Tensor x = Tensor::zeros({1, 0, 5, 6});
    const Tensor w = Tensor::zeros({4, 0, 3, 3});
    const Tensor b = Tensor::from_vector({1.f, -2.f, 3.f, 0.5f}, {4});
    const Tensor y = conv2d(x, w, b, {{1, 1}, {1, 1}, {1, 1}, 1});
    REQUIRE(y.shape() == Shape{1, 4, 5, 6});
    for (std::int64_t o = 0; o < 4; ++o)
      for (std::int64_t p = 0; p < 30; ++p) CHECK(y.data<float>()[o * 30 + p] == b.data<float>()[o]);
  }

  TEST_CASE("conv1d is conv2d over a height of 1 and records as conv1d") {
    const Tensor x = o::random_tensor({2, 3, 11}, 1);
    const Tensor w = o::random_tensor({4, 3, 3}, 2);
    const Tensor b = o::random_tensor({4}, 3);
    const Conv1dParams p{2, 1, 2, 1};
    const Tensor y1 = conv1d(x, w, b, p);
    const Tensor y2 = conv2d(x.unsqueeze(2), w.unsqueeze(2), b, Conv2dParams{{1, 2}, {0, 1}, {1, 2}, 1});
    CHECK(y1.shape() == Shape{2, 4, 5});
    CHECK(max_abs_diff(y1, y2.squeeze(2)) == 0.0);
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = conv1d(tape.input(x, "x"), w, b, p, "c1");
    }
    CHECK(tape.node(0).op() == OpKind::Conv1d);
    const Tensor r = propagate(tape, y, y, Composite::by_name("epsilon-plus")).input("x");
    CHECK(r.shape() == x.shape());
  }

  TEST_CASE("shape errors name the node and the shapes") {
    const Tensor x = o::random_tensor({1, 4, 5, 5}, 1);
    CHECK_THROWS_AS(conv2d(x, o::random_tensor({2, 3, 3, 3}, 2)), ShapeError);                          // channels
    CHECK_THROWS_AS(conv2d(x, o::random_tensor({3, 2, 3, 3}, 2), {}, {{1, 1}, {0, 0}, {1, 1}, 2}), ShapeError);  // groups
    CHECK_THROWS_AS(conv2d(x, o::random_tensor({2, 4, 7, 7}, 2)), ShapeError);                          // kernel too big
    CHECK_THROWS_AS(conv2d(x, o::random_tensor({2, 4, 3, 3}, 2), o::random_tensor({3}, 3)), ShapeError);
    CHECK_THROWS_AS(conv2d(x, o::random_tensor({2, 4, 3, 3}, 2), {}, {{0, 1}, {0, 0}, {1, 1}, 1}), ValueError);
    try {
      conv2d(x.squeeze(0), o::random_tensor({2, 4, 3, 3}, 2), {}, {}, "features.0");
      FAIL("expected ShapeError");
    } catch (const ShapeError& e) {
      CHECK(std::string(e.what()).find("features.0") != std::string::npos);
    }
  }
}
