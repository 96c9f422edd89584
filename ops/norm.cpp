// Normalisation layers: shape checks, CPU forward, relevance, nodes, graph ops.
// Batch norm (inference): x (N, C, S) with S the product of the spatial dims, parameters
// (C,). Layer norm and RMS norm: over the last dimension D of x (R rows of D), parameters
// (D,). GPU tensors run the twin in cuda/norm.cu.

#include "relprop/ops/norm.hpp"

#include <algorithm>
#include <cmath>

#include "relprop/ops/common.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/norm.hpp"
#endif

namespace relprop {

void batch_norm_affine(const Tensor& mean_in, const Tensor& var_in, const Tensor& w_in, const Tensor& b_in, double eps,
                       Tensor& scale, Tensor& shift) {
  const Tensor mean = detail::as_f32(mean_in, "batch_norm", "running_mean");
  const Tensor var = detail::as_f32(var_in, "batch_norm", "running_var");
  const std::int64_t C = mean.numel();
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(mean) || detail::on_cuda(var) || detail::on_cuda(w_in) || detail::on_cuda(b_in)) {
    detail::same_device("batch_norm",
                        {{&mean_in, "running_mean"}, {&var_in, "running_var"}, {&w_in, "weight"}, {&b_in, "bias"}});
    cuda::batch_norm_affine(mean, var, w_in.defined() ? detail::as_f32(w_in, "batch_norm", "weight") : Tensor(),
                            b_in.defined() ? detail::as_f32(b_in, "batch_norm", "bias") : Tensor(), eps, scale, shift);
    return;
  }
#endif
  scale = Tensor::empty({C});
  shift = Tensor::empty({C});
  const Tensor w = w_in.defined() ? detail::as_f32(w_in, "batch_norm", "weight") : Tensor();
  const Tensor b = b_in.defined() ? detail::as_f32(b_in, "batch_norm", "bias") : Tensor();
  for (std::int64_t c = 0; c < C; ++c) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(var.data<float>()[c]) + eps);
    const double g = w.defined() ? w.data<float>()[c] : 1.0, be = b.defined() ? b.data<float>()[c] : 0.0;
    scale.data<float>()[c] = static_cast<float>(g * inv);
    shift.data<float>()[c] = static_cast<float>(be - mean.data<float>()[c] * g * inv);
  }
}

namespace {

void check_shapes(const Shape& x, std::int64_t C, std::initializer_list<const Tensor*> params, std::string_view name) {
  const std::string who = "batch_norm '" + detail::label(name, "batch_norm") + "'";
  if (x.size() < 2) throw ShapeError(who + ": input must be (N, C, ...), got " + shape_str(x));
  for (const Tensor* p : params)
    if (p && p->defined() && (p->dim() != 1 || p->size(0) != C))
      throw ShapeError(who + ": parameters must be (" + std::to_string(C) + ",), got " + p->str_shape());
  if (x[1] != C)
    throw ShapeError(who + ": input " + shape_str(x) + " has " + std::to_string(x[1]) + " channels, the parameters " +
                     std::to_string(C));
}

class BatchNormNode final : public Node {
 public:
  BatchNormNode(OpKind op, Tensor scale) : Node(op), scale_(std::move(scale)) {}
  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R_in;
    } else if (std::holds_alternative<GradientRule>(rule)) {
      const Tensor R = detail::as_f32(R_in, "batch_norm", "relevance");
#if RELPROP_HAVE_CUDA
      if (detail::on_cuda(R) || detail::on_cuda(scale_)) {
        detail::same_device("batch_norm", {{&R, "relevance"}, {&scale_, "scale"}});
        out[0] = cuda::batch_norm_gradient(R, scale_);
        return out;
      }
#endif
      Tensor g = Tensor::empty(R.shape());
      const std::int64_t C = R.size(1), S = R.numel() / (R.size(0) * C);
      const float* r = R.data<float>();
      const float* sc = scale_.data<float>();
      float* o = g.data<float>();
      const std::int64_t planes = R.numel() / S;  // (n, c) planes of S elements
      detail::parallel_for(planes, R.numel() > detail::kParallelMin, [&](std::int64_t pl) {
        const float k = sc[pl % C];
        for (std::int64_t i = pl * S; i < (pl + 1) * S; ++i) o[i] = r[i] * k;
      });
      out[0] = g;
    } else {
      unsupported(rule);
    }
    return out;
  }
  void release() override { scale_ = Tensor(); }

 private:
  Tensor scale_;  // (C,): all the gradient needs
};

}  // namespace

Tensor batch_norm(const Tensor& x_in, const Tensor& mean, const Tensor& var, const Tensor& weight, const Tensor& bias,
                  double eps, std::string_view name) {
  if (!mean.defined() || !var.defined())
    throw ValueError("batch_norm '" + detail::label(name, "batch_norm") + "': running_mean and running_var are required");
  check_shapes(x_in.shape(), mean.numel(), {&mean, &var, &weight, &bias}, name);
  if (!(eps > 0)) throw ValueError("batch_norm '" + detail::label(name, "batch_norm") + "': eps must be > 0");
  detail::same_device("batch_norm", {{&x_in, "input"}, {&mean, "running_mean"}, {&var, "running_var"},
                                     {&weight, "weight"}, {&bias, "bias"}});
  const Tensor x = detail::as_f32(x_in, "batch_norm", "input");
  Tensor scale, shift;
  batch_norm_affine(mean, var, weight, bias, eps, scale, shift);
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {
    Tensor y = cuda::batch_norm_forward(x, scale, shift);
    if (Tape* tape = detail::recording_tape({&x_in})) {
      auto node = std::make_unique<BatchNormNode>(x.dim() == 4 ? OpKind::BatchNorm2d : OpKind::BatchNorm1d, scale);
      node->inputs = detail::value_ids(*tape, {&x_in});
      tape->record(std::move(node), y, name);
    }
    return y;
  }
#endif
  const std::int64_t C = x.size(1), S = x.numel() / (x.size(0) * C);
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  const float* sc = scale.data<float>();
  const float* sh = shift.data<float>();
  float* yp = y.data<float>();
  detail::parallel_for(x.size(0) * C, x.numel() > detail::kParallelMin, [&](std::int64_t nc) {
    const std::int64_t c = nc % C;
    for (std::int64_t s = 0; s < S; ++s) yp[nc * S + s] = xp[nc * S + s] * sc[c] + sh[c];
  });
  if (Tape* tape = detail::recording_tape({&x_in})) {
    auto node = std::make_unique<BatchNormNode>(x.dim() == 4 ? OpKind::BatchNorm2d : OpKind::BatchNorm1d, scale);
    node->inputs = detail::value_ids(*tape, {&x_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

// ---- graph format: batch_norm1d (N, C) or (N, C, L), batch_norm2d (N, C, H, W) ---------

namespace {

Tensor param(const OpCall& c, const char* role) {
  auto it = c.params.find(role);
  return it == c.params.end() ? Tensor() : it->second;
}

template <int Rank>
Shape bn_infer(const OpShapeCall& c) {
  const Shape& x = c.inputs[0];
  const bool ok = Rank == 2 ? x.size() == 4 : (x.size() == 2 || x.size() == 3);
  if (!ok)
    throw ShapeError("batch_norm '" + std::string(c.node) + "': input " + shape_str(x) + " has the wrong rank for " +
                     (Rank == 2 ? "batch_norm2d (N, C, H, W)" : "batch_norm1d (N, C) or (N, C, L)"));
  const Shape& m = c.params.at("running_mean");
  for (const auto& [role, s] : c.params)
    if (s.size() != 1 || s[0] != m[0])
      throw ShapeError("batch_norm '" + std::string(c.node) + "': parameter '" + role + "' is " + shape_str(s) +
                       ", expected (" + std::to_string(m[0]) + ",)");
  if (x[1] != m[0])
    throw ShapeError("batch_norm '" + std::string(c.node) + "': input " + shape_str(x) + " has " +
                     std::to_string(x[1]) + " channels, the parameters " + std::to_string(m[0]));
  return x;
}

Tensor bn_run(const OpCall& c) {
  return batch_norm(c.inputs[0], param(c, "running_mean"), param(c, "running_var"), param(c, "weight"),
                    param(c, "bias"), c.attrs.get_float(c.node, "eps", 1e-5), c.node);
}

const std::vector<std::string_view> kBnAttrs = {"eps", "momentum", "affine", "track_running_stats"};

}  // namespace

OpSpec op_spec_batch_norm1d() {
  return OpSpec{OpKind::BatchNorm1d, {"running_mean", "running_var"},
                {"weight", "bias"}, kBnAttrs, bn_infer<1>, bn_run};
}
OpSpec op_spec_batch_norm2d() {
  return OpSpec{OpKind::BatchNorm2d, {"running_mean", "running_var"},
                {"weight", "bias"}, kBnAttrs, bn_infer<2>, bn_run};
}

// ---- layer norm / RMS norm ----------------------------------------------------------------

namespace {

class NormNode final : public Node {
 public:
  NormNode(bool rms, Tensor x, Tensor inv, Tensor w, Tensor y, Tensor b, std::int64_t D)
      : Node(rms ? OpKind::RmsNorm : OpKind::LayerNorm),
        rms_(rms),
        x_(std::move(x)),
        inv_(std::move(inv)),
        w_(std::move(w)),
        y_(std::move(y)),
        b_(std::move(b)),
        D_(D) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    const bool grad = std::holds_alternative<GradientRule>(rule);
    const bool eps = std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule);
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule) || (rms_ && eps)) {
      out[0] = R_in;
      return out;
    }
    if (!grad && !eps) unsupported(rule);
    const Tensor R = detail::as_f32(R_in, op_name(), "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(x_)) {
      out[0] = cuda::norm_relevance(rms_, grad, eps ? detail::stab_of(rule) : detail::Stab{}, R, x_, inv_, w_, y_, D_);
      return out;
    }
#endif
    const std::int64_t n = R.numel(), rows = n / D_;
    const float* r = R.data<float>();
    const float* x = x_.data<float>();
    const float* inv = inv_.data<float>();
    const float* w = w_.defined() ? w_.data<float>() : nullptr;
    Tensor g = Tensor::empty(R.shape());
    float* o = g.data<float>();
    Tensor q;
    if (eps) {
      // q = γ · inv · R / stab(y): the ε-rule at the output, the scale element-wise.
      q = Tensor::empty(R.shape());
      detail::stabilized_divide(r, y_.data<float>(), q.data<float>(), n, n, detail::stab_of(rule));
    }
    const float* qp = eps ? q.data<float>() : nullptr;
    detail::parallel_for(rows, n > detail::kParallelMin, [&](std::int64_t i) {
      const std::int64_t base = i * D_;
      const double iv = inv[i];
      if (eps) {
        // R_x = x ⊙ (q - mean(q)): the ε-rule through the centring x - mean(x).
        double mq = 0;
        for (std::int64_t d = 0; d < D_; ++d) mq += static_cast<double>(qp[base + d]) * (w ? w[d] : 1.0f) * iv;
        mq /= static_cast<double>(D_);
        for (std::int64_t d = 0; d < D_; ++d) {
          const double qd = static_cast<double>(qp[base + d]) * (w ? w[d] : 1.0f) * iv;
          o[base + d] = static_cast<float>(x[base + d] * (qd - mq));
        }
        return;
      }
      // Gradients. g' = γ ⊙ R. Layer norm, x̂ = (x - mean) · inv:
      //   dx = inv · (g' - mean(g') - x̂ · mean(g' x̂));
      // RMS norm, x̂ = x · inv: dx = inv · (g' - x̂ · mean(g' x̂)).
      double mean_x = 0;
      if (!rms_) {
        for (std::int64_t d = 0; d < D_; ++d) mean_x += x[base + d];
        mean_x /= static_cast<double>(D_);
      }
      double mg = 0, mgx = 0;
      for (std::int64_t d = 0; d < D_; ++d) {
        const double gp = static_cast<double>(r[base + d]) * (w ? w[d] : 1.0f);
        const double xh = (x[base + d] - mean_x) * iv;
        mg += gp;
        mgx += gp * xh;
      }
      mg /= static_cast<double>(D_);
      mgx /= static_cast<double>(D_);
      for (std::int64_t d = 0; d < D_; ++d) {
        const double gp = static_cast<double>(r[base + d]) * (w ? w[d] : 1.0f);
        const double xh = (x[base + d] - mean_x) * iv;
        o[base + d] = static_cast<float>(iv * (gp - (rms_ ? 0.0 : mg) - xh * mgx));
      }
    });
    out[0] = g;
    return out;
  }
  void release() override {
    x_ = Tensor();
    inv_ = Tensor();
    w_ = Tensor();
    y_ = Tensor();
    b_ = Tensor();
  }

 private:
  bool rms_;
  Tensor x_, inv_, w_, y_, b_;  // input, 1/std per row, weight, output, bias
  std::int64_t D_;
};

Tensor norm_impl(bool rms, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, double eps, std::string_view name) {
  const char* op = rms ? "rms_norm" : "layer_norm";
  const std::string who = std::string(op) + " '" + detail::label(name, op) + "'";
  if (x_in.dim() < 1) throw ShapeError(who + ": input needs at least one dimension");
  const std::int64_t D = x_in.shape().back();
  for (const Tensor* p : {&w_in, &b_in})
    if (p->defined() && (p->dim() != 1 || p->size(0) != D))
      throw ShapeError(who + ": parameters must be (" + std::to_string(D) + ",), got " + p->str_shape());
  if (!(eps >= 0)) throw ValueError(who + ": eps must be >= 0");
  detail::same_device(who, {{&x_in, "input"}, {&w_in, "weight"}, {&b_in, "bias"}});
  const Tensor x = detail::as_f32(x_in, op, "input");
  const Tensor w = w_in.defined() ? detail::as_f32(w_in, op, "weight") : Tensor();
  const Tensor b = b_in.defined() ? detail::as_f32(b_in, op, "bias") : Tensor();
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {
    auto [y, inv] = cuda::norm_forward(rms, x, w, b, eps, D);
    if (Tape* tape = detail::recording_tape({&x_in, &w_in, &b_in})) {
      auto node = std::make_unique<NormNode>(rms, x, inv, w, y, b, D);
      node->inputs = detail::value_ids(*tape, {&x_in, &w_in, &b_in});
      tape->record(std::move(node), y, name);
    }
    return y;
  }
#endif
  const std::int64_t rows = D > 0 ? x.numel() / D : 0;
  Tensor y = Tensor::empty(x.shape()), inv = Tensor::empty({std::max<std::int64_t>(rows, 1)});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  float* ip = inv.data<float>();
  const float* wp = w.defined() ? w.data<float>() : nullptr;
  const float* bp = b.defined() ? b.data<float>() : nullptr;
  detail::parallel_for(rows, x.numel() > detail::kParallelMin, [&](std::int64_t i) {
    const float* xr = xp + i * D;
    double mean = 0, var = 0;
    if (!rms) {
      for (std::int64_t d = 0; d < D; ++d) mean += xr[d];
      mean /= static_cast<double>(D);
    }
    for (std::int64_t d = 0; d < D; ++d) var += (xr[d] - mean) * (xr[d] - mean);
    var /= static_cast<double>(D);
    const double iv = 1.0 / std::sqrt(var + eps);
    ip[i] = static_cast<float>(iv);
    for (std::int64_t d = 0; d < D; ++d)
      yp[i * D + d] = static_cast<float>((xr[d] - mean) * iv * (wp ? wp[d] : 1.0f) + (bp ? bp[d] : 0.0f));
  });
  if (Tape* tape = detail::recording_tape({&x_in, &w_in, &b_in})) {
    auto node = std::make_unique<NormNode>(rms, x, inv, w, y, b, D);
    node->inputs = detail::value_ids(*tape, {&x_in, &w_in, &b_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}


}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, std::string_view name) {
  return norm_impl(false, x, weight, bias, eps, name);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps, std::string_view name) {
  return norm_impl(true, x, weight, Tensor(), eps, name);
}


namespace {

Shape norm_infer(const OpShapeCall& c) {
  const std::int64_t D = c.inputs[0].empty() ? 0 : c.inputs[0].back();
  for (const auto& [role, s] : c.params)
    if (s.size() != 1 || s[0] != D)
      throw ShapeError("node '" + std::string(c.node) + "': " + role + " must be (" + std::to_string(D) + ",), got " +
                       shape_str(s));
  return c.inputs[0];
}
Tensor param_or_empty(const OpCall& c, const char* role) {
  const auto it = c.params.find(role);
  return it == c.params.end() ? Tensor() : it->second;
}
Tensor layer_norm_run(const OpCall& c) {
  return layer_norm(c.inputs[0], param_or_empty(c, "weight"), param_or_empty(c, "bias"),
                    c.attrs.get_float(c.node, "eps", 1e-5), c.node);
}
Tensor rms_norm_run(const OpCall& c) {
  return rms_norm(c.inputs[0], param_or_empty(c, "weight"), c.attrs.get_float(c.node, "eps", 1e-6), c.node);
}


}  // namespace

OpSpec op_spec_layer_norm() {
  return OpSpec{OpKind::LayerNorm, {}, {"weight", "bias"},
                {"eps", "normalized_shape", "elementwise_affine"}, norm_infer, layer_norm_run};
}
OpSpec op_spec_rms_norm() {
  return OpSpec{OpKind::RmsNorm, {}, {"weight"}, {"eps", "normalized_shape"},
                norm_infer, rms_norm_run};
}

}  // namespace relprop
