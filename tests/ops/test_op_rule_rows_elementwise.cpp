// Rows of the op x rule matrix (op_rule_matrix.hpp): sums and products of computed
// tensors (docs/RULES.md, "Sums and products") and the shape ops, which move relevance as
// they move values under every rule (the transpose of their 0/1 map).

#include <cmath>

#include "ops/op_rule_matrix.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/ops/shape.hpp"

namespace relprop::matrix {

namespace {

namespace o = oracle;

// a (2, 3) with b (1, 3) broadcast along the rows.
constexpr std::size_t kRows = 2, kCols = 3;

o::Forward binary_f64(OpKind op) {
  return [op](const std::vector<Vec>& x) {
    Vec y(kRows * kCols);
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double a = x[0][i], b = x[1][i % kCols];
      y[i] = op == OpKind::Add ? a + b : op == OpKind::Sub ? a - b : a * b;
    }
    return y;
  };
}

// r_a (2, 3) as it stands, r_b summed over the rows onto (1, 3).
std::vector<Vec> split(const Vec& ra, const Vec& rb) {
  Vec b(kCols, 0.0);
  for (std::size_t i = 0; i < rb.size(); ++i) b[i % kCols] += rb[i];
  return {ra, b};
}

Row binary(OpKind op, std::uint32_t seed) {
  const auto fn = op == OpKind::Add ? &add : op == OpKind::Sub ? &sub : &mul;
  Row r{op, "a (2, 3), b (1, 3) broadcast", {values({2, 3}, seed), values({1, 3}, seed + 1)},
        [fn](const std::vector<Tensor>& in, Device) { return fn(in[0], in[1], "op"); }};
  const o::Forward f = binary_f64(op);
  set(r, {RuleKind::Gradient}, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); });
  if (op == OpKind::Mul) {
    // Two computed factors share equally; constant:0 holds a constant, all to b.
    set(r, {RuleKind::Zero, RuleKind::Epsilon, RuleKind::Norm, RuleKind::Pass, RuleKind::Backtrace},
        [](const std::vector<Vec>&, const Vec& R, const Rule&) {
          Vec half(R.size());
          for (std::size_t i = 0; i < R.size(); ++i) half[i] = 0.5 * R[i];
          return split(half, half);
        });
    set(r, {RuleKind::Constant},
        [](const std::vector<Vec>&, const Vec& R, const Rule&) { return split(Vec(R.size(), 0.0), R); });
    return r;
  }
  // Sums: the epsilon rule of the sum; backtrace by |a| : |b|.
  set(r, {RuleKind::Zero, RuleKind::Epsilon, RuleKind::Norm},
      [f](const std::vector<Vec>& x, const Vec& R, const Rule& rule) { return o::epsilon_rule(f, x, R, epsilon_of(rule)); });
  set(r, {RuleKind::Backtrace}, [](const std::vector<Vec>& x, const Vec& R, const Rule&) {
    Vec ra(R.size()), rb(R.size());
    for (std::size_t i = 0; i < R.size(); ++i) {
      const double wa = std::fabs(x[0][i]), wb = std::fabs(x[1][i % kCols]);
      ra[i] = R[i] * wa / (wa + wb);
      rb[i] = R[i] - ra[i];
    }
    return split(ra, rb);
  });
  return r;
}

// A shape op: every rule moves R back through the op's 0/1 map.
Row moving(OpKind op, std::string what, std::vector<Tensor> inputs, parity::Build build, o::Forward f) {
  Row r{op, std::move(what), std::move(inputs), std::move(build)};
  set_all(r, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); });
  return r;
}

// y[i] = x[index(i)] over a 3-d (A, B, C) input, for permutations of its dimensions.
o::Forward gather3(std::int64_t A, std::int64_t B, std::int64_t C, std::array<int, 3> dims) {
  return [=](const std::vector<Vec>& x) {
    const std::array<std::int64_t, 3> in{A, B, C};
    const std::array<std::int64_t, 3> out{in[dims[0]], in[dims[1]], in[dims[2]]};
    Vec y(x[0].size());
    for (std::int64_t i = 0; i < out[0]; ++i)
      for (std::int64_t j = 0; j < out[1]; ++j)
        for (std::int64_t k = 0; k < out[2]; ++k) {
          std::array<std::int64_t, 3> at{};
          at[dims[0]] = i;
          at[dims[1]] = j;
          at[dims[2]] = k;
          y[(i * out[1] + j) * out[2] + k] = x[0][(at[0] * B + at[1]) * C + at[2]];
        }
    return y;
  };
}

const o::Forward kSame = [](const std::vector<Vec>& x) { return x[0]; };

}  // namespace

std::vector<Row> elementwise_rows() {
  return {binary(OpKind::Add, 61), binary(OpKind::Sub, 63), binary(OpKind::Mul, 65)};
}

std::vector<Row> shape_rows() {
  using In = const std::vector<Tensor>&;
  std::vector<Row> rows;
  const Tensor x = values({2, 3, 4}, 71);
  rows.push_back(moving(OpKind::Flatten, "(2, 3, 4) from dim 1", {x}, [](In v, Device) { return flatten(v[0], 1, -1, "op"); },
                        kSame));
  rows.push_back(moving(OpKind::Reshape, "(2, 3, 4) to (4, 6)", {x},
                        [](In v, Device) { return reshape(v[0], {4, 6}, "op"); }, kSame));
  rows.push_back(moving(OpKind::Identity, "(2, 3, 4)", {x}, [](In v, Device) { return identity(v[0], "op"); }, kSame));
  rows.push_back(moving(OpKind::Dropout, "(2, 3, 4), inference", {x},
                        [](In v, Device) { return identity(v[0], "op", OpKind::Dropout); }, kSame));
  rows.push_back(moving(OpKind::Permute, "(2, 3, 4) by (2, 0, 1)", {x},
                        [](In v, Device) { return permute(v[0], {2, 0, 1}, "op"); }, gather3(2, 3, 4, {2, 0, 1})));
  rows.push_back(moving(OpKind::Transpose, "(2, 3, 4), dims 0 and 2", {x},
                        [](In v, Device) { return transpose(v[0], 0, 2, "op"); }, gather3(2, 3, 4, {2, 1, 0})));
  rows.push_back(moving(OpKind::Slice, "(2, 5, 3), dim 1, 0:5:2", {values({2, 5, 3}, 72)},
                        [](In v, Device) { return slice(v[0], 1, 0, 5, 2, "op"); },
                        [](const std::vector<Vec>& in) {
                          Vec y;
                          for (std::size_t a = 0; a < 2; ++a)
                            for (std::size_t b = 0; b < 5; b += 2)
                              for (std::size_t c = 0; c < 3; ++c) y.push_back(in[0][(a * 5 + b) * 3 + c]);
                          return y;
                        }));
  rows.push_back(moving(OpKind::Cat, "(2, 3) and (2, 2) along dim 1", {values({2, 3}, 73), values({2, 2}, 74)},
                        [](In v, Device) { return cat({v[0], v[1]}, 1, "op"); },
                        [](const std::vector<Vec>& in) {
                          Vec y;
                          for (std::size_t a = 0; a < 2; ++a) {
                            for (std::size_t b = 0; b < 3; ++b) y.push_back(in[0][a * 3 + b]);
                            for (std::size_t b = 0; b < 2; ++b) y.push_back(in[1][a * 2 + b]);
                          }
                          return y;
                        }));
  rows.push_back(moving(OpKind::Pad, "(2, 3) by (1, 2) with 0.5", {values({2, 3}, 75)},
                        [](In v, Device) { return pad(v[0], {1, 2}, 0.5, "op"); },
                        [](const std::vector<Vec>& in) {
                          Vec y;
                          for (std::size_t a = 0; a < 2; ++a)
                            for (std::size_t b = 0; b < 6; ++b) y.push_back(b >= 1 && b < 4 ? in[0][a * 3 + b - 1] : 0.5);
                          return y;
                        }));
  rows.push_back(moving(OpKind::UpsampleNearest2d, "(1, 1, 2, 3) to (4, 6)", {values({1, 1, 2, 3}, 76)},
                        [](In v, Device) { return upsample_nearest2d(v[0], 4, 6, "op"); },
                        [](const std::vector<Vec>& in) {
                          Vec y;
                          for (std::size_t h = 0; h < 4; ++h)
                            for (std::size_t w = 0; w < 6; ++w) y.push_back(in[0][(h / 2) * 3 + w / 2]);
                          return y;
                        }));
  return rows;
}

}  // namespace relprop::matrix
