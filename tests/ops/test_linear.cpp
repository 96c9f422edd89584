// linear: forward and every rule of this build against the float64 oracles.

#include <doctest/doctest.h>

#include "relprop/ops/activation.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/relevance/engine.hpp"
#include "reference/oracle.hpp"

using namespace relprop;
namespace o = relprop::oracle;

namespace {

struct LinearCase {
  std::int64_t M, I, O;
  bool bias;
  std::uint32_t seed;
};

// Every (shape, bias) row runs every rule below.
const LinearCase kCases[] = {
    {1, 3, 2, true, 1}, {1, 16, 7, false, 2}, {4, 33, 17, true, 3}, {5, 64, 128, true, 4}, {2, 7, 7, false, 5},
};

// Relevance of x under `rule` for a single linear node, with R given on its output.
Tensor run_rule(const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& R, const Rule& rule) {
  Tape tape;
  Tensor y;
  {
    Recording rec(tape);
    y = linear(tape.input(x, "x"), W, b, "fc");
  }
  Composite c("test");
  c.set_fallback(rule);
  return propagate(tape, y, R, c).input("x");
}

}  // namespace

TEST_SUITE("ops.linear") {
  TEST_CASE("forward equals the float64 oracle") {
    for (const auto& tc : kCases) {
      const Tensor x = o::random_tensor({tc.M, tc.I}, tc.seed);
      const Tensor W = o::random_tensor({tc.O, tc.I}, tc.seed + 100);
      const Tensor b = tc.bias ? o::random_tensor({tc.O}, tc.seed + 200) : Tensor();
      const auto bv = tc.bias ? b.to_vector_f64() : std::vector<double>{};
      const o::Mat z = o::linear_forward(o::from_tensor(x, tc.M, tc.I), o::from_tensor(W, tc.O, tc.I), bv);
      CHECK(o::rel_err(linear(x, W, b), o::to_tensor(z, {tc.M, tc.O})) < 1e-6);
    }
  }

  TEST_CASE("leading dimensions are flattened: (N / T / I) inputs") {
    const Tensor x = o::random_tensor({2, 3, 5}, 9);
    const Tensor W = o::random_tensor({4, 5}, 10);
    const Tensor y = linear(x, W);
    CHECK(y.shape() == Shape{2, 3, 4});
    CHECK(o::rel_err(y.reshape({6, 4}), linear(x.reshape({6, 5}), W)) == 0.0);
  }

  TEST_CASE("zero / epsilon (three stabilisers) / zero_bias / backtrace and gradient match the oracles") {
    for (const auto& tc : kCases) {
      CAPTURE(tc.M);
      CAPTURE(tc.I);
      CAPTURE(tc.O);
      CAPTURE(tc.bias);
      const Tensor x = o::random_tensor({tc.M, tc.I}, tc.seed);
      const Tensor W = o::random_tensor({tc.O, tc.I}, tc.seed + 100);
      const Tensor b = tc.bias ? o::random_tensor({tc.O}, tc.seed + 200) : Tensor();
      const Tensor R = o::random_tensor({tc.M, tc.O}, tc.seed + 300);
      const auto bv = tc.bias ? b.to_vector_f64() : std::vector<double>{};
      const o::Mat X = o::from_tensor(x, tc.M, tc.I), Wm = o::from_tensor(W, tc.O, tc.I),
                   Rm = o::from_tensor(R, tc.M, tc.O);
      const Shape xs{tc.M, tc.I};

      CHECK(o::rel_err(run_rule(x, W, b, R, ZeroRule{}), o::to_tensor(o::linear_epsilon(X, Wm, bv, Rm, 0.0), xs)) <
            1e-4);
      CHECK(o::rel_err(run_rule(x, W, b, R, EpsilonRule{0.25}),
                       o::to_tensor(o::linear_epsilon(X, Wm, bv, Rm, 0.25), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, EpsilonRule{0.5, Stabilizer::Clip}),
                       o::to_tensor(o::linear_epsilon(X, Wm, bv, Rm, 0.5, o::Stab::Clip), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, EpsilonRule{0.3, Stabilizer::Scaled}),
                       o::to_tensor(o::linear_epsilon(X, Wm, bv, Rm, 0.3, o::Stab::Scaled), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, EpsilonRule{0.25, Stabilizer::Sign, true}),
                       o::to_tensor(o::linear_epsilon(X, Wm, {}, Rm, 0.25), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, BacktraceRule{}), o::to_tensor(o::linear_backtrace(X, Wm, bv, Rm), xs)) <
            1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, GradientRule{}), o::to_tensor(o::linear_gradient(Wm, Rm), xs)) < 1e-5);
    }
  }

  TEST_CASE("zplus / alpha-beta / gamma / zbox / wsquare / flat match the oracles") {
    // Mixed-sign inputs take the general path, non-negative ones (as after a ReLU) the
    // shortcuts that drop the x- terms and reuse the forward z.
    for (const bool nonneg : {false, true})
    for (const auto& tc : kCases) {
      CAPTURE(nonneg);
      CAPTURE(tc.M);
      CAPTURE(tc.I);
      CAPTURE(tc.O);
      CAPTURE(tc.bias);
      const Tensor x = o::random_tensor({tc.M, tc.I}, tc.seed, nonneg ? 0.0 : -1.0, 1.0);
      const Tensor W = o::random_tensor({tc.O, tc.I}, tc.seed + 100);
      const Tensor b = tc.bias ? o::random_tensor({tc.O}, tc.seed + 200) : Tensor();
      const Tensor R = o::random_tensor({tc.M, tc.O}, tc.seed + 300);
      const auto bv = tc.bias ? b.to_vector_f64() : std::vector<double>{};
      const o::Mat X = o::from_tensor(x, tc.M, tc.I), Wm = o::from_tensor(W, tc.O, tc.I),
                   Rm = o::from_tensor(R, tc.M, tc.O);
      const Shape xs{tc.M, tc.I};
      // Stabilisers of 0.1 keep the float32 kernels and the float64 oracles comparable.
      CHECK(o::rel_err(run_rule(x, W, b, R, ZPlusRule{0.1}), o::to_tensor(o::linear_zplus(X, Wm, bv, Rm, 0.1), xs)) <
            1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, AlphaBetaRule{2.0, 1.0, 0.1}),
                       o::to_tensor(o::linear_alpha_beta(X, Wm, bv, Rm, 2.0, 1.0, 0.1), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, AlphaBetaRule{1.0, 0.0, 0.1}),
                       o::to_tensor(o::linear_alpha_beta(X, Wm, bv, Rm, 1.0, 0.0, 0.1), xs)) < 1e-5);
      for (double g : {0.0, 0.25, 3.0}) {
        CAPTURE(g);
        CHECK(o::rel_err(run_rule(x, W, b, R, GammaRule{g, 0.1}),
                         o::to_tensor(o::linear_gamma(X, Wm, bv, Rm, g, 0.1), xs)) < 1e-5);
        CHECK(o::rel_err(run_rule(x, W, b, R, GammaRule{g, 0.1, Stabilizer::Clip}),
                         o::to_tensor(o::linear_gamma(X, Wm, bv, Rm, g, 0.1, o::Stab::Clip), xs)) < 1e-5);
        CHECK(o::rel_err(run_rule(x, W, b, R, GammaRule{g, 0.1, Stabilizer::Scaled}),
                         o::to_tensor(o::linear_gamma(X, Wm, bv, Rm, g, 0.1, o::Stab::Scaled), xs)) < 1e-5);
      }
      // z^B: scalar bounds, then one bound per input feature.
      const std::vector<double> lo(tc.I, -1.0), hi(tc.I, 1.0);
      CHECK(o::rel_err(run_rule(x, W, b, R, ZBoxRule{{-1.0}, {1.0}, 0.1}),
                       o::to_tensor(o::linear_zbox(X, Wm, lo, hi, Rm, 0.1), xs)) < 1e-5);
      std::vector<double> lo2(tc.I), hi2(tc.I);
      for (std::int64_t j = 0; j < tc.I; ++j) {
        lo2[j] = -1.0 - 0.1 * j;
        hi2[j] = 0.5 + 0.05 * j;
      }
      CHECK(o::rel_err(run_rule(x, W, b, R, ZBoxRule{lo2, hi2, 0.1}),
                       o::to_tensor(o::linear_zbox(X, Wm, lo2, hi2, Rm, 0.1), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, WSquareRule{0.1}),
                       o::to_tensor(o::linear_wsquare(tc.M, Wm, bv, Rm, 0.1, false), xs)) < 1e-5);
      CHECK(o::rel_err(run_rule(x, W, b, R, FlatRule{0.1}),
                       o::to_tensor(o::linear_wsquare(tc.M, Wm, bv, Rm, 0.1, true), xs)) < 1e-5);
    }
  }

  TEST_CASE("conservation of the positive rules: zplus and flat pass all relevance down without bias") {
    const Tensor x = o::random_tensor({3, 12}, 21, 0.0, 1.0);  // x >= 0, as after a ReLU
    const Tensor W = o::random_tensor({5, 12}, 22);
    const Tensor R = o::random_tensor({3, 5}, 23, 0.1, 1.0);
    for (const Rule& rule : {Rule{ZPlusRule{0.0}}, Rule{FlatRule{0.0}}, Rule{WSquareRule{0.0}}, Rule{GammaRule{0.5, 0.0}}}) {
      CAPTURE(rule_str(rule));
      CHECK(sum_all(run_rule(x, W, Tensor(), R, rule)) == doctest::Approx(sum_all(R)).epsilon(1e-5));
    }
  }

  TEST_CASE("zbox bounds per channel must match the features") {
    const Tensor x = o::random_tensor({1, 4}, 1);
    CHECK_THROWS_AS(run_rule(x, o::random_tensor({2, 4}, 2), Tensor(), o::random_tensor({1, 2}, 3),
                             ZBoxRule{{0.0, 0.0, 0.0}, {1.0, 1.0, 1.0}}),
                    ShapeError);
  }

  TEST_CASE("the worked example of docs/RULES.md: zero with a one-hot seed x 100 / and backtrace") {
    const Tensor W = Tensor::from_vector({0.5f, 0.3f, 0.2f, 0.1f, 0.4f, 0.5f}, {2, 3});
    const Tensor b = Tensor::from_vector({0.1f, 0.2f}, {2});
    const Tensor x = Tensor::from_vector({1.f, 2.f, 3.f}, {1, 3});
    const Tensor R = Tensor::from_vector({0.f, 100.f}, {1, 2});
    for (const Rule& rule : {Rule{ZeroRule{}}, Rule{BacktraceRule{}}}) {
      const Tensor r = run_rule(x, W, b, R, rule);
      CHECK(r.get({0, 0}) == doctest::Approx(100 * 0.1 / 2.6).epsilon(1e-6));
      CHECK(r.get({0, 1}) == doctest::Approx(100 * 0.8 / 2.6).epsilon(1e-6));
      CHECK(r.get({0, 2}) == doctest::Approx(100 * 1.5 / 2.6).epsilon(1e-6));
    }
  }

  TEST_CASE("zero denominators give zero relevance / never inf or NaN") {
    const Tensor x = Tensor::zeros({1, 3});
    const Tensor W = o::random_tensor({2, 3}, 7);
    const Tensor R = Tensor::from_vector({1.f, -2.f}, {1, 2});
    for (const Rule& rule : {Rule{ZeroRule{}}, Rule{BacktraceRule{}}, Rule{EpsilonRule{0.0, Stabilizer::Clip}}}) {
      const Tensor r = run_rule(x, W, Tensor(), R, rule);
      for (double v : r.to_vector_f64()) CHECK(v == 0.0);
    }
  }

  TEST_CASE("pass needs equal in and out features / unknown pairs are typed errors") {
    const Tensor x = o::random_tensor({1, 4}, 1);
    const Tensor R = o::random_tensor({1, 4}, 2);
    CHECK(o::rel_err(run_rule(x, o::random_tensor({4, 4}, 3), Tensor(), R, PassRule{}), R) == 0.0);
    CHECK_THROWS_AS(run_rule(x, o::random_tensor({3, 4}, 3), Tensor(), o::random_tensor({1, 3}, 4), PassRule{}),
                    UnsupportedError);
    CHECK_THROWS_AS(run_rule(x, o::random_tensor({3, 4}, 3), Tensor(), o::random_tensor({1, 3}, 4), NormRule{}),
                    UnsupportedError);
  }

  TEST_CASE("shape errors name the node and both shapes") {
    const Tensor x = o::random_tensor({2, 5}, 1);
    try {
      linear(x, o::random_tensor({3, 4}, 2), Tensor(), "head");
      FAIL("expected a ShapeError");
    } catch (const ShapeError& e) {
      const std::string m = e.what();
      CHECK(m.find("head") != std::string::npos);
      CHECK(m.find("(2, 5)") != std::string::npos);
      CHECK(m.find("(3, 4)") != std::string::npos);
    }
    CHECK_THROWS_AS(linear(x, o::random_tensor({3, 5}, 2), o::random_tensor({4}, 3)), ShapeError);
    CHECK_THROWS_AS(linear(x, Tensor::zeros({3, 5}, DType::I64)), DtypeError);
  }
}
