#pragma once
// Float64 oracles that hold for any op given its forward written in float64: the
// Jacobian by central differences, the gradient (vector-Jacobian product) and the epsilon
// rule of a map that is linear in its inputs (docs/RULES.md: R_j = x_j sum_k J_kj R_k /
// stab(z_k)). The forwards are plain loops in the tests, independent of the kernels.

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "reference/oracle.hpp"

namespace relprop::oracle {

using Vec = std::vector<double>;
// A forward in float64: every input's values (flat, row-major) -> the output's values.
using Forward = std::function<Vec(const std::vector<Vec>&)>;

// d f / d x_i as a dense (outputs, elements of input i) matrix, by central differences
// with step h (exact to rounding for maps linear in x_i).
inline Mat jacobian(const Forward& f, const std::vector<Vec>& x, std::size_t i, double h = 1e-5) {
  const std::int64_t outputs = static_cast<std::int64_t>(f(x).size());
  Mat J(outputs, static_cast<std::int64_t>(x[i].size()));
  std::vector<Vec> p = x;
  for (std::size_t j = 0; j < x[i].size(); ++j) {
    p[i][j] = x[i][j] + h;
    const Vec up = f(p);
    p[i][j] = x[i][j] - h;
    const Vec dn = f(p);
    p[i][j] = x[i][j];
    for (std::int64_t k = 0; k < outputs; ++k) J(k, static_cast<std::int64_t>(j)) = (up[k] - dn[k]) / (2 * h);
  }
  return J;
}

// The gradient: J_i^T R for every input i.
inline std::vector<Vec> vjp(const Forward& f, const std::vector<Vec>& x, const Vec& R) {
  std::vector<Vec> out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const Mat J = jacobian(f, x, i);
    Vec g(x[i].size(), 0.0);
    for (std::int64_t k = 0; k < J.rows; ++k)
      for (std::int64_t j = 0; j < J.cols; ++j) g[j] += J(k, j) * R[k];
    out.push_back(g);
  }
  return out;
}

// The epsilon rule of a map linear in its inputs (sums, means, rotations, the softmax's
// linearisation): R_ij = x_ij sum_k J_ikj R_k / stab(z_k), z = f(x), stab(z) = z + eps
// sgn0(z), a zero denominator sending nothing.
inline std::vector<Vec> epsilon_rule(const Forward& f, const std::vector<Vec>& x, const Vec& R, double eps) {
  const Vec z = f(x);
  Vec s(z.size());
  for (std::size_t k = 0; k < z.size(); ++k) {
    const double den = stab(z[k], eps);
    s[k] = den == 0 ? 0.0 : R[k] / den;
  }
  std::vector<Vec> out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const Mat J = jacobian(f, x, i);
    Vec r(x[i].size(), 0.0);
    for (std::int64_t k = 0; k < J.rows; ++k)
      for (std::int64_t j = 0; j < J.cols; ++j) r[j] += x[i][j] * J(k, j) * s[k];
    out.push_back(r);
  }
  return out;
}

}  // namespace relprop::oracle
