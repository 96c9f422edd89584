// Layer norm and RMS norm against float64 oracles (docs/RULES.md, "Transformers"): the
// forward, AttnLRP's rules (1/std held constant; RMS norm the identity), the gradient by
// central differences. Batch norm: tests/nn/test_batchnorm.cpp.

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ops/op_test_util.hpp"
#include "reference/oracle.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/tensor/error.hpp"

using namespace relprop;
using oracle::random_tensor;
using oracle::rel_err;
using optest::from64;
using optest::node_relevance;
using optest::stab;
using optest::v64;

TEST_SUITE("ops.norm") {
  TEST_CASE("layer norm and RMS norm: forward, AttnLRP's rules, gradients") {
    const int rows = 4, D = 6;
    const Tensor x = random_tensor({2, 2, D}, 11, -2, 2), w = random_tensor({D}, 12, 0.5, 1.5),
                 b = random_tensor({D}, 13, -0.3, 0.3);
    const auto xv = v64(x), wv = v64(w), bv = v64(b);
    const double eps = 1e-5;
    // float64 forward, for values and finite-difference gradients.
    auto ln = [&](const std::vector<double>& in, bool rms) {
      std::vector<double> y(in.size());
      for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        if (!rms) {
          for (int d = 0; d < D; ++d) mean += in[r * D + d];
          mean /= D;
        }
        for (int d = 0; d < D; ++d) var += (in[r * D + d] - mean) * (in[r * D + d] - mean);
        var /= D;
        for (int d = 0; d < D; ++d)
          y[r * D + d] = (in[r * D + d] - mean) / std::sqrt(var + eps) * wv[d] + (rms ? 0.0 : bv[d]);
      }
      return y;
    };
    const Tensor R = random_tensor(x.shape(), 14);
    const auto rv = v64(R);
    for (bool rms : {false, true}) {
      CAPTURE(rms);
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        const Tensor xi = tape.input(x, "x");
        y = rms ? rms_norm(xi, w, eps, "norm") : layer_norm(xi, w, b, eps, "norm");
      }
      const auto yv = ln(xv, rms);
      CHECK(rel_err(y, from64(yv, x.shape())) < 1e-5);
      // Gradient of Σ R ⊙ y by central differences in float64.
      std::vector<double> g(xv.size());
      for (std::size_t i = 0; i < xv.size(); ++i) {
        auto p = xv, m = xv;
        p[i] += 1e-6;
        m[i] -= 1e-6;
        const auto yp = ln(p, rms), ym = ln(m, rms);
        double d = 0;
        for (std::size_t k = 0; k < yv.size(); ++k) d += rv[k] * (yp[k] - ym[k]);
        g[i] = d / 2e-6;
      }
      CHECK(rel_err(node_relevance(tape, GradientRule{}, R)[0], from64(g, x.shape())) < 1e-4);
      const Tensor r_eps = node_relevance(tape, EpsilonRule{1e-9}, R)[0];
      if (rms) {
        CHECK(rel_err(r_eps, R) == 0.0);  // identity
        continue;
      }
      // 1/std constant: q = γ inv R / y, R_x = x ⊙ (q - mean(q)).
      std::vector<double> want(xv.size());
      double absorbed = 0, total = 0;
      for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int d = 0; d < D; ++d) mean += xv[r * D + d];
        mean /= D;
        for (int d = 0; d < D; ++d) var += (xv[r * D + d] - mean) * (xv[r * D + d] - mean);
        const double inv = 1.0 / std::sqrt(var / D + eps);
        std::vector<double> q(D);
        double mq = 0;
        for (int d = 0; d < D; ++d) {
          q[d] = wv[d] * inv * rv[r * D + d] / stab(yv[r * D + d], 1e-9);
          mq += q[d] / D;
        }
        for (int d = 0; d < D; ++d) {
          want[r * D + d] = xv[r * D + d] * (q[d] - mq);
          absorbed += bv[d] * rv[r * D + d] / yv[r * D + d];
          total += rv[r * D + d];
        }
      }
      CHECK(rel_err(r_eps, from64(want, x.shape())) < 1e-4);
      // Conservation: what the input receives is the output's relevance less the bias share.
      double got = 0;
      for (double v : v64(r_eps)) got += v;
      CHECK(got == doctest::Approx(total - absorbed).epsilon(1e-3));
      CHECK(rel_err(node_relevance(tape, PassRule{}, R)[0], R) == 0.0);
    }
    CHECK_THROWS_AS(layer_norm(x, random_tensor({D + 1}, 1), Tensor()), ShapeError);
  }

}
