// Rows of the op x rule matrix (op_rule_matrix.hpp): activations and softmax, their
// forwards written in float64 for the gradient (central differences) and the softmax's
// AttnLRP rule x (R - s sum R), which is the epsilon rule of its linearisation at eps 0.

#include <cmath>

#include "ops/op_rule_matrix.hpp"
#include "relprop/ops/activation.hpp"

namespace relprop::matrix {

namespace {

namespace o = oracle;


// An element-wise activation: pass / backtrace pass R, gradient R f'(x).
Row elementwise(OpKind op, std::function<Tensor(const Tensor&)> fn, std::function<double(double)> f64, Tensor x) {
  Row r{op, "x (2, 5)", {std::move(x)}, [fn](const std::vector<Tensor>& in, Device) { return fn(in[0]); }};
  set(r, {RuleKind::Pass, RuleKind::Backtrace},
      [](const std::vector<Vec>&, const Vec& R, const Rule&) { return std::vector<Vec>{R}; });
  const o::Forward f = [f64](const std::vector<Vec>& x) {
    Vec y;
    for (double v : x[0]) y.push_back(f64(v));
    return y;
  };
  set(r, {RuleKind::Gradient}, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); });
  return r;
}

// Softmax (log-softmax) over the last dimension of rows of 5.
o::Forward softmax_f64(bool log) {
  return [log](const std::vector<Vec>& x) {
    Vec y(x[0].size());
    for (std::size_t row = 0; row < y.size(); row += 5) {
      double m = -INFINITY, sum = 0;
      for (std::size_t d = 0; d < 5; ++d) m = std::max(m, x[0][row + d]);
      for (std::size_t d = 0; d < 5; ++d) sum += std::exp(x[0][row + d] - m);
      for (std::size_t d = 0; d < 5; ++d) {
        const double lp = x[0][row + d] - m - std::log(sum);
        y[row + d] = log ? lp : std::exp(lp);
      }
    }
    return y;
  };
}

}  // namespace

std::vector<Row> activation_rows() {
  std::vector<Row> rows;
  rows.push_back(elementwise(OpKind::Relu, [](const Tensor& x) { return relu(x, "op"); },
                             [](double v) { return v > 0 ? v : 0.0; }, values({2, 5}, 51, -2, 2)));
  rows.push_back(elementwise(OpKind::LeakyRelu, [](const Tensor& x) { return leaky_relu(x, 0.1, "op"); },
                             [](double v) { return v > 0 ? v : 0.1 * v; }, values({2, 5}, 52, -2, 2)));
  // Both kinks crossed (0 and 6), neither hit.
  rows.push_back(elementwise(OpKind::Relu6, [](const Tensor& x) { return relu6(x, "op"); },
                             [](double v) { return std::min(std::max(v, 0.0), 6.0); },
                             Tensor::from_vector({-7.5f, -1.25f, 0.5f, 3.0625f, 5.9375f, 6.0625f, 7.5f, 11.25f, -0.0625f, 2.5f},
                                                 {2, 5})));
  rows.push_back(elementwise(OpKind::Elu, [](const Tensor& x) { return elu(x, 0.7, "op"); },
                             [](double v) { return v > 0 ? v : 0.7 * std::expm1(v); }, values({2, 5}, 54, -3, 3)));
  rows.push_back(elementwise(OpKind::Gelu, [](const Tensor& x) { return gelu(x, "none", "op"); },
                             [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, values({2, 5}, 55, -3, 3)));
  rows.push_back(elementwise(OpKind::Silu, [](const Tensor& x) { return silu(x, "op"); },
                             [](double v) { return v / (1 + std::exp(-v)); }, values({2, 5}, 56, -4, 4)));
  rows.push_back(elementwise(OpKind::Sigmoid, [](const Tensor& x) { return sigmoid(x, "op"); },
                             [](double v) { return 1 / (1 + std::exp(-v)); }, values({2, 5}, 57, -4, 4)));
  rows.push_back(elementwise(OpKind::Tanh, [](const Tensor& x) { return relprop::tanh(x, "op"); },
                             [](double v) { return std::tanh(v); }, values({2, 5}, 58, -3, 3)));
  // Beyond both kinks (-3 and 3), none of the inputs on one.
  rows.push_back(elementwise(OpKind::Hardswish, [](const Tensor& x) { return hardswish(x, "op"); },
                             [](double v) { return v * std::min(std::max(v + 3, 0.0), 6.0) / 6; }, values({2, 5}, 61, -5, 5)));
  for (const bool log : {false, true}) {
    Row r{log ? OpKind::LogSoftmax : OpKind::Softmax, "x (2, 5), dim -1", {values({2, 5}, log ? 59 : 60, -2, 2)},
          [log](const std::vector<Tensor>& in, Device) { return log ? log_softmax(in[0], -1, "op") : softmax(in[0], -1, "op"); }};
    set(r, {RuleKind::Pass, RuleKind::Backtrace},
        [](const std::vector<Vec>&, const Vec& R, const Rule&) { return std::vector<Vec>{R}; });
    const o::Forward f = softmax_f64(log);
    set(r, {RuleKind::Gradient}, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); });
    if (!log)  // AttnLRP: x (R - s sum R), whatever the epsilon.
      set(r, {RuleKind::Zero, RuleKind::Epsilon},
          [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::epsilon_rule(f, x, R, 0.0); });
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace relprop::matrix
