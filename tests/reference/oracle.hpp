#pragma once
// Float64 oracles written the slow, obvious way from docs/RULES.md: dense matrices,
// plain loops, no shared code with the kernels they check.

#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "relprop/tensor/tensor.hpp"

namespace relprop::oracle {

// Row-major dense matrix of doubles.
struct Mat {
  std::int64_t rows = 0, cols = 0;
  std::vector<double> v;
  Mat() = default;
  Mat(std::int64_t r, std::int64_t c, double fill = 0.0) : rows(r), cols(c), v(r * c, fill) {}
  double& operator()(std::int64_t i, std::int64_t j) { return v[i * cols + j]; }
  double operator()(std::int64_t i, std::int64_t j) const { return v[i * cols + j]; }
};

inline Mat from_tensor(const Tensor& t, std::int64_t rows, std::int64_t cols) {
  Mat m(rows, cols);
  m.v = t.to_vector_f64();
  return m;
}

inline Tensor to_tensor(const Mat& m, Shape shape) {
  return Tensor::from_vector(std::span<const double>(m.v), std::move(shape)).to(DType::F32);
}

inline double sgn0(double z) { return z >= 0 ? 1.0 : -1.0; }

// z = x W^T + b.  x: (M, I), W: (O, I), b: (O) or empty.
inline Mat linear_forward(const Mat& x, const Mat& W, const std::vector<double>& b) {
  Mat z(x.rows, W.rows);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      double s = b.empty() ? 0.0 : b[k];
      for (std::int64_t j = 0; j < x.cols; ++j) s += x(m, j) * W(k, j);
      z(m, k) = s;
    }
  return z;
}

enum class Stab { Sign, Clip, Scaled };

// LRP-epsilon (eps = 0: LRP-0), R_j = x_j sum_k w_kj R_k / stab(z_k), per row m.
inline Mat linear_epsilon(const Mat& x, const Mat& W, const std::vector<double>& b, const Mat& R,
                          double eps, Stab stab = Stab::Sign) {
  const Mat z = linear_forward(x, W, b);
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m) {
    double e = eps;
    if (stab == Stab::Scaled) {
      double sq = 0;
      for (std::int64_t k = 0; k < z.cols; ++k) sq += z(m, k) * z(m, k);
      e = eps * std::sqrt(sq / static_cast<double>(z.cols));
    }
    for (std::int64_t j = 0; j < x.cols; ++j) {
      double acc = 0;
      for (std::int64_t k = 0; k < W.rows; ++k) {
        const double zk = z(m, k);
        const double den = stab == Stab::Clip ? sgn0(zk) * std::max(std::fabs(zk), e) : zk + e * sgn0(zk);
        if (den != 0) acc += x(m, j) * W(k, j) * R(m, k) / den;
      }
      out(m, j) = acc;
    }
  }
  return out;
}

// DLBacktrace default: R_j = sum_k R_k |x_j w_kj| / (sum_i |x_i w_ki| + |b_k|).
inline Mat linear_backtrace(const Mat& x, const Mat& W, const std::vector<double>& b, const Mat& R) {
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      double P = 0, N = 0;
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double zjk = x(m, j) * W(k, j);
        (zjk > 0 ? P : N) += std::fabs(zjk);
      }
      const double den = P + N + (b.empty() ? 0.0 : std::fabs(b[k]));
      if (den == 0) continue;
      for (std::int64_t j = 0; j < x.cols; ++j) out(m, j) += R(m, k) * std::fabs(x(m, j) * W(k, j)) / den;
    }
  return out;
}

// DLBacktrace default with the saturation gate: t_k = z_k (bias included); when t_k < l
// the positive contributions are dropped (P_k := 0), when t_k > u the negative ones; the
// kept contributions share R_k by |z_jk| / (kept sums + |b_k|).
inline Mat linear_backtrace_gated(const Mat& x, const Mat& W, const std::vector<double>& b, const Mat& R, double l,
                                  double u) {
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      double P = 0, N = 0, t = b.empty() ? 0.0 : b[k];
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double zjk = x(m, j) * W(k, j);
        t += zjk;
        if (zjk > 0) P += zjk;
        if (zjk < 0) N -= zjk;
      }
      const bool keep_p = !(t < l), keep_n = !(t > u);
      const double den = (keep_p ? P : 0.0) + (keep_n ? N : 0.0) + (b.empty() ? 0.0 : std::fabs(b[k]));
      if (den == 0) continue;
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double zjk = x(m, j) * W(k, j);
        if ((zjk > 0 && keep_p) || (zjk < 0 && keep_n)) out(m, j) += R(m, k) * std::fabs(zjk) / den;
      }
    }
  return out;
}

// DLBacktrace contrastive mode, as its per-output loops read: returns (positive map,
// negative map). One-signed outputs spread R+ and R- over their contributors by
// z_jk / side sum; mixed outputs compare t_k = sum_j z_jk + b_k with 0 and R+ with R-:
// t > 0 and R+ > R-, or t <= 0 and R+ < R-: R+ to the positive contributors (positive map)
// and R- to the negative ones (negative map); otherwise R- to the positive contributors
// (negative map) and R+ to the negative ones (positive map).
inline std::pair<Mat, Mat> linear_backtrace_contrastive(const Mat& x, const Mat& W, const std::vector<double>& b,
                                                        const Mat& Rp, const Mat& Rn) {
  Mat pos_map(x.rows, x.cols), neg_map(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      double P = 0, N = 0;
      int np = 0, nn = 0;
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double zjk = x(m, j) * W(k, j);
        if (zjk > 0) P += zjk, ++np;
        if (zjk < 0) N -= zjk, ++nn;
      }
      const double t = P - N + (b.empty() ? 0.0 : b[k]);
      const double rp = Rp(m, k), rn = Rn(m, k);
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double zjk = x(m, j) * W(k, j);
        if (zjk == 0) continue;
        const double share = zjk > 0 ? zjk / P : -zjk / N;
        if (nn == 0 || np == 0) {  // one-signed
          pos_map(m, j) += share * rp;
          neg_map(m, j) += share * rn;
          continue;
        }
        const bool straight = t > 0 ? rp > rn : rp < rn;
        if (zjk > 0) (straight ? pos_map(m, j) : neg_map(m, j)) += share * (straight ? rp : rn);
        else (straight ? neg_map(m, j) : pos_map(m, j)) += share * (straight ? rn : rp);
      }
    }
  return {pos_map, neg_map};
}

inline double pos(double v) { return v > 0 ? v : 0.0; }
inline double neg(double v) { return v < 0 ? v : 0.0; }
inline double stab(double z, double eps) { return z + eps * sgn0(z); }

// z+ : R_j = x+_j sum_k w+_kj R_k / stab(z+_k) + x-_j sum_k w-_kj R_k / stab(z+_k),
// z+_k = sum_j (x+_j w+_kj + x-_j w-_kj) + b+_k.
inline Mat linear_zplus(const Mat& x, const Mat& W, const std::vector<double>& b, const Mat& R, double eps) {
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      double zp = b.empty() ? 0.0 : pos(b[k]);
      for (std::int64_t j = 0; j < x.cols; ++j) zp += pos(x(m, j)) * pos(W(k, j)) + neg(x(m, j)) * neg(W(k, j));
      const double s = R(m, k) / stab(zp, eps);
      for (std::int64_t j = 0; j < x.cols; ++j)
        out(m, j) += (pos(x(m, j)) * pos(W(k, j)) + neg(x(m, j)) * neg(W(k, j))) * s;
    }
  return out;
}

// alpha-beta: alpha * (positive contributions / z+) - beta * (negative contributions / z-).
inline Mat linear_alpha_beta(const Mat& x, const Mat& W, const std::vector<double>& b, const Mat& R, double alpha,
                             double beta, double eps) {
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      double zp = b.empty() ? 0.0 : pos(b[k]), zn = b.empty() ? 0.0 : neg(b[k]);
      for (std::int64_t j = 0; j < x.cols; ++j) {
        zp += pos(x(m, j)) * pos(W(k, j)) + neg(x(m, j)) * neg(W(k, j));
        zn += pos(x(m, j)) * neg(W(k, j)) + neg(x(m, j)) * pos(W(k, j));
      }
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double cp = pos(x(m, j)) * pos(W(k, j)) + neg(x(m, j)) * neg(W(k, j));
        const double cn = pos(x(m, j)) * neg(W(k, j)) + neg(x(m, j)) * pos(W(k, j));
        out(m, j) += alpha * cp * R(m, k) / stab(zp, eps) - beta * cn * R(m, k) / stab(zn, eps);
      }
    }
  return out;
}

// Generalised gamma (docs/RULES.md, "gamma"): w_up = w + g w+, w_dn = w + g w-; outputs with z > 0 use
// u = x+ w_up + x- w_dn + b_up, outputs with z < 0 use v = x+ w_dn + x- w_up + b_dn.
inline Mat linear_gamma(const Mat& x, const Mat& W, const std::vector<double>& b, const Mat& R, double g, double eps,
                        Stab kind = Stab::Sign) {
  const Mat z = linear_forward(x, W, b);
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m) {
    // u_k (outputs that favour positive contributions) and v_k, for every k.
    std::vector<double> u(W.rows), v(W.rows);
    for (std::int64_t k = 0; k < W.rows; ++k) {
      u[k] = b.empty() ? 0.0 : b[k] + g * pos(b[k]);
      v[k] = b.empty() ? 0.0 : b[k] + g * neg(b[k]);
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double wu = W(k, j) + g * pos(W(k, j)), wd = W(k, j) + g * neg(W(k, j));
        u[k] += pos(x(m, j)) * wu + neg(x(m, j)) * wd;
        v[k] += pos(x(m, j)) * wd + neg(x(m, j)) * wu;
      }
    }
    // Scaled: eps times the root mean square of u (resp. v) over the row.
    double eu = eps, ev = eps;
    if (kind == Stab::Scaled) {
      double su = 0, sv = 0;
      for (std::int64_t k = 0; k < W.rows; ++k) su += u[k] * u[k], sv += v[k] * v[k];
      eu *= std::sqrt(su / static_cast<double>(W.rows));
      ev *= std::sqrt(sv / static_cast<double>(W.rows));
    }
    auto st = [kind](double d, double e) {
      return kind == Stab::Clip ? sgn0(d) * std::max(std::fabs(d), e) : d + e * sgn0(d);
    };
    for (std::int64_t k = 0; k < W.rows; ++k) {
      if (z(m, k) == 0) continue;
      const bool up = z(m, k) > 0;
      const double den = up ? st(u[k], eu) : st(v[k], ev);
      for (std::int64_t j = 0; j < x.cols; ++j) {
        const double wu = W(k, j) + g * pos(W(k, j)), wd = W(k, j) + g * neg(W(k, j));
        const double c = up ? pos(x(m, j)) * wu + neg(x(m, j)) * wd : pos(x(m, j)) * wd + neg(x(m, j)) * wu;
        out(m, j) += c * R(m, k) / den;
      }
    }
  }
  return out;
}

// z^B with per-feature bounds l, h: R_j = sum_k (x_j w_kj - l_j w+_kj - h_j w-_kj) R_k / stab(d_k).
inline Mat linear_zbox(const Mat& x, const Mat& W, const std::vector<double>& l, const std::vector<double>& h,
                       const Mat& R, double eps) {
  Mat out(x.rows, x.cols);
  for (std::int64_t m = 0; m < x.rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      std::vector<double> c(x.cols);
      double d = 0;
      for (std::int64_t j = 0; j < x.cols; ++j) {
        c[j] = x(m, j) * W(k, j) - l[j] * pos(W(k, j)) - h[j] * neg(W(k, j));
        d += c[j];
      }
      for (std::int64_t j = 0; j < x.cols; ++j) out(m, j) += c[j] * R(m, k) / stab(d, eps);
    }
  return out;
}

// w^2 (flat when `flat`: every weight 1, no bias): R_j = sum_k w2_kj R_k / stab(sum_i w2_ki + b2_k),
// with the sign (default), clip or scaled stabiliser as in linear_epsilon.
inline Mat linear_wsquare(std::int64_t rows, const Mat& W, const std::vector<double>& b, const Mat& R, double eps,
                          bool flat, Stab kind = Stab::Sign) {
  std::vector<double> dens(static_cast<std::size_t>(W.rows));
  for (std::int64_t k = 0; k < W.rows; ++k) {
    double den = flat || b.empty() ? 0.0 : b[k] * b[k];
    for (std::int64_t j = 0; j < W.cols; ++j) den += flat ? 1.0 : W(k, j) * W(k, j);
    dens[static_cast<std::size_t>(k)] = den;
  }
  double e = eps;
  if (kind == Stab::Scaled) {
    double sq = 0;
    for (const double d : dens) sq += d * d;
    e = eps * std::sqrt(sq / static_cast<double>(W.rows));
  }
  Mat out(rows, W.cols);
  for (std::int64_t m = 0; m < rows; ++m)
    for (std::int64_t k = 0; k < W.rows; ++k) {
      const double zk = dens[static_cast<std::size_t>(k)];
      const double den = kind == Stab::Clip ? sgn0(zk) * std::max(std::fabs(zk), e) : zk + e * sgn0(zk);
      if (den == 0) continue;
      for (std::int64_t j = 0; j < W.cols; ++j) out(m, j) += (flat ? 1.0 : W(k, j) * W(k, j)) * R(m, k) / den;
    }
  return out;
}

// Gradient: R_in = R W.
inline Mat linear_gradient(const Mat& W, const Mat& R) {
  Mat out(R.rows, W.cols);
  for (std::int64_t m = 0; m < R.rows; ++m)
    for (std::int64_t j = 0; j < W.cols; ++j)
      for (std::int64_t k = 0; k < W.rows; ++k) out(m, j) += R(m, k) * W(k, j);
  return out;
}

// Deterministic random tensors for tests.
inline Tensor random_tensor(Shape shape, std::uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (auto& x : v) x = static_cast<float>(dist(gen));
  return Tensor::from_vector(std::span<const float>(v), std::move(shape));
}

// Largest |a - b| relative to max(|b|) (1 when b is all zero), over same-shaped tensors.
inline double rel_err(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector_f64(), vb = b.to_vector_f64();
  if (va.size() != vb.size()) return INFINITY;
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    scale = std::max(scale, std::fabs(vb[i]));
    diff = std::max(diff, std::fabs(va[i] - vb[i]));
  }
  return diff / (scale > 0 ? scale : 1.0);
}

}  // namespace relprop::oracle
