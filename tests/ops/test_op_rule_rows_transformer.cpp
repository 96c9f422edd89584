// Rows of the op x rule matrix (op_rule_matrix.hpp): attention, layer / RMS norm and the
// token ops, their forwards written in float64 (docs/RULES.md, "Transformers").

#include <cmath>

#include "ops/op_rule_matrix.hpp"
#include "relprop/ops/attention.hpp"
#include "relprop/ops/norm.hpp"
#include "relprop/ops/token.hpp"

namespace relprop::matrix {

namespace {

namespace o = oracle;

const Oracle kPass = [](const std::vector<Vec>&, const Vec& R, const Rule&) { return std::vector<Vec>{R}; };

Oracle gradient(const o::Forward& f) {
  return [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); };
}

// matmul: a (B, M, K) · b (B, K, N), both computed.
constexpr std::size_t kB = 2, kM = 3, kK = 4, kN = 5;

Vec matmul_f64(const Vec& a, const Vec& b) {
  Vec o(kB * kM * kN, 0.0);
  for (std::size_t p = 0; p < kB; ++p)
    for (std::size_t m = 0; m < kM; ++m)
      for (std::size_t n = 0; n < kN; ++n)
        for (std::size_t k = 0; k < kK; ++k) o[(p * kM + m) * kN + n] += a[(p * kM + m) * kK + k] * b[(p * kK + k) * kN + n];
  return o;
}

// AttnLRP's bilinear rule: each factor takes a_mk b_kn R_mn / stab(f o_mn) with f = 2
// when both factors are computed; `held` (0 or 1, or -1) is a constant factor.
std::vector<Vec> bilinear(const std::vector<Vec>& x, const Vec& R, double eps, int held) {
  const Vec o = matmul_f64(x[0], x[1]);
  const double f = held < 0 ? 2.0 : 1.0;
  Vec ra(x[0].size(), 0.0), rb(x[1].size(), 0.0);
  for (std::size_t p = 0; p < kB; ++p)
    for (std::size_t m = 0; m < kM; ++m)
      for (std::size_t n = 0; n < kN; ++n) {
        const std::size_t on = (p * kM + m) * kN + n;
        const double den = o::stab(f * o[on], eps), s = den == 0 ? 0.0 : R[on] / den;
        for (std::size_t k = 0; k < kK; ++k) {
          const double c = x[0][(p * kM + m) * kK + k] * x[1][(p * kK + k) * kN + n] * s;
          if (held != 0) ra[(p * kM + m) * kK + k] += c;  // the held factor takes nothing
          if (held != 1) rb[(p * kK + k) * kN + n] += c;
        }
      }
  return {ra, rb};
}

// attention_softmax over scores (1, 2, 3, 3) with the causal mask and scale 0.5.
constexpr double kScale = 0.5;
constexpr std::size_t kT = 3;
bool causal_masked(std::size_t i) { return i % kT > (i / kT) % kT; }  // key after the query

Vec attention_softmax_f64(const Vec& x) {
  Vec s(x.size(), 0.0);
  for (std::size_t row = 0; row < x.size(); row += kT) {
    double m = -INFINITY, sum = 0;
    for (std::size_t k = 0; k < kT; ++k)
      if (!causal_masked(row + k)) m = std::max(m, kScale * x[row + k]);
    for (std::size_t k = 0; k < kT; ++k)
      if (!causal_masked(row + k)) sum += std::exp(kScale * x[row + k] - m);
    for (std::size_t k = 0; k < kT; ++k)
      if (!causal_masked(row + k)) s[row + k] = std::exp(kScale * x[row + k] - m) / sum;
  }
  return s;
}

// layer_norm / rms_norm over rows of 5, weight w, bias b (layer norm only).
constexpr std::size_t kD = 5;
constexpr double kNormEps = 1e-5;

struct NormRows {
  bool rms;
  Vec w, b;
  // 1 / std of each row.
  Vec inv(const Vec& x) const {
    Vec out;
    for (std::size_t row = 0; row < x.size(); row += kD) {
      double mean = 0, var = 0;
      if (!rms)
        for (std::size_t d = 0; d < kD; ++d) mean += x[row + d] / kD;
      for (std::size_t d = 0; d < kD; ++d) var += (x[row + d] - mean) * (x[row + d] - mean) / kD;
      out.push_back(1 / std::sqrt(var + kNormEps));
    }
    return out;
  }
  Vec forward(const Vec& x) const {
    const Vec iv = inv(x);
    Vec y(x.size());
    for (std::size_t row = 0; row < x.size(); row += kD) {
      double mean = 0;
      if (!rms)
        for (std::size_t d = 0; d < kD; ++d) mean += x[row + d] / kD;
      for (std::size_t d = 0; d < kD; ++d)
        y[row + d] = (x[row + d] - mean) * iv[row / kD] * w[d] + (rms ? 0.0 : b[d]);
    }
    return y;
  }
};

// Rotary embedding of x (1, 2, 3, 4) at positions 0, 1, 2, theta 10000.
constexpr std::size_t kRotH = 2, kRotT = 3, kRotD = 4;

Vec rotary_f64(const Vec& x) {
  Vec y(x.size());
  const std::size_t h = kRotD / 2;
  for (std::size_t hd = 0; hd < kRotH; ++hd)
    for (std::size_t t = 0; t < kRotT; ++t)
      for (std::size_t j = 0; j < h; ++j) {
        const double angle = static_cast<double>(t) * std::pow(10000.0, -2.0 * static_cast<double>(j) / kRotD);
        const double c = std::cos(angle), s = std::sin(angle);
        const std::size_t base = (hd * kRotT + t) * kRotD;
        y[base + j] = x[base + j] * c - x[base + j + h] * s;
        y[base + j + h] = x[base + j + h] * c + x[base + j] * s;
      }
  return y;
}

}  // namespace

std::vector<Row> transformer_rows() {
  using In = const std::vector<Tensor>&;
  std::vector<Row> rows;
  {
    Row r{OpKind::Matmul, "a (2, 3, 4) · b (2, 4, 5), both computed", {values({2, 3, 4}, 81), values({2, 4, 5}, 82)},
          [](In v, Device) { return matmul(v[0], v[1], "op"); }};
    set(r, {RuleKind::Zero, RuleKind::Epsilon, RuleKind::Backtrace},
        [](const std::vector<Vec>& x, const Vec& R, const Rule& rule) { return bilinear(x, R, epsilon_of(rule), -1); });
    set(r, {RuleKind::Constant}, [](const std::vector<Vec>& x, const Vec& R, const Rule& rule) {
      return bilinear(x, R, epsilon_of(rule), std::get<ConstantRule>(rule).input);
    });
    r.oracles[RuleKind::Gradient] = gradient([](const std::vector<Vec>& x) { return matmul_f64(x[0], x[1]); });
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::AttentionSoftmax, "scores (1, 2, 3, 3), causal, scale 0.5", {values({1, 2, 3, 3}, 83, -2, 2)},
          [](In v, Device) { return attention_softmax(v[0], {}, true, kScale, "op"); }};
    const o::Forward f = [](const std::vector<Vec>& x) { return attention_softmax_f64(x[0]); };
    // AttnLRP x (R - s sum R) on the scaled scores, masked entries 0: the epsilon rule of
    // the visible entries' linearisation (the scale passes relevance unchanged).
    set(r, {RuleKind::Zero, RuleKind::Epsilon}, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) {
      return o::epsilon_rule(f, x, R, 0.0);
    });
    set(r, {RuleKind::Pass, RuleKind::Backtrace}, kPass);
    set(r, {RuleKind::Constant}, [](const std::vector<Vec>& x, const Vec&, const Rule&) {
      return std::vector<Vec>{Vec(x[0].size(), 0.0)};
    });
    r.oracles[RuleKind::Gradient] = gradient(f);
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::ScaledDotProductAttention, "q, k, v (1, 2, 3, 4), causal",
          {values({1, 2, 3, 4}, 84), values({1, 2, 3, 4}, 85), values({1, 2, 3, 4}, 86)},
          [](In v, Device) { return scaled_dot_product_attention(v[0], v[1], v[2], {}, true, 0.0, "op"); }};
    r.check_tape = [](const Tape& tape) {
      std::vector<OpKind> ops;
      for (std::size_t n = 0; n < tape.size(); ++n) ops.push_back(tape.node(n).op());
      CHECK(ops == std::vector<OpKind>{OpKind::Transpose, OpKind::Matmul, OpKind::AttentionSoftmax, OpKind::Matmul});
    };
    rows.push_back(std::move(r));
  }
  for (const bool rms : {false, true}) {
    const Tensor w = values({5}, rms ? 87 : 88, 0.5, 1.5), b = values({5}, 89);
    Row r{rms ? OpKind::RmsNorm : OpKind::LayerNorm, "x (2, 5), weight, bias (layer norm)", {values({2, 5}, 90, -2, 2)},
          [=](In v, Device d) {
            return rms ? rms_norm(v[0], w.to(d), kNormEps, "op") : layer_norm(v[0], w.to(d), b.to(d), kNormEps, "op");
          }};
    r.params = {w, b};
    const NormRows n{rms, w.to_vector_f64(), b.to_vector_f64()};
    r.oracles[RuleKind::Gradient] = gradient([n](const std::vector<Vec>& x) { return n.forward(x[0]); });
    set(r, {RuleKind::Pass, RuleKind::Backtrace}, kPass);
    if (rms) {
      set(r, {RuleKind::Zero, RuleKind::Epsilon}, kPass);  // identity
    } else {
      // 1/std held constant: the epsilon rule of (x - mean) inv w, denominators the output y.
      set(r, {RuleKind::Zero, RuleKind::Epsilon}, [n](const std::vector<Vec>& x, const Vec& R, const Rule& rule) {
        const Vec iv = n.inv(x[0]), y = n.forward(x[0]);
        Vec out(x[0].size(), 0.0);
        for (std::size_t row = 0; row < x[0].size(); row += kD)
          for (std::size_t k = 0; k < kD; ++k) {
            const double den = o::stab(y[row + k], epsilon_of(rule)), s = den == 0 ? 0.0 : R[row + k] / den;
            for (std::size_t j = 0; j < kD; ++j)
              out[row + j] += x[0][row + j] * n.w[k] * iv[row / kD] * ((j == k ? 1.0 : 0.0) - 1.0 / kD) * s;
          }
        return std::vector<Vec>{out};
      });
    }
    rows.push_back(std::move(r));
  }
  {
    const Tensor w = values({5, 4}, 91);
    const std::vector<std::int64_t> id_values{4, 0, 2, 2, 1, 3};
    Row r{OpKind::Embedding, "ids (2, 3), weight (5, 4)",
          {Tensor::from_vector(std::span<const std::int64_t>(id_values), {2, 3})},
          [w](In v, Device d) { return embedding(v[0], w.to(d), "op"); }};
    r.params = {w};
    // Every rule: each id gets the relevance summed over its row of D.
    set_all(r, [](const std::vector<Vec>& x, const Vec& R, const Rule&) {
      Vec out(x[0].size(), 0.0);
      for (std::size_t i = 0; i < R.size(); ++i) out[i / 4] += R[i];
      return std::vector<Vec>{out};
    });
    rows.push_back(std::move(r));
  }
  {
    // x (2, 3, 4); the mask (a constant) hides token 2 of the first sample.
    const std::vector<double> mask_values{1, 1, 0, 1, 1, 1};
    const Tensor mask = Tensor::from_vector(std::span<const double>(mask_values), {2, 3}).to(DType::F32);
    Row r{OpKind::MaskedMean, "x (2, 3, 4), mask (2, 3) with a hidden token", {values({2, 3, 4}, 92)},
          [mask](In v, Device d) { return masked_mean(v[0], mask.to(d), "op"); }};
    // w_nt = mask_nt / count_n.
    const auto weight = [mask_values](std::size_t n, std::size_t t) {
      const double count = mask_values[n * 3] + mask_values[n * 3 + 1] + mask_values[n * 3 + 2];
      return mask_values[n * 3 + t] / count;
    };
    const o::Forward f = [weight](const std::vector<Vec>& x) {
      Vec y(8, 0.0);
      for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t t = 0; t < 3; ++t)
          for (std::size_t j = 0; j < 4; ++j) y[n * 4 + j] += weight(n, t) * x[0][(n * 3 + t) * 4 + j];
      return y;
    };
    set(r, {RuleKind::Zero, RuleKind::Epsilon, RuleKind::Norm},
        [f](const std::vector<Vec>& x, const Vec& R, const Rule& rule) { return o::epsilon_rule(f, x, R, epsilon_of(rule)); });
    // Pass / backtrace: by w |x_t|.
    set(r, {RuleKind::Pass, RuleKind::Backtrace}, [weight](const std::vector<Vec>& x, const Vec& R, const Rule&) {
      Vec out(x[0].size(), 0.0);
      for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t j = 0; j < 4; ++j) {
          double total = 0;
          for (std::size_t t = 0; t < 3; ++t) total += weight(n, t) * std::fabs(x[0][(n * 3 + t) * 4 + j]);
          for (std::size_t t = 0; t < 3; ++t)
            out[(n * 3 + t) * 4 + j] = R[n * 4 + j] * weight(n, t) * std::fabs(x[0][(n * 3 + t) * 4 + j]) / total;
        }
      return std::vector<Vec>{out};
    });
    r.oracles[RuleKind::Gradient] = gradient(f);
    rows.push_back(std::move(r));
  }
  {
    const std::vector<std::int64_t> positions{0, 1, 2};
    const Tensor pos = Tensor::from_vector(std::span<const std::int64_t>(positions), {1, 3});
    Row r{OpKind::RotaryEmbedding, "x (1, 2, 3, 4), positions 0..2", {values({1, 2, 3, 4}, 93)},
          [pos](In v, Device d) { return rotary_embedding(v[0], pos.to(d), 10000.0, "op"); }};
    const o::Forward f = [](const std::vector<Vec>& x) { return rotary_f64(x[0]); };
    set(r, {RuleKind::Zero, RuleKind::Epsilon},
        [f](const std::vector<Vec>& x, const Vec& R, const Rule& rule) { return o::epsilon_rule(f, x, R, epsilon_of(rule)); });
    set(r, {RuleKind::Pass, RuleKind::Backtrace}, kPass);
    r.oracles[RuleKind::Gradient] = gradient(f);
    rows.push_back(std::move(r));
  }
  {
    const Tensor token = values({4}, 94);
    Row r{OpKind::PrependToken, "x (2, 3, 4), token (4,)", {values({2, 3, 4}, 95)},
          [token](In v, Device d) { return prepend_token(v[0], token.to(d), "op"); }};
    r.params = {token};
    // Every rule: x's part of R; the token's share is absorbed.
    set_all(r, [](const std::vector<Vec>&, const Vec& R, const Rule&) {
      Vec out;
      for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t i = 4; i < 16; ++i) out.push_back(R[n * 16 + i]);
      return std::vector<Vec>{out};
    });
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace relprop::matrix
