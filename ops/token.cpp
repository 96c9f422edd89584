// Token ops (ops/token.hpp): embedding lookups, rotary position embedding, a prepended
// token (ViT's class token) and masked mean pooling: shape checks, CPU forward, relevance,
// tape nodes and graph ops. Letters: N batch, T tokens, H heads, d head size, D hidden
// size. GPU tensors run the twin in cuda/token.cu.

#include "relprop/ops/token.hpp"

#include <algorithm>
#include <cmath>

#include "relprop/ops/common.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#include "relprop/tensor/error.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/primitives.hpp"
#include "relprop/cuda/stabilize.hpp"
#include "relprop/cuda/token.hpp"
#endif

namespace relprop {

namespace {

// ---- embedding ----------------------------------------------------------------------------

class EmbeddingNode final : public Node {
 public:
  explicit EmbeddingNode(Shape ids_shape) : Node(OpKind::Embedding), ids_shape_(std::move(ids_shape)) {}
  std::vector<Tensor> relevance(const Rule&, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    const Tensor R = detail::as_f32(R_in, "embedding", "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(R)) {  // on the weight's device, wherever the ids were
      out[0] = cuda::sum_last(R, ids_shape_);
      return out;
    }
#endif
    const std::int64_t D = R.shape().back(), n = R.numel() / std::max<std::int64_t>(D, 1);
    Tensor r = Tensor::empty(ids_shape_);
    const float* rp = R.data<float>();
    float* o = r.data<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      double acc = 0;
      for (std::int64_t d = 0; d < D; ++d) acc += rp[i * D + d];
      o[i] = static_cast<float>(acc);
    }
    out[0] = r;
    return out;
  }
  void release() override {}

 private:
  Shape ids_shape_;
};

// ---- rotary position embedding --------------------------------------------------------------

class RotaryNode final : public Node {
 public:
  RotaryNode(Tensor x, Tensor y, std::vector<float> cos, std::vector<float> sin, std::int64_t H, std::int64_t T,
             std::int64_t d)
      : Node(OpKind::RotaryEmbedding),
        x_(std::move(x)),
        y_(std::move(y)),
        cos_(std::move(cos)),
        sin_(std::move(sin)),
        H_(H),
        T_(T),
        d_(d) {}
#if RELPROP_HAVE_CUDA
  RotaryNode(Tensor x, Tensor y, cuda::RotaryTables tables, std::int64_t H, std::int64_t T, std::int64_t d)
      : Node(OpKind::RotaryEmbedding), x_(std::move(x)), y_(std::move(y)), H_(H), T_(T), d_(d), gpu_tables_(std::move(tables)) {}
#endif
  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R_in;
      return out;
    }
    const bool grad = std::holds_alternative<GradientRule>(rule);
    if (!grad && !std::holds_alternative<EpsilonRule>(rule) && !std::holds_alternative<ZeroRule>(rule))
      unsupported(rule);
    const Tensor R = detail::as_f32(R_in, "rotary_embedding", "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(x_)) {
      const Tensor S = grad ? R : cuda::stabilized_divide(R, y_, R.numel(), detail::stab_of(rule));
      out[0] = cuda::rotary_relevance(S, x_, gpu_tables_, grad, H_, T_, d_);
      return out;
    }
#endif
    const std::int64_t n = R.numel(), h = d_ / 2;
    Tensor S = R;
    if (!grad) {
      S = Tensor::empty(R.shape());
      detail::stabilized_divide(R.data<float>(), y_.data<float>(), S.data<float>(), n, n, detail::stab_of(rule));
    }
    const float* s = S.data<float>();
    const float* x = x_.data<float>();
    Tensor g = Tensor::empty(R.shape());
    float* o = g.data<float>();
    const std::int64_t rows = n / d_;
    // Transposed map: dx_j = c_j g_j + s_j g_{j+h}, dx_{j+h} = -s_j g_j + c_j g_{j+h}; the
    // ε-rule multiplies by x.
    detail::parallel_for(rows, n > detail::kParallelMin, [&](std::int64_t r) {
      const std::int64_t b = r / (H_ * T_), t = r % T_;
      const float* c = cos_.data() + (b * T_ + t) * h;
      const float* si = sin_.data() + (b * T_ + t) * h;
      const std::int64_t base = r * d_;
      for (std::int64_t j = 0; j < h; ++j) {
        const float g1 = s[base + j], g2 = s[base + j + h];
        const float a = c[j] * g1 + si[j] * g2, bb = -si[j] * g1 + c[j] * g2;
        o[base + j] = grad ? a : x[base + j] * a;
        o[base + j + h] = grad ? bb : x[base + j + h] * bb;
      }
      // A transposed sum that overflowed leaves its input's share absorbed (a loop of its
      // own, so the one above rounds as it always did).
      if (!grad)
        for (std::int64_t j = 0; j < d_; ++j) o[base + j] = detail::absorb_overflow(o[base + j], x[base + j]);
    });
    out[0] = g;
    return out;
  }
  void release() override {
    x_ = Tensor();
    y_ = Tensor();
    cos_.clear();
    sin_.clear();
#if RELPROP_HAVE_CUDA
    gpu_tables_ = cuda::RotaryTables();
#endif
  }

 private:
  Tensor x_, y_;
  std::vector<float> cos_, sin_;  // (N, T, d/2)
  std::int64_t H_, T_, d_;
#if RELPROP_HAVE_CUDA
  cuda::RotaryTables gpu_tables_;  // GPU nodes: cos / sin (N, T, d/2) on the GPU
#endif
};

// ---- prepend_token --------------------------------------------------------------------------

class PrependNode final : public Node {
 public:
  PrependNode() : Node(OpKind::PrependToken) {}
  std::vector<Tensor> relevance(const Rule&, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (ctx.needs(0)) out[0] = R_in.slice(1, 1, R_in.size(1)).contiguous();
    return out;
  }
  void release() override {}
};

// ---- masked mean ----------------------------------------------------------------------------

class MaskedMeanNode final : public Node {
 public:
  MaskedMeanNode(Tensor x, std::vector<float> weight, Tensor y, std::int64_t T, std::int64_t inner)
      : Node(OpKind::MaskedMean), x_(std::move(x)), w_(std::move(weight)), y_(std::move(y)), T_(T), inner_(inner) {}
#if RELPROP_HAVE_CUDA
  MaskedMeanNode(Tensor x, Tensor weight, Tensor y, std::int64_t T, std::int64_t inner)
      : Node(OpKind::MaskedMean), x_(std::move(x)), y_(std::move(y)), T_(T), inner_(inner), gpu_w_(std::move(weight)) {}
#endif
  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    const bool grad = std::holds_alternative<GradientRule>(rule);
    const bool eps = std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule) ||
                     std::holds_alternative<NormRule>(rule);
    const bool absolute = std::holds_alternative<BacktraceRule>(rule) || std::holds_alternative<PassRule>(rule);
    if (!grad && !eps && !absolute) unsupported(rule);
    const Tensor R = detail::as_f32(R_in, "masked_mean", "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(x_)) {
      const Tensor S = eps ? cuda::stabilized_divide(R, y_, R.numel(), detail::stab_of(rule)) : R;
      const auto mode = grad ? cuda::MeanMode::Gradient : eps ? cuda::MeanMode::Epsilon : cuda::MeanMode::Absolute;
      out[0] = cuda::masked_mean_relevance(S, x_, gpu_w_, mode, x_.size(0), T_, inner_);
      return out;
    }
#endif
    const std::int64_t N = x_.size(0), n = R.numel();
    Tensor S = R;
    if (eps) {
      S = Tensor::empty(R.shape());
      detail::stabilized_divide(R.data<float>(), y_.data<float>(), S.data<float>(), n, n, detail::stab_of(rule));
    }
    const float* s = S.data<float>();
    const float* x = x_.data<float>();
    Tensor g = Tensor::empty(x_.shape());
    float* o = g.data<float>();
    for (std::int64_t b = 0; b < N; ++b)
      for (std::int64_t j = 0; j < inner_; ++j) {
        double total = 0;  // backtrace: Σ_t w_t |x_t|
        if (absolute)
          for (std::int64_t t = 0; t < T_; ++t) total += w_[b * T_ + t] * std::fabs(x[(b * T_ + t) * inner_ + j]);
        for (std::int64_t t = 0; t < T_; ++t) {
          const std::int64_t i = (b * T_ + t) * inner_ + j;
          const double w = w_[b * T_ + t], r = s[b * inner_ + j];
          o[i] = grad ? static_cast<float>(w * r)
                 : eps ? static_cast<float>(w * x[i] * r)
                       : static_cast<float>(total > 0 ? r * w * std::fabs(x[i]) / total : 0.0);
        }
      }
    out[0] = g;
    return out;
  }
  void release() override {
    x_ = Tensor();
    y_ = Tensor();
    w_.clear();
#if RELPROP_HAVE_CUDA
    gpu_w_ = Tensor();
#endif
  }

 private:
  Tensor x_;
  std::vector<float> w_;  // (N, T): mask_t / Σ mask
  Tensor y_;
  std::int64_t T_, inner_;
#if RELPROP_HAVE_CUDA
  Tensor gpu_w_;  // GPU nodes: w_ as an (N, T) GPU tensor
#endif
};


}  // namespace

Tensor masked_mean(const Tensor& x_in, const Tensor& mask, std::string_view name) {
  const std::string who = "masked_mean '" + detail::label(name, "masked_mean") + "'";
  if (x_in.dim() < 2) throw ShapeError(who + ": input must be (N, T, ...), got " + x_in.str_shape());
  const Tensor x = detail::as_f32(x_in, "masked_mean", "input");
  const std::int64_t N = x.size(0), T = x.size(1), inner = T > 0 && N > 0 ? x.numel() / (N * T) : 0;
  if (mask.defined() && (mask.dim() != 2 || mask.size(0) != N || mask.size(1) != T))
    throw ShapeError(who + ": mask must be (" + std::to_string(N) + ", " + std::to_string(T) + "), got " +
                     mask.str_shape());
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {  // the mask may be on the CPU or the GPU
    Shape ys = x.shape();
    ys.erase(ys.begin() + 1);
    const Tensor w = cuda::masked_mean_weights(mask, N, T);
    Tensor y = cuda::masked_mean_forward(x, w, N, T, inner, ys);
    if (Tape* tape = detail::recording_tape({&x_in, &mask})) {
      auto node = std::make_unique<MaskedMeanNode>(x, w, y, T, inner);
      node->inputs = detail::value_ids(*tape, {&x_in, &mask});
      tape->record(std::move(node), y, name);
    }
    return y;
  }
#endif
  std::vector<float> w(static_cast<std::size_t>(N * T), 1.0f);
  if (mask.defined()) {
    const auto m = mask.to_vector_f64();
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = m[i] != 0 ? 1.0f : 0.0f;
  }
  for (std::int64_t b = 0; b < N; ++b) {
    double c = 0;
    for (std::int64_t t = 0; t < T; ++t) c += w[b * T + t];
    for (std::int64_t t = 0; t < T; ++t) w[b * T + t] = c > 0 ? static_cast<float>(w[b * T + t] / c) : 0.0f;
  }
  Shape ys = x.shape();
  ys.erase(ys.begin() + 1);
  Tensor y = Tensor::zeros(ys);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (std::int64_t b = 0; b < N; ++b)
    for (std::int64_t j = 0; j < inner; ++j) {
      double acc = 0;
      for (std::int64_t t = 0; t < T; ++t) acc += static_cast<double>(w[b * T + t]) * xp[(b * T + t) * inner + j];
      yp[b * inner + j] = static_cast<float>(acc);
    }
  if (Tape* tape = detail::recording_tape({&x_in, &mask})) {
    auto node = std::make_unique<MaskedMeanNode>(x, std::move(w), y, T, inner);
    node->inputs = detail::value_ids(*tape, {&x_in, &mask});
    tape->record(std::move(node), y, name);
  }
  return y;
}

Tensor rotary_embedding(const Tensor& x_in, const Tensor& position_ids, double theta, std::string_view name) {
  const std::string who = "rotary_embedding '" + detail::label(name, "rotary_embedding") + "'";
  if (x_in.dim() != 4 || x_in.size(3) % 2 != 0)
    throw ShapeError(who + ": input must be (N, H, T, d) with d even, got " + x_in.str_shape());
  const std::int64_t N = x_in.size(0), H = x_in.size(1), T = x_in.size(2), d = x_in.size(3), h = d / 2;
  if (position_ids.dim() != 2 || position_ids.size(0) != N || position_ids.size(1) != T)
    throw ShapeError(who + ": position_ids must be (" + std::to_string(N) + ", " + std::to_string(T) + "), got " +
                     position_ids.str_shape());
  if (!(theta > 0)) throw ValueError(who + ": theta must be positive");
  const Tensor x = detail::as_f32(x_in, "rotary_embedding", "input");
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {  // the position ids may be on the CPU or the GPU
    cuda::RotaryTables tables = cuda::rotary_tables(position_ids, theta, N, T, d);
    Tensor y = cuda::rotary_forward(x, tables, H, T, d);
    if (Tape* tape = detail::recording_tape({&x_in, &position_ids})) {
      auto node = std::make_unique<RotaryNode>(x, y, std::move(tables), H, T, d);
      node->inputs = detail::value_ids(*tape, {&x_in, &position_ids});
      tape->record(std::move(node), y, name);
    }
    return y;
  }
#endif
  const auto pos = position_ids.to_vector_f64();
  std::vector<float> cs(static_cast<std::size_t>(N * T * h)), sn(cs.size());
  for (std::int64_t i = 0; i < N * T; ++i)
    for (std::int64_t j = 0; j < h; ++j) {
      // As Hugging Face computes it: inv_freq in float32, angle = position x inv_freq in float32.
      const float inv = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * j) / static_cast<float>(d));
      const float angle = static_cast<float>(pos[i]) * inv;
      cs[i * h + j] = std::cos(angle);
      sn[i * h + j] = std::sin(angle);
    }
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const std::int64_t rows = N * H * T;
  detail::parallel_for(rows, x.numel() > detail::kParallelMin, [&](std::int64_t r) {
    const std::int64_t b = r / (H * T), t = r % T;
    const float* c = cs.data() + (b * T + t) * h;
    const float* s = sn.data() + (b * T + t) * h;
    const float* xr = xp + r * d;
    float* yr = yp + r * d;
    for (std::int64_t j = 0; j < h; ++j) {
      yr[j] = xr[j] * c[j] - xr[j + h] * s[j];
      yr[j + h] = xr[j + h] * c[j] + xr[j] * s[j];
    }
  });
  if (Tape* tape = detail::recording_tape({&x_in, &position_ids})) {
    auto node = std::make_unique<RotaryNode>(x, y, std::move(cs), std::move(sn), H, T, d);
    node->inputs = detail::value_ids(*tape, {&x_in, &position_ids});
    tape->record(std::move(node), y, name);
  }
  return y;
}

Tensor prepend_token(const Tensor& x_in, const Tensor& token_in, std::string_view name) {
  const std::string who = "prepend_token '" + detail::label(name, "prepend_token") + "'";
  if (x_in.dim() != 3) throw ShapeError(who + ": input must be (N, T, D), got " + x_in.str_shape());
  const std::int64_t N = x_in.size(0), T = x_in.size(1), D = x_in.size(2);
  if (token_in.numel() != D) throw ShapeError(who + ": token must hold D = " + std::to_string(D) + " values, got " +
                                              token_in.str_shape());
  detail::same_device(who, {{&x_in, "input"}, {&token_in, "token"}});
  const Tensor x = detail::as_f32(x_in, "prepend_token", "input");
  const Tensor tok = detail::as_f32(token_in.contiguous(), "prepend_token", "token");
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {
    Tensor y = cuda::prepend_token(x, tok, N, T, D);
    if (Tape* tape = detail::recording_tape({&x_in, &token_in})) {
      auto node = std::make_unique<PrependNode>();
      node->inputs = detail::value_ids(*tape, {&x_in, &token_in});
      tape->record(std::move(node), y, name);
    }
    return y;
  }
#endif
  Tensor y = Tensor::empty({N, T + 1, D});
  for (std::int64_t b = 0; b < N; ++b) {
    std::copy_n(tok.data<float>(), D, y.data<float>() + b * (T + 1) * D);
    std::copy_n(x.data<float>() + b * T * D, T * D, y.data<float>() + (b * (T + 1) + 1) * D);
  }
  if (Tape* tape = detail::recording_tape({&x_in, &token_in})) {
    // The relevance of x is the output's, without the first position.
    Tensor out = y;
    auto node = std::make_unique<PrependNode>();
    node->inputs = detail::value_ids(*tape, {&x_in, &token_in});
    tape->record(std::move(node), out, name);
    return out;
  }
  return y;
}

Tensor embedding(const Tensor& ids, const Tensor& weight_in, std::string_view name) {
  const std::string who = "embedding '" + detail::label(name, "embedding") + "'";
  if (weight_in.dim() != 2) throw ShapeError(who + ": weight must be (V, D), got " + weight_in.str_shape());
  const Tensor w = detail::as_f32(weight_in, "embedding", "weight");
  const std::int64_t V = w.size(0), D = w.size(1);
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(w)) {
    // The output lives on the weight's device. The ids (any dtype) may be on the CPU
    // (copied up) or the GPU; either way they are checked on the device, with the CPU's
    // IndexError for the first bad one.
    Shape out_shape = ids.shape();
    out_shape.push_back(D);
    Tensor y = cuda::embedding_forward(cuda::f64_on_gpu(ids), w, out_shape, who);
    if (Tape* tape = detail::recording_tape({&ids, &weight_in})) {
      auto node = std::make_unique<EmbeddingNode>(ids.shape());
      node->inputs = detail::value_ids(*tape, {&ids, &weight_in});
      tape->record(std::move(node), y, name);
    }
    return y;
  }
#endif
  const auto idv = ids.to_vector_f64();
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor y = Tensor::empty(out_shape);
  float* yp = y.data<float>();
  for (std::size_t i = 0; i < idv.size(); ++i) {
    const double id = idv[i];
    if (!(id >= 0 && id < static_cast<double>(V)) || id != std::floor(id))
      throw IndexError(who + ": id " + std::to_string(static_cast<long long>(id)) + " at position " + std::to_string(i) +
                       " is outside the vocabulary [0, " + std::to_string(V) + ")");
    std::copy_n(w.data<float>() + static_cast<std::int64_t>(id) * D, D, yp + static_cast<std::int64_t>(i) * D);
  }
  if (Tape* tape = detail::recording_tape({&ids, &weight_in})) {
    auto node = std::make_unique<EmbeddingNode>(ids.shape());
    node->inputs = detail::value_ids(*tape, {&ids, &weight_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}


namespace {

Shape masked_mean_infer(const OpShapeCall& c) {
  const Shape& x = c.inputs[0];
  if (x.size() < 2) throw ShapeError("masked_mean '" + std::string(c.node) + "': input must be (N, T, ...)");
  if (c.inputs.size() > 1 && (c.inputs[1].size() != 2 || c.inputs[1][0] != x[0] || c.inputs[1][1] != x[1]))
    throw ShapeError("masked_mean '" + std::string(c.node) + "': mask must be (N, T) of the input " + shape_str(x) +
                     ", got " + shape_str(c.inputs[1]));
  Shape s = x;
  s.erase(s.begin() + 1);
  return s;
}
Tensor masked_mean_run(const OpCall& c) {
  return masked_mean(c.inputs[0], c.inputs.size() > 1 ? c.inputs[1] : Tensor(), c.node);
}

Shape rotary_infer(const OpShapeCall& c) {
  const Shape& x = c.inputs[0];
  if (x.size() != 4 || x[3] % 2 != 0)
    throw ShapeError("rotary_embedding '" + std::string(c.node) + "': input must be (N, H, T, d) with d even");
  return x;
}
Tensor rotary_run(const OpCall& c) {
  return rotary_embedding(c.inputs[0], c.inputs[1], c.attrs.get_float(c.node, "theta", 10000.0), c.node);
}

Shape prepend_infer(const OpShapeCall& c) {
  const Shape& x = c.inputs[0];
  const Shape& t = c.params.at("token");
  if (x.size() != 3 || shape_numel(t) != x[2])
    throw ShapeError("prepend_token '" + std::string(c.node) + "': input (N, T, D) and a token of D values needed");
  return {x[0], x[1] + 1, x[2]};
}
Tensor prepend_run(const OpCall& c) { return prepend_token(c.inputs[0], c.params.at("token"), c.node); }

Shape embedding_infer(const OpShapeCall& c) {
  const Shape& w = c.params.at("weight");
  if (w.size() != 2) throw ShapeError("embedding '" + std::string(c.node) + "': weight must be (V, D)");
  Shape s = c.inputs[0];
  s.push_back(w[1]);
  return s;
}
Tensor embedding_run(const OpCall& c) { return embedding(c.inputs[0], c.params.at("weight"), c.node); }


}  // namespace

OpSpec op_spec_masked_mean() {
  return OpSpec{OpKind::MaskedMean, {}, {}, {}, masked_mean_infer,
                masked_mean_run};
}
OpSpec op_spec_rotary_embedding() {
  return OpSpec{OpKind::RotaryEmbedding, {}, {}, {"theta"}, rotary_infer,
                rotary_run};
}
OpSpec op_spec_prepend_token() {
  return OpSpec{OpKind::PrependToken, {"token"}, {}, {}, prepend_infer,
                prepend_run};
}
OpSpec op_spec_embedding() {
  return OpSpec{OpKind::Embedding, {"weight"}, {},
                {"padding_idx", "num_embeddings", "embedding_dim"}, embedding_infer, embedding_run};
}

}  // namespace relprop
