// Attention against float64 oracles written from docs/RULES.md ("Transformers"): matmul
// (bilinear ε/2, CP-LRP's constant factor, gradient), the attention softmax with padding
// and causal masks (AttnLRP's rule, gradient); then a small attention block under the
// attnlrp / cp-lrp composites. Layer / RMS norm: test_norm.cpp; token ops: test_token.cpp.

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "relprop/ops/activation.hpp"
#include "relprop/ops/attention.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/ops/shape.hpp"
#include "relprop/nn/graph.hpp"
#include "ops/op_test_util.hpp"
#include "reference/oracle.hpp"
#include "relprop/relevance/composite.hpp"
#include "relprop/relevance/engine.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/error.hpp"

using namespace relprop;
using oracle::random_tensor;
using oracle::rel_err;
using optest::from64;
using optest::node_relevance;
using optest::stab;
using optest::v64;

namespace {

// Batched (B, M, K) x (B, K, N) in float64.
std::vector<double> bmm(const std::vector<double>& a, const std::vector<double>& b, int B, int M, int K, int N) {
  std::vector<double> o(static_cast<std::size_t>(B * M * N), 0.0);
  for (int q = 0; q < B; ++q)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j)
        for (int k = 0; k < K; ++k) o[(q * M + i) * N + j] += a[(q * M + i) * K + k] * b[(q * K + k) * N + j];
  return o;
}

}  // namespace

TEST_SUITE("ops.attention") {
  TEST_CASE("matmul: forward with broadcast batches, bilinear ε/2, constant factor, gradient") {
    const int B = 6, M = 4, K = 5, N = 3;
    for (std::uint32_t seed : {1u, 2u, 3u}) {
      // A (2, 3, M, K) against B (1, 3, K, N): the first batch dim broadcasts (as shared KV heads).
      const Tensor a = random_tensor({2, 3, M, K}, seed), b = random_tensor({1, 3, K, N}, seed + 10);
      Tape tape;
      Tensor o;
      {
        Recording rec(tape);
        o = matmul(tape.input(a, "a"), tape.input(b, "b"), "mm");
      }
      REQUIRE(o.shape() == Shape{2, 3, M, N});
      // Oracle with b expanded to (2, 3, K, N).
      std::vector<double> av = v64(a), bv1 = v64(b), bv;
      for (int r = 0; r < 2; ++r) bv.insert(bv.end(), bv1.begin(), bv1.end());
      const auto ov = bmm(av, bv, B, M, K, N);
      CHECK(rel_err(o, from64(ov, {2, 3, M, N})) < 1e-6);

      const Tensor R = random_tensor({2, 3, M, N}, seed + 20);
      const auto rv = v64(R);
      const double eps = 1e-3;
      // ε/2: S = R / stab(2 O); R_A = A ⊙ (S Bᵀ); R_B = B ⊙ (Aᵀ S), summed over the broadcast.
      std::vector<double> ra(av.size(), 0.0), rb_full(bv.size(), 0.0), rb(bv1.size(), 0.0);
      for (int q = 0; q < B; ++q)
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < N; ++j) {
            const std::size_t oi = (q * M + i) * N + j;
            const double s = rv[oi] / stab(2 * ov[oi], eps);
            for (int k = 0; k < K; ++k) {
              ra[(q * M + i) * K + k] += av[(q * M + i) * K + k] * bv[(q * K + k) * N + j] * s;
              rb_full[(q * K + k) * N + j] += av[(q * M + i) * K + k] * bv[(q * K + k) * N + j] * s;
            }
          }
      for (std::size_t i = 0; i < rb_full.size(); ++i) rb[i % rb.size()] += rb_full[i];
      auto out = node_relevance(tape, EpsilonRule{eps}, R);
      CHECK(rel_err(out[0], from64(ra, a.shape())) < 1e-5);
      CHECK(rel_err(out[1], from64(rb, b.shape())) < 1e-5);
      // Conservation with ε → 0: each factor takes half of every output's relevance.
      out = node_relevance(tape, ZeroRule{}, R);
      double sr = 0, sa = 0, sb = 0;
      for (double x : rv) sr += x;
      for (double x : v64(out[0])) sa += x;
      for (double x : v64(out[1])) sb += x;
      CHECK(sa == doctest::Approx(sr / 2).epsilon(1e-4));
      CHECK(sb == doctest::Approx(sr / 2).epsilon(1e-4));

      // CP-LRP: A constant, B takes all by the ε-rule; A gets nothing.
      out = node_relevance(tape, ConstantRule{0, eps}, R);
      CHECK_FALSE(out[0].defined());
      std::vector<double> rb2(bv1.size(), 0.0);
      for (int q = 0; q < B; ++q)
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < N; ++j) {
            const std::size_t oi = (q * M + i) * N + j;
            const double s = rv[oi] / stab(ov[oi], eps);
            for (int k = 0; k < K; ++k)
              rb2[((q % 3) * K + k) * N + j] += av[(q * M + i) * K + k] * bv[(q * K + k) * N + j] * s;
          }
      CHECK(rel_err(out[1], from64(rb2, b.shape())) < 1e-5);

      // Gradient: R Bᵀ and Aᵀ R.
      out = node_relevance(tape, GradientRule{}, R);
      std::vector<double> ga(av.size(), 0.0);
      for (int q = 0; q < B; ++q)
        for (int i = 0; i < M; ++i)
          for (int k = 0; k < K; ++k)
            for (int j = 0; j < N; ++j) ga[(q * M + i) * K + k] += rv[(q * M + i) * N + j] * bv[(q * K + k) * N + j];
      CHECK(rel_err(out[0], from64(ga, a.shape())) < 1e-5);
      CHECK_THROWS_AS(node_relevance(tape, ZPlusRule{}, R), UnsupportedError);
    }
    CHECK_THROWS_AS(matmul(random_tensor({2, 3}, 1), random_tensor({4, 2}, 2)), ShapeError);
    CHECK_THROWS_AS(matmul(random_tensor({2, 2, 3}, 1), random_tensor({3, 3, 2}, 2)), ShapeError);
  }

  TEST_CASE("attention softmax: padding and causal masks, AttnLRP's x (R - s ΣR), gradient") {
    const int N = 2, H = 2, Tq = 3, Tk = 4;
    const Tensor x = random_tensor({N, H, Tq, Tk}, 5, -2, 2);
    // Sample 0 sees every key; sample 1 has its last key padded.
    const Tensor mask = Tensor::from_vector(std::vector<float>{1, 1, 1, 1, 1, 1, 1, 0}, {N, Tk});
    for (bool causal : {false, true}) {
      CAPTURE(causal);
      Tape tape;
      Tensor s;
      {
        Recording rec(tape);
        s = attention_softmax(tape.input(x, "x"), mask, causal, 1.0, "softmax");
      }
      const auto xv = v64(x);
      std::vector<double> sv(xv.size()), masked(xv.size());
      for (int n = 0; n < N; ++n)
        for (int h = 0; h < H; ++h)
          for (int q = 0; q < Tq; ++q) {
            const int base = ((n * H + h) * Tq + q) * Tk;
            double z = 0;
            for (int k = 0; k < Tk; ++k) {
              masked[base + k] = (n == 1 && k == Tk - 1) || (causal && k > q + Tk - Tq);
              if (!masked[base + k]) z += std::exp(xv[base + k]);
            }
            for (int k = 0; k < Tk; ++k) sv[base + k] = masked[base + k] ? 0.0 : std::exp(xv[base + k]) / z;
          }
      CHECK(rel_err(s, from64(sv, x.shape())) < 1e-6);
      const Tensor R = random_tensor(x.shape(), 6);
      const auto rv = v64(R);
      std::vector<double> want(xv.size()), grad(xv.size());
      for (std::size_t row = 0; row < xv.size() / Tk; ++row) {
        double sum_r = 0, sum_rs = 0;  // over the visible keys (a masked one is a constant 0)
        for (int k = 0; k < Tk; ++k) {
          if (!masked[row * Tk + k]) sum_r += rv[row * Tk + k];
          sum_rs += rv[row * Tk + k] * sv[row * Tk + k];
        }
        for (int k = 0; k < Tk; ++k) {
          const std::size_t i = row * Tk + k;
          want[i] = masked[i] ? 0.0 : xv[i] * (rv[i] - sv[i] * sum_r);
          grad[i] = masked[i] ? 0.0 : sv[i] * (rv[i] - sum_rs);
        }
      }
      CHECK(rel_err(node_relevance(tape, EpsilonRule{}, R)[0], from64(want, x.shape())) < 1e-5);
      CHECK(rel_err(node_relevance(tape, GradientRule{}, R)[0], from64(grad, x.shape())) < 1e-5);
      CHECK(rel_err(node_relevance(tape, PassRule{}, R)[0], R) == 0.0);
      CHECK(v64(node_relevance(tape, ConstantRule{}, R)[0]) == std::vector<double>(xv.size(), 0.0));
    }
    CHECK_THROWS_AS(attention_softmax(x, Tensor::full({N, Tk + 1}, 1.0)), ShapeError);
  }

  TEST_CASE("attention softmax: scores far below the row's maximum get exactly 0, and so does their relevance") {
    // An additive mask of -1e9 (or float's lowest) inside the scores, as exported graphs
    // carry it; 17 keys so that vector and scalar tails both see it.
    std::vector<float> v(2 * 17);
    for (int i = 0; i < 34; ++i) v[i] = 0.1f * static_cast<float>(i % 17);
    v[3] = -1e9f;
    v[16] = std::numeric_limits<float>::lowest();
    v[17 + 8] = -1e9f;
    const Tensor x = Tensor::from_vector(std::span<const float>(v), {2, 17});
    Tape tape;
    Tensor s;
    {
      Recording rec(tape);
      s = attention_softmax(tape.input(x, "x"), Tensor(), false, 1.0, "sm");
    }
    CHECK(s.get({0, 3}) == 0.0);
    CHECK(s.get({0, 16}) == 0.0);
    CHECK(s.get({1, 8}) == 0.0);
    double row = 0;
    for (int k = 0; k < 17; ++k) row += s.get({0, k});
    CHECK(row == doctest::Approx(1.0).epsilon(1e-6));
    // Relevance arriving from A·V is proportional to the probabilities (0 where s is 0).
    const Tensor seed = mul(s, random_tensor({2, 17}, 3));
    const Tensor r = node_relevance(tape, EpsilonRule{}, seed)[0];
    CHECK(r.get({0, 3}) == 0.0);
    CHECK(r.get({0, 16}) == 0.0);
    CHECK(r.get({1, 8}) == 0.0);
  }

  TEST_CASE("plain softmax supports AttnLRP's rule too") {
    const Tensor x = random_tensor({3, 5}, 9, -3, 3);
    Tape tape;
    {
      Recording rec(tape);
      softmax(tape.input(x, "x"), -1, "sm");
    }
    const Tensor R = random_tensor({3, 5}, 10);
    const auto xv = v64(x), rv = v64(R);
    std::vector<double> want(xv.size());
    for (int r = 0; r < 3; ++r) {
      double z = 0, sr = 0;
      for (int k = 0; k < 5; ++k) {
        z += std::exp(xv[r * 5 + k]);
        sr += rv[r * 5 + k];
      }
      for (int k = 0; k < 5; ++k) want[r * 5 + k] = xv[r * 5 + k] * (rv[r * 5 + k] - std::exp(xv[r * 5 + k]) / z * sr);
    }
    CHECK(rel_err(node_relevance(tape, ZeroRule{}, R)[0], from64(want, x.shape())) < 1e-5);
  }

  TEST_CASE("an attention block explains: CP-LRP conserves exactly, AttnLRP and gradient run") {
    const int T = 4, D = 6;
    const Tensor x = random_tensor({1, T, D}, 20);
    const Tensor wq = random_tensor({D, D}, 21), wk = random_tensor({D, D}, 22), wv = random_tensor({D, D}, 23),
                 wo = random_tensor({2, D}, 24);
    const Tensor scale = Tensor::full({1}, 1.0 / std::sqrt(double(D)));
    for (const char* name : {"cp-lrp", "attnlrp", "gradient", "backtrace"}) {
      CAPTURE(name);
      Tape tape;
      Tensor y;
      {
        Recording rec(tape);
        const Tensor xi = tape.input(x, "x");
        const Tensor q = linear(xi, wq, Tensor(), "q"), k = linear(xi, wk, Tensor(), "k"),
                     v = linear(xi, wv, Tensor(), "v");
        const Tensor scores = mul(matmul(q, transpose(k, 1, 2, "kT"), "qk"), scale, "scale");
        const Tensor att = attention_softmax(scores, Tensor(), true, 1.0, "softmax");
        const Tensor ctx = matmul(att, v, "av");
        y = linear(ctx, wo, Tensor(), "out");  // (1, T, 2)
      }
      Tensor seed = Tensor::zeros(y.shape());
      seed.set_flat((T - 1) * 2 + 1, y.get({0, T - 1, 1}));  // the last position's class 1
      Composite c = Composite::by_name(name);
      if (std::string(name) == "cp-lrp") c.for_class(OpClass::LinearType, ZeroRule{});
      const RelevanceMap R = propagate(tape, y, seed, c);
      const Tensor& r = R.input("x");
      CHECK(r.shape() == x.shape());
      double sum = 0;
      bool finite = true;
      for (double v : v64(r)) {
        sum += v;
        finite = finite && std::isfinite(v);
      }
      CHECK(finite);
      // Bias-free, attention weights constant, LRP-0 everywhere: exactly conserved.
      if (std::string(name) == "cp-lrp") CHECK(sum == doctest::Approx(y.get({0, T - 1, 1})).epsilon(1e-4));
    }
  }

  TEST_CASE("scaled_dot_product_attention: PyTorch's forward, relevance equal to its parts' under every rule") {
    // Two heads over one shared K/V head (grouped-query broadcasting), a padding key and
    // the causal mask.
    const int N = 2, H = 2, T = 5, d = 4, dv = 3;
    const Tensor q = random_tensor({N, H, T, d}, 40), k = random_tensor({N, 1, T, d}, 41),
                 v = random_tensor({N, 1, T, dv}, 42);
    const Tensor mask = Tensor::from_vector({1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 0.f}, {N, T});
    // Forward against float64: softmax(q kᵀ / sqrt(d)) v with masked keys dropped.
    const Tensor y = scaled_dot_product_attention(q, k, v, mask, true);
    REQUIRE(y.shape() == Shape{N, H, T, dv});
    {
      const auto Q = v64(q), K = v64(k), V = v64(v), Y = v64(y);
      double worst = 0;
      for (int n = 0; n < N; ++n)
        for (int h = 0; h < H; ++h)
          for (int i = 0; i < T; ++i) {
            std::vector<double> w(T, 0.0);
            double m = -1e300, sum = 0;
            for (int j = 0; j <= i; ++j) {
              if (n == 1 && j == T - 1) continue;  // padding
              double z = 0;
              for (int c = 0; c < d; ++c) z += Q[((n * H + h) * T + i) * d + c] * K[(n * T + j) * d + c];
              w[j] = z / std::sqrt(double(d));
              m = std::max(m, w[j]);
            }
            for (int j = 0; j <= i; ++j) {
              if (n == 1 && j == T - 1) continue;
              w[j] = std::exp(w[j] - m);
              sum += w[j];
            }
            for (int c = 0; c < dv; ++c) {
              double o = 0;
              for (int j = 0; j <= i; ++j)
                if (!(n == 1 && j == T - 1)) o += w[j] / sum * V[(n * T + j) * dv + c];
              worst = std::max(worst, std::abs(o - Y[((n * H + h) * T + i) * dv + c]));
            }
          }
      CHECK(worst < 1e-6);
    }
    const Tensor R = random_tensor(y.shape(), 43);
    auto explain = [&](const char* composite, bool fused) {
      Tape tape;
      Tensor out;
      {
        Recording rec(tape);
        const Tensor qi = tape.input(q, "q"), ki = tape.input(k, "k"), vi = tape.input(v, "v");
        if (fused) {
          out = scaled_dot_product_attention(qi, ki, vi, mask, true, 0.0, "attn");
        } else {
          const Tensor s = matmul(qi, transpose(ki, 2, 3), "scores");
          out = matmul(attention_softmax(s, mask, true, 1.0 / std::sqrt(double(d)), "softmax"), vi, "context");
        }
      }
      const RelevanceMap M = propagate(tape, out, R, Composite::by_name(composite));
      return std::vector<std::vector<double>>{v64(M.input("q")), v64(M.input("k")), v64(M.input("v"))};
    };
    for (const char* composite : {"attnlrp", "cp-lrp", "backtrace", "gradient", "epsilon"}) {
      CAPTURE(std::string(composite));
      const auto fused = explain(composite, true), parts = explain(composite, false);
      for (int i = 0; i < 3; ++i) CHECK(fused[i] == parts[i]);  // bit for bit
      double mass = 0;
      for (const auto& r : fused)
        for (double x : r) mass += std::abs(x);
      CHECK(mass > 0.0);
    }
    // As a graph node (PyTorch's argument names), and shape errors naming the node.
    Graph g = Graph::parse(R"({"format": "relprop-graph", "version": 1,
      "inputs": [{"name": "q", "shape": [-1, 2, -1, 4]}, {"name": "k", "shape": [-1, 1, -1, 4]},
                 {"name": "v", "shape": [-1, 1, -1, 3]}, {"name": "mask", "shape": [-1, -1]}],
      "nodes": [{"name": "attn", "op": "scaled_dot_product_attention", "inputs": ["q", "k", "v", "mask"],
                 "attrs": {"is_causal": true}}],
      "outputs": ["attn"]})");
    g.bind(std::map<std::string, Tensor>{});  // no weights
    Tape tape;
    Tensor gy;
    {
      Recording rec(tape);
      gy = g.forward({{"q", q}, {"k", k}, {"v", v}, {"mask", mask}})[0];
    }
    CHECK(v64(gy) == v64(y));
    const RelevanceMap M = propagate(tape, gy, R, Composite::by_name("attnlrp"), PropagateOptions{.retain = false, .keep_all = false, .keep = {"attn", "attn.softmax"}});
    CHECK(M.node("attn").shape() == y.shape());
    CHECK(M.node("attn.softmax").shape() == Shape{N, H, T, T});
    // PyTorch's is_causal is top-left aligned: only square scores are taken.
    CHECK_THROWS_AS(scaled_dot_product_attention(random_tensor({N, H, T - 1, d}, 5), k, v, Tensor(), true),
                    UnsupportedError);
    CHECK_THROWS_AS(scaled_dot_product_attention(q, random_tensor({N, 1, T, 3}, 1), v), ShapeError);
    CHECK_THROWS_AS(scaled_dot_product_attention(q, k, random_tensor({N, 1, T + 1, dv}, 1)), ShapeError);
  }
}
