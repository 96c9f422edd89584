// Batch normalisation (inference): shape check, CPU forward, relevance, node, graph ops.
// x: (N, C, S) with S the product of the spatial dims; parameters (C,). GPU tensors run
// the twin in cuda/norm.cu.

#include "relprop/ops/norm.hpp"

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
  explicit BatchNormNode(Tensor scale) : scale_(std::move(scale)) {}
  std::string_view op() const override { return "batch_norm"; }
  OpClass op_class() const override { return OpClass::Normalization; }
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
      unsupported(rule, "pass, backtrace, gradient (fold it into the preceding linear layer for LRP rules)");
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
      auto node = std::make_unique<BatchNormNode>(scale);
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
    auto node = std::make_unique<BatchNormNode>(scale);
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
  return OpSpec{OpKind::BatchNorm1d, "batch_norm1d", OpClass::Normalization, 1, 1, {"running_mean", "running_var"},
                {"weight", "bias"}, kBnAttrs, bn_infer<1>, bn_run};
}
OpSpec op_spec_batch_norm2d() {
  return OpSpec{OpKind::BatchNorm2d, "batch_norm2d", OpClass::Normalization, 1, 1, {"running_mean", "running_var"},
                {"weight", "bias"}, kBnAttrs, bn_infer<2>, bn_run};
}

}  // namespace relprop
