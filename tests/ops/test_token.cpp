// Token ops against float64 oracles and hand-worked values (docs/RULES.md, "Transformers"):
// rotary embedding (HF's rotation, its ε-rule, gradient), embedding (rows by id, relevance
// summed over the hidden dimension), masked_mean and prepend_token under every rule they
// take.

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ops/op_test_util.hpp"
#include "reference/oracle.hpp"
#include "relprop/ops/token.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/tensor/error.hpp"

using namespace relprop;
using oracle::random_tensor;
using oracle::rel_err;
using optest::from64;
using optest::node_relevance;
using optest::stab;
using optest::v64;

TEST_SUITE("ops.token") {
  TEST_CASE("rotary embedding: HF's rotation, its ε-rule, gradient") {
    const int N = 2, H = 2, T = 3, d = 4, h = d / 2;
    const Tensor x = random_tensor({N, H, T, d}, 30);
    const std::vector<std::int64_t> pv{0, 1, 2, 5, 6, 7};
    const Tensor pos = Tensor::from_vector(std::span<const std::int64_t>(pv), {N, T});
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = rotary_embedding(tape.input(x, "x"), pos, 100.0, "rope");
    }
    const auto xv = v64(x);
    std::vector<double> yv(xv.size()), c(xv.size() / 2), s(xv.size() / 2);
    for (int b = 0; b < N; ++b)
      for (int hh = 0; hh < H; ++hh)
        for (int t = 0; t < T; ++t)
          for (int j = 0; j < h; ++j) {
            const double ang = pv[b * T + t] * std::pow(100.0, -2.0 * j / d);
            const int base = ((b * H + hh) * T + t) * d, ci = ((b * H + hh) * T + t) * h + j;
            c[ci] = std::cos(ang);
            s[ci] = std::sin(ang);
            yv[base + j] = xv[base + j] * c[ci] - xv[base + j + h] * s[ci];
            yv[base + j + h] = xv[base + j + h] * c[ci] + xv[base + j] * s[ci];
          }
    CHECK(rel_err(y, from64(yv, x.shape())) < 1e-5);
    const Tensor R = random_tensor(x.shape(), 31);
    const auto rv = v64(R);
    std::vector<double> want(xv.size()), grad(xv.size());
    for (std::size_t row = 0; row < xv.size() / d; ++row)
      for (int j = 0; j < h; ++j) {
        const std::size_t a = row * d + j, b = a + h, ci = row * h + j;
        const double s1 = rv[a] / stab(yv[a], 1e-6), s2 = rv[b] / stab(yv[b], 1e-6);
        // z contributions: y_a = x_a c - x_b s, y_b = x_b c + x_a s.
        want[a] = xv[a] * c[ci] * s1 + xv[a] * s[ci] * s2;
        want[b] = -xv[b] * s[ci] * s1 + xv[b] * c[ci] * s2;
        grad[a] = c[ci] * rv[a] + s[ci] * rv[b];
        grad[b] = -s[ci] * rv[a] + c[ci] * rv[b];
      }
    CHECK(rel_err(node_relevance(tape, EpsilonRule{1e-6}, R)[0], from64(want, x.shape())) < 1e-4);
    CHECK(rel_err(node_relevance(tape, GradientRule{}, R)[0], from64(grad, x.shape())) < 1e-5);
    CHECK(rel_err(node_relevance(tape, PassRule{}, R)[0], R) == 0.0);
    CHECK_THROWS_AS(rotary_embedding(random_tensor({1, 1, 2, 3}, 1), pos), ShapeError);
  }

  TEST_CASE("embedding: rows by id, relevance summed over the hidden dimension, bad ids refused") {
    const Tensor W = random_tensor({7, 3}, 15);
    const Tensor ids = Tensor::from_vector(std::span<const std::int64_t>(std::vector<std::int64_t>{2, 0, 6, 2}), {2, 2});
    Tape tape;
    Tensor e;
    {
      Recording rec(tape);
      e = embedding(tape.input(ids, "input_ids"), W, "emb");
    }
    CHECK(e.shape() == Shape{2, 2, 3});
    CHECK(e.get({1, 0, 2}) == W.get({6, 2}));
    const Tensor R = random_tensor({2, 2, 3}, 16);
    const Tensor r = node_relevance(tape, EpsilonRule{}, R)[0];
    CHECK(r.shape() == Shape{2, 2});
    CHECK(r.get({1, 1}) == doctest::Approx(R.get({1, 1, 0}) + R.get({1, 1, 1}) + R.get({1, 1, 2})));
    const Tensor bad = Tensor::from_vector(std::span<const std::int64_t>(std::vector<std::int64_t>{7}), {1});
    CHECK_THROWS_WITH_AS(embedding(bad, W), doctest::Contains("id 7"), IndexError);
  }

  TEST_CASE("masked_mean: mean over the real tokens, its ε-rule, backtrace by |x|, gradient") {
    // x (2, 3, 2); the mask hides token 2 of sample 0.
    const std::vector<float> xv{1.f, -2.f, 3.f, 4.f, 100.f, 100.f, 2.f, 2.f, -1.f, 0.5f, 4.f, -4.f};
    const Tensor x = Tensor::from_vector(xv, {2, 3, 2});
    const Tensor mask = Tensor::from_vector({1.f, 1.f, 0.f, 1.f, 1.f, 1.f}, {2, 3});
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = masked_mean(tape.input(x, "x"), mask, "pool");
    }
    // Sample 0: (x0 + x1) / 2; sample 1: (x0 + x1 + x2) / 3.
    CHECK(y.shape() == Shape{2, 2});
    const std::vector<double> want_y{2.0, 1.0, 5.0 / 3.0, -0.5};
    for (std::size_t i = 0; i < want_y.size(); ++i) CHECK(v64(y)[i] == doctest::Approx(want_y[i]).epsilon(1e-6));
    const Tensor R = Tensor::from_vector({1.f, 2.f, 3.f, -6.f}, {2, 2});
    // ε-rule (ε 0): R_t = (w_t x_t / y) R, the hidden token nothing.
    const auto e = v64(node_relevance(tape, EpsilonRule{0.0}, R)[0]);
    const std::vector<double> want_e{0.25, -2.0, 0.75, 4.0, 0.0, 0.0, 1.2, 8.0, -0.6, 2.0, 2.4, -16.0};
    for (std::size_t i = 0; i < want_e.size(); ++i) CHECK(e[i] == doctest::Approx(want_e[i]).epsilon(1e-6));
    // Backtrace / pass: by w_t |x_t| over the visible tokens.
    const auto bt = v64(node_relevance(tape, BacktraceRule{}, R)[0]);
    const std::vector<double> want_bt{0.25,      2.0 * 2.0 / 6.0, 0.75,      2.0 * 4.0 / 6.0,  0.0,        0.0,
                                      3.0 * 2 / 7, -6.0 * 2 / 6.5,  3.0 * 1 / 7, -6.0 * 0.5 / 6.5, 3.0 * 4 / 7, -6.0 * 4 / 6.5};
    for (std::size_t i = 0; i < want_bt.size(); ++i) CHECK(bt[i] == doctest::Approx(want_bt[i]).epsilon(1e-6));
    CHECK(v64(node_relevance(tape, PassRule{}, R)[0]) == bt);
    // Gradient: w_t R.
    const auto g = v64(node_relevance(tape, GradientRule{}, R)[0]);
    const std::vector<double> want_g{0.5, 1.0, 0.5, 1.0, 0.0, 0.0, 1.0, -2.0, 1.0, -2.0, 1.0, -2.0};
    for (std::size_t i = 0; i < want_g.size(); ++i) CHECK(g[i] == doctest::Approx(want_g[i]).epsilon(1e-6));
    CHECK_THROWS_AS(masked_mean(x, Tensor::from_vector({1.f, 1.f}, {1, 2})), ShapeError);
    CHECK_THROWS_AS(masked_mean(Tensor::from_vector({1.f}, {1})), ShapeError);
  }

  TEST_CASE("prepend_token: the token first along dimension 1, its share absorbed under every rule") {
    const Tensor x = Tensor::from_vector({1.f, 2.f, 3.f, 4.f}, {1, 2, 2});
    const Tensor token = Tensor::from_vector({9.f, 8.f}, {2});
    Tape tape;
    Tensor y;
    {
      Recording rec(tape);
      y = prepend_token(tape.input(x, "x"), token, "cls");
    }
    CHECK(y.shape() == Shape{1, 3, 2});
    CHECK(y.to_vector() == std::vector<float>{9.f, 8.f, 1.f, 2.f, 3.f, 4.f});
    const Tensor R = Tensor::from_vector({5.f, 6.f, 0.5f, -1.f, 2.f, 3.f}, {1, 3, 2});
    for (const Rule& rule : {Rule(EpsilonRule{}), Rule(PassRule{}), Rule(GradientRule{}), Rule(BacktraceRule{})}) {
      CAPTURE(rule_str(rule));
      CHECK(node_relevance(tape, rule, R)[0].to_vector() == std::vector<float>{0.5f, -1.f, 2.f, 3.f});
    }
    // Through the engine: the token's 11 units show as absorbed.
    const RelevanceMap m = propagate(tape, y, R, Composite::by_name("epsilon"));
    CHECK(m.report().back().absorbed() == doctest::Approx(11.0));
    CHECK_THROWS_AS(prepend_token(x, Tensor::from_vector({1.f, 2.f, 3.f}, {3})), ShapeError);
  }
}
