// Rows of the op x rule matrix (op_rule_matrix.hpp): pooling, with window loops in
// float64 for the oracles (docs/RULES.md, "Pooling").

#include <algorithm>
#include <cmath>

#include "ops/op_rule_matrix.hpp"
#include "relprop/ops/pool.hpp"

namespace relprop::matrix {

namespace {

namespace o = oracle;

// Windows of size kh x kw, stride sh x sw, zero padding ph x pw over planes of H x W:
// the input positions of output k inside the input, in order, and the divisor of an
// average (the padded count up to the padded edge with count_include_pad, as PyTorch).
struct Windows {
  std::int64_t planes, H, W, kh, kw, sh, sw, ph = 0, pw = 0;
  bool count_include_pad = true;
  std::int64_t HO() const { return (H + 2 * ph - kh) / sh + 1; }
  std::int64_t WO() const { return (W + 2 * pw - kw) / sw + 1; }
  std::int64_t outputs() const { return planes * HO() * WO(); }
  std::vector<std::int64_t> of(std::int64_t k) const {
    const std::int64_t p = k / (HO() * WO()), oh = (k / WO()) % HO(), ow = k % WO();
    std::vector<std::int64_t> at;
    for (std::int64_t i = 0; i < kh; ++i)
      for (std::int64_t j = 0; j < kw; ++j) {
        const std::int64_t h = oh * sh - ph + i, w = ow * sw - pw + j;
        if (h >= 0 && h < H && w >= 0 && w < W) at.push_back((p * H + h) * W + w);
      }
    return at;
  }
  double divisor(std::int64_t k) const {
    if (!count_include_pad) return static_cast<double>(of(k).size());
    const std::int64_t oh = (k / WO()) % HO(), ow = k % WO();
    const std::int64_t h0 = oh * sh - ph, w0 = ow * sw - pw;
    const std::int64_t h1 = std::min(h0 + kh, H + ph), w1 = std::min(w0 + kw, W + pw);
    return static_cast<double>((h1 - h0) * (w1 - w0));
  }
};

// Per-window relevance: share(window values, R_k) -> one share per position.
template <class Share>
Vec by_window(const Windows& w, const Vec& x, const Vec& R, Share share) {
  Vec out(x.size(), 0.0);
  for (std::int64_t k = 0; k < w.outputs(); ++k) {
    const auto at = w.of(k);
    Vec v;
    for (auto i : at) v.push_back(x[i]);
    const Vec s = share(v, R[k]);
    for (std::size_t i = 0; i < at.size(); ++i) out[at[i]] += s[i];
  }
  return out;
}

o::Forward pooled(const Windows& w, bool max) {
  return [w, max](const std::vector<Vec>& x) {
    Vec y(static_cast<std::size_t>(w.outputs()));
    for (std::int64_t k = 0; k < w.outputs(); ++k) {
      double acc = max ? -INFINITY : 0.0;
      for (auto i : w.of(k)) acc = max ? std::max(acc, x[0][i]) : acc + x[0][i];
      y[k] = max ? acc : acc / w.divisor(k);
    }
    return y;
  };
}

// Uniform: each window's relevance in equal shares.
void uniform_oracle(Row& r, const Windows& w) {
  set(r, {RuleKind::Uniform}, [w](const std::vector<Vec>& x, const Vec& R, const Rule&) {
    return std::vector<Vec>{by_window(w, x[0], R, [](const Vec& v, double r) {
      return Vec(v.size(), r / static_cast<double>(v.size()));
    })};
  });
}

void max_oracles(Row& r, const Windows& w) {
  uniform_oracle(r, w);
  // Pass / backtrace: winner-take-all; gradient: the arg-max (the inputs have no ties).
  set(r, {RuleKind::Pass, RuleKind::Backtrace, RuleKind::Gradient},
      [w](const std::vector<Vec>& x, const Vec& R, const Rule&) {
        return std::vector<Vec>{by_window(w, x[0], R, [](const Vec& v, double r) {
          Vec s(v.size(), 0.0);
          s[std::max_element(v.begin(), v.end()) - v.begin()] = r;
          return s;
        })};
      });
  // Zero / epsilon / norm: in proportion to x over the window, the window's sum stabilised.
  set(r, {RuleKind::Zero, RuleKind::Epsilon, RuleKind::Norm}, [w](const std::vector<Vec>& x, const Vec& R, const Rule& rule) {
    const double eps = epsilon_of(rule);
    return std::vector<Vec>{by_window(w, x[0], R, [eps](const Vec& v, double r) {
      double sum = 0;
      for (double e : v) sum += e;
      const double den = o::stab(sum, eps);
      Vec s;
      for (double e : v) s.push_back(den == 0 ? 0.0 : e * r / den);
      return s;
    })};
  });
}

void avg_oracles(Row& r, const Windows& w) {
  uniform_oracle(r, w);
  const o::Forward f = pooled(w, false);
  // Zero / epsilon / norm: the epsilon rule of the mean.
  set(r, {RuleKind::Zero, RuleKind::Epsilon, RuleKind::Norm}, [f](const std::vector<Vec>& x, const Vec& R, const Rule& rule) {
    return o::epsilon_rule(f, x, R, epsilon_of(rule));
  });
  // Backtrace: by |x| over the window.
  set(r, {RuleKind::Backtrace}, [w](const std::vector<Vec>& x, const Vec& R, const Rule&) {
    return std::vector<Vec>{by_window(w, x[0], R, [](const Vec& v, double r) {
      double sum = 0;
      for (double e : v) sum += std::fabs(e);
      Vec s;
      for (double e : v) s.push_back(r * std::fabs(e) / sum);
      return s;
    })};
  });
  set(r, {RuleKind::Gradient}, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); });
}

// Distinct values (no ties inside a window), shuffled by `seed`.
Tensor distinct(const Shape& shape, std::uint32_t seed) {
  const std::int64_t n = shape_numel(shape);
  Vec v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[i] = (static_cast<double>(i) - static_cast<double>(n) / 3.0) / 16.0 + 1.0 / 64.0;
  std::mt19937 gen(seed);
  std::shuffle(v.begin(), v.end(), gen);
  return Tensor::from_vector(std::span<const double>(v), shape).to(DType::F32);
}

}  // namespace

std::vector<Row> pooling_rows() {
  std::vector<Row> rows;
  const Windows w1{2 * 3, 1, 8, 1, 2, 1, 2}, w2{2, 4, 4, 2, 2, 2, 2};
  // Overlapping 3 x 3 windows, stride 1, padding 1: the divisor counts the padding, the
  // uniform shares only the positions inside the input.
  const Windows w3{1 * 2, 4, 4, 3, 3, 1, 1, 1, 1, true};
  {
    Row r{OpKind::MaxPool1d, "x (2, 3, 8), kernel 2", {distinct({2, 3, 8}, 41)},
          [](const std::vector<Tensor>& in, Device) { return max_pool1d(in[0], Pool1dParams{2}, "op"); }};
    max_oracles(r, w1);
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::AvgPool1d, "x (2, 3, 8), kernel 2", {values({2, 3, 8}, 42)},
          [](const std::vector<Tensor>& in, Device) { return avg_pool1d(in[0], Pool1dParams{2}, "op"); }};
    avg_oracles(r, w1);
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::MaxPool2d, "x (1, 2, 4, 4), kernel 2", {distinct({1, 2, 4, 4}, 43)},
          [](const std::vector<Tensor>& in, Device) { return max_pool2d(in[0], Pool2dParams{}, "op"); }};
    max_oracles(r, w2);
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::AvgPool2d, "x (1, 2, 4, 4), kernel 2", {values({1, 2, 4, 4}, 44)},
          [](const std::vector<Tensor>& in, Device) { return avg_pool2d(in[0], Pool2dParams{}, "op"); }};
    avg_oracles(r, w2);
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::AvgPool2d, "x (1, 2, 4, 4), kernel 3, stride 1, padding 1", {values({1, 2, 4, 4}, 46)},
          [](const std::vector<Tensor>& in, Device) {
            Pool2dParams p;
            p.kernel = {3, 3};
            p.stride = {1, 1};
            p.padding = {1, 1};
            return avg_pool2d(in[0], p, "op");
          }};
    avg_oracles(r, w3);
    rows.push_back(std::move(r));
  }
  {
    Row r{OpKind::AdaptiveAvgPool2d, "x (1, 2, 4, 4) to (2, 2)", {values({1, 2, 4, 4}, 45)},
          [](const std::vector<Tensor>& in, Device) { return adaptive_avg_pool2d(in[0], {2, 2}, "op"); }};
    avg_oracles(r, w2);
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace relprop::matrix
