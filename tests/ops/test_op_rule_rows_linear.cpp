// Rows of the op x rule matrix (op_rule_matrix.hpp): linear-type ops, checked against the
// linear oracles (tests/reference/oracle.hpp) applied to the layer written out as a dense
// matrix, and batch norm.

#include "ops/op_rule_matrix.hpp"
#include "relprop/ops/conv.hpp"
#include "relprop/ops/linear.hpp"
#include "relprop/ops/norm.hpp"

namespace relprop::matrix {

namespace {

namespace o = oracle;

// A linear-type layer as dense per-sample maps: z[n] = W x[n] + b. `mask` is 1 where an
// output reads an input (flat's weights), rows = samples.
struct Dense {
  o::Mat W, mask;
  Vec b;
  std::int64_t rows;
};

o::Mat rows_of(const Vec& v, std::int64_t rows) {
  o::Mat m(rows, static_cast<std::int64_t>(v.size()) / rows);
  m.v = v;
  return m;
}

// Every linear-type rule of the skeleton on the dense form (docs/RULES.md).
void linear_type_oracles(Row& row, const Dense& d) {
  const auto X = [d](const std::vector<Vec>& x) { return rows_of(x[0], d.rows); };
  const auto Rm = [d](const Vec& R) { return rows_of(R, d.rows); };
  set(row, {RuleKind::Zero, RuleKind::Epsilon}, [=](const std::vector<Vec>& x, const Vec& R, const Rule& r) {
    return std::vector<Vec>{o::linear_epsilon(X(x), d.W, d.b, Rm(R), epsilon_of(r)).v};
  });
  set(row, {RuleKind::ZPlus}, [=](const std::vector<Vec>& x, const Vec& R, const Rule& r) {
    return std::vector<Vec>{o::linear_zplus(X(x), d.W, d.b, Rm(R), std::get<ZPlusRule>(r).epsilon).v};
  });
  set(row, {RuleKind::AlphaBeta}, [=](const std::vector<Vec>& x, const Vec& R, const Rule& r) {
    const auto& ab = std::get<AlphaBetaRule>(r);
    return std::vector<Vec>{o::linear_alpha_beta(X(x), d.W, d.b, Rm(R), ab.alpha, ab.beta, ab.epsilon).v};
  });
  set(row, {RuleKind::Gamma}, [=](const std::vector<Vec>& x, const Vec& R, const Rule& r) {
    const auto& g = std::get<GammaRule>(r);
    return std::vector<Vec>{o::linear_gamma(X(x), d.W, d.b, Rm(R), g.gamma, g.epsilon).v};
  });
  set(row, {RuleKind::ZBox}, [=](const std::vector<Vec>& x, const Vec& R, const Rule& r) {
    const auto& z = std::get<ZBoxRule>(r);
    const Vec lo(static_cast<std::size_t>(d.W.cols), z.low[0]), hi(static_cast<std::size_t>(d.W.cols), z.high[0]);
    return std::vector<Vec>{o::linear_zbox(X(x), d.W, lo, hi, Rm(R), z.epsilon).v};
  });
  set(row, {RuleKind::WSquare}, [=](const std::vector<Vec>&, const Vec& R, const Rule& r) {
    return std::vector<Vec>{o::linear_wsquare(d.rows, d.W, d.b, Rm(R), std::get<WSquareRule>(r).epsilon, false).v};
  });
  set(row, {RuleKind::Flat}, [=](const std::vector<Vec>&, const Vec& R, const Rule& r) {
    return std::vector<Vec>{o::linear_wsquare(d.rows, d.mask, {}, Rm(R), std::get<FlatRule>(r).epsilon, false).v};
  });
  set(row, {RuleKind::Gradient}, [=](const std::vector<Vec>&, const Vec& R, const Rule&) {
    return std::vector<Vec>{o::linear_gradient(d.W, Rm(R)).v};
  });
  set(row, {RuleKind::Backtrace}, [=](const std::vector<Vec>& x, const Vec& R, const Rule&) {
    return std::vector<Vec>{o::linear_backtrace(X(x), d.W, d.b, Rm(R)).v};
  });
  // Pass: the rows keep the input's shape on purpose.
  set(row, {RuleKind::Pass}, [](const std::vector<Vec>&, const Vec& R, const Rule&) { return std::vector<Vec>{R}; });
}

// An ungrouped conv2d over (C, H, W) -> (O, HO, WO) as a dense matrix.
Dense conv_dense(const Tensor& w, const Tensor& b, std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W,
                 std::int64_t pad_h, std::int64_t pad_w) {
  const std::int64_t O = w.size(0), KH = w.size(2), KW = w.size(3);
  const std::int64_t HO = H + 2 * pad_h - KH + 1, WO = W + 2 * pad_w - KW + 1;
  Dense d{o::Mat(O * HO * WO, C * H * W), o::Mat(O * HO * WO, C * H * W), Vec(static_cast<std::size_t>(O * HO * WO)), N};
  const Vec wv = w.to_vector_f64(), bv = b.to_vector_f64();
  for (std::int64_t oc = 0; oc < O; ++oc)
    for (std::int64_t oh = 0; oh < HO; ++oh)
      for (std::int64_t ow = 0; ow < WO; ++ow) {
        const std::int64_t k = (oc * HO + oh) * WO + ow;
        d.b[k] = bv[oc];
        for (std::int64_t c = 0; c < C; ++c)
          for (std::int64_t kh = 0; kh < KH; ++kh)
            for (std::int64_t kw = 0; kw < KW; ++kw) {
              const std::int64_t ih = oh - pad_h + kh, iw = ow - pad_w + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              d.W(k, (c * H + ih) * W + iw) = wv[((oc * C + c) * KH + kh) * KW + kw];
              d.mask(k, (c * H + ih) * W + iw) = 1.0;
            }
      }
  return d;
}

}  // namespace

std::vector<Row> linear_type_rows() {
  std::vector<Row> rows;
  {
    // Square, so pass applies: (3, 4) -> (3, 4).
    const Tensor w = values({4, 4}, 21), b = values({4}, 22, -0.5, 0.5);
    Row r{OpKind::Linear, "x (3, 4), W (4, 4), bias", {values({3, 4}, 23)},
          [w, b](const std::vector<Tensor>& in, Device d) { return linear(in[0], w.to(d), b.to(d), "op"); }};
    Dense dense{o::from_tensor(w, 4, 4), o::Mat(4, 4, 1.0), b.to_vector_f64(), 3};
    r.params = {w, b};
    linear_type_oracles(r, dense);
    rows.push_back(std::move(r));
  }
  {
    // Same padding, as many output channels as inputs: (2, 3, 6) -> (2, 3, 6).
    const Tensor w = values({3, 3, 3}, 24), b = values({3}, 25, -0.5, 0.5);
    Row r{OpKind::Conv1d, "x (2, 3, 6), W (3, 3, 3), padding 1, bias", {values({2, 3, 6}, 26)},
          [w, b](const std::vector<Tensor>& in, Device d) {
            Conv1dParams p;
            p.padding = 1;
            return conv1d(in[0], w.to(d), b.to(d), p, "op");
          }};
    r.params = {w, b};
    linear_type_oracles(r, conv_dense(w.reshape({3, 3, 1, 3}), b, 2, 3, 1, 6, 0, 1));
    rows.push_back(std::move(r));
  }
  {
    const Tensor w = values({2, 2, 3, 3}, 27), b = values({2}, 28, -0.5, 0.5);
    Row r{OpKind::Conv2d, "x (1, 2, 5, 5), W (2, 2, 3, 3), padding 1, bias", {values({1, 2, 5, 5}, 29)},
          [w, b](const std::vector<Tensor>& in, Device d) {
            Conv2dParams p;
            p.padding = {1, 1};
            return conv2d(in[0], w.to(d), b.to(d), p, "op");
          }};
    r.params = {w, b};
    linear_type_oracles(r, conv_dense(w, b, 1, 2, 5, 5, 1, 1));
    rows.push_back(std::move(r));
  }
  // Batch norm on its own (not folded): pass / backtrace pass R, gradient R * scale.
  for (const int rank : {1, 2}) {
    const Shape xs = rank == 1 ? Shape{3, 4} : Shape{2, 3, 2, 2};
    const std::int64_t C = xs[1];
    const Tensor mean = values({C}, 30), var = values({C}, 31, 0.5, 2.0), w = values({C}, 32), b = values({C}, 33);
    Row r{rank == 1 ? OpKind::BatchNorm1d : OpKind::BatchNorm2d, "running statistics, weight, bias", {values(xs, 34)},
          [=](const std::vector<Tensor>& in, Device d) {
            return batch_norm(in[0], mean.to(d), var.to(d), w.to(d), b.to(d), 1e-5, "op");
          }};
    r.params = {mean, var, w, b};
    set(r, {RuleKind::Pass, RuleKind::Backtrace},
        [](const std::vector<Vec>&, const Vec& R, const Rule&) { return std::vector<Vec>{R}; });
    const Vec mv = mean.to_vector_f64(), vv = var.to_vector_f64(), wv = w.to_vector_f64(), bv = b.to_vector_f64();
    const std::int64_t S = shape_numel(xs) / (xs[0] * C);
    const o::Forward f = [=](const std::vector<Vec>& x) {
      Vec y(x[0].size());
      for (std::size_t i = 0; i < y.size(); ++i) {
        const std::size_t c = (i / static_cast<std::size_t>(S)) % static_cast<std::size_t>(C);
        y[i] = (x[0][i] - mv[c]) / std::sqrt(vv[c] + 1e-5) * wv[c] + bv[c];
      }
      return y;
    };
    set(r, {RuleKind::Gradient}, [f](const std::vector<Vec>& x, const Vec& R, const Rule&) { return o::vjp(f, x, R); });
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace relprop::matrix
