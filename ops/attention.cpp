// Transformer ops (ops/attention.hpp): shape checks, CPU forward, relevance, tape nodes
// and graph ops. Letters: M, K, N the matmul's row, inner and column sizes; B the
// flattened batch; D the normalised (last) dimension; R rows of D.

#include "relprop/ops/attention.hpp"

#include <algorithm>
#include <cmath>

#include "relprop/ops/common.hpp"
#include "relprop/ops/kernels.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/ops/shape.hpp"
#include "relprop/config.hpp"
#include "relprop/tensor/error.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/attention.hpp"
#include "relprop/cuda/primitives.hpp"
#endif

namespace relprop {

namespace {

std::int64_t prod(const Shape& s, std::size_t from, std::size_t to) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// NumPy broadcast of two batch shapes; nullopt when they do not broadcast.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) return std::nullopt;
    out[i] = x == 1 ? y : x;
  }
  return out;
}

struct MatmulShape {
  Shape batch;
  std::int64_t M, K, N;
  Shape out;
};

MatmulShape matmul_shape(const Shape& a, const Shape& b, std::string_view name) {
  const std::string who = "matmul '" + detail::label(name, "matmul") + "'";
  if (a.size() < 2 || b.size() < 2)
    throw ShapeError(who + ": both operands need at least 2 dimensions, got " + shape_str(a) + " and " + shape_str(b));
  if (a[a.size() - 1] != b[b.size() - 2])
    throw ShapeError(who + ": " + shape_str(a) + " · " + shape_str(b) + ": inner sizes " +
                     std::to_string(a.back()) + " and " + std::to_string(b[b.size() - 2]) + " differ");
  const auto batch = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!batch) throw ShapeError(who + ": batch dimensions of " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
  MatmulShape m{*batch, a[a.size() - 2], a.back(), b.back(), *batch};
  m.out.push_back(m.M);
  m.out.push_back(m.N);
  return m;
}

Shape with_tail(Shape batch, std::int64_t r, std::int64_t c) {
  batch.push_back(r);
  batch.push_back(c);
  return batch;
}

// C_b = op(A_b) · op(B_b) for every batch b (row-major (rows, cols) blocks).
template <typename F>
void per_batch(std::int64_t B, std::int64_t work, F&& f) {
  if (B >= 4 && work < (1 << 22)) {
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < B; ++b) f(b);
  } else {
    for (std::int64_t b = 0; b < B; ++b) f(b);
  }
}

class MatmulNode final : public Node {
 public:
  MatmulNode(MatmulShape s, Tensor a, Tensor b, Tensor o, Shape a_shape, Shape b_shape)
      : s_(std::move(s)), a_(std::move(a)), b_(std::move(b)), o_(std::move(o)), a_shape_(std::move(a_shape)),
        b_shape_(std::move(b_shape)) {}
  std::string_view op() const override { return "matmul"; }
  OpClass op_class() const override { return OpClass::Attention; }

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(2);
    const Tensor R = detail::as_f32(R_in, "matmul", "relevance");
    const bool grad = std::holds_alternative<GradientRule>(rule);
    const auto* cr = std::get_if<ConstantRule>(&rule);
    const bool half = std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule) ||
                      std::holds_alternative<BacktraceRule>(rule);
    if (!grad && !cr && !half) unsupported(rule, "epsilon, zero, backtrace (bilinear), constant:0/1 (CP-LRP), gradient");
    bool want_a = ctx.needs(0), want_b = ctx.needs(1);
    if (cr) (cr->input == 0 ? want_a : want_b) = false;
    // Both factors computed: each takes half (O / 2 per factor); one: it takes all.
    const bool split = half && want_a && want_b;
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(o_)) {
      const std::int64_t B = prod(s_.batch, 0, s_.batch.size());
      const Rule stab_rule = cr ? Rule(EpsilonRule{cr->epsilon}) : rule;
      const auto g = cuda::matmul_relevance(R, a_, b_, o_, B, s_.M, s_.K, s_.N, want_a, want_b, grad,
                                            split ? 2.0f : 1.0f, detail::stab_of(stab_rule),
                                            with_tail(s_.batch, s_.M, s_.K), with_tail(s_.batch, s_.K, s_.N));
      if (want_a) out[0] = detail::reduce_to_shape(g.a, a_shape_);
      if (want_b) out[1] = detail::reduce_to_shape(g.b, b_shape_);
      return out;
    }
#endif
    Tensor S = R;
    if (!grad) {
      const std::int64_t n = R.numel();
      Tensor den = Tensor::empty(R.shape());
      const float* o = o_.data<float>();
      float* d = den.data<float>();
      const float f = split ? 2.0f : 1.0f;
      detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { d[i] = f * o[i]; });
      S = Tensor::empty(R.shape());
      const Rule stab_rule = cr ? Rule(EpsilonRule{cr->epsilon}) : rule;
      detail::stabilized_divide(R.data<float>(), d, S.data<float>(), n, n, detail::stab_of(stab_rule));
    }
    const std::int64_t B = prod(s_.batch, 0, s_.batch.size()), M = s_.M, K = s_.K, N = s_.N;
    if (want_a) {
      Tensor g = Tensor::empty(with_tail(s_.batch, M, K));  // S Bᵀ
      per_batch(B, M * K * N, [&](std::int64_t b) {
        auto G = detail::MutMatMap(g.data<float>() + b * M * K, M, K);
        detail::gemm(G, detail::ConstMatMap(S.data<float>() + b * M * N, M, N),
                     detail::ConstMatMap(b_.data<float>() + b * K * N, K, N).transpose());
      });
      if (!grad) {
        float* gp = g.data<float>();
        const float* ap = a_.data<float>();
        const std::int64_t count = g.numel();
        detail::parallel_for(count, count > detail::kParallelMin, [&](std::int64_t i) { gp[i] *= ap[i]; });
      }
      out[0] = detail::reduce_to_shape(g, a_shape_);
    }
    if (want_b) {
      Tensor g = Tensor::empty(with_tail(s_.batch, K, N));  // Aᵀ S
      per_batch(B, M * K * N, [&](std::int64_t b) {
        auto G = detail::MutMatMap(g.data<float>() + b * K * N, K, N);
        detail::gemm(G, detail::ConstMatMap(a_.data<float>() + b * M * K, M, K).transpose(),
                     detail::ConstMatMap(S.data<float>() + b * M * N, M, N));
      });
      if (!grad) {
        float* gp = g.data<float>();
        const float* bp = b_.data<float>();
        const std::int64_t count = g.numel();
        detail::parallel_for(count, count > detail::kParallelMin, [&](std::int64_t i) { gp[i] *= bp[i]; });
      }
      out[1] = detail::reduce_to_shape(g, b_shape_);
    }
    return out;
  }
  void release() override {
    a_ = Tensor();
    b_ = Tensor();
    o_ = Tensor();
  }

 private:
  MatmulShape s_;
  Tensor a_, b_, o_;  // operands broadcast to the batch shape (contiguous), the output
  Shape a_shape_, b_shape_;
};

// ---- attention softmax --------------------------------------------------------------------

class AttentionSoftmaxNode final : public Node {
 public:
  AttentionSoftmaxNode(std::string_view op, Tensor x, Tensor s, std::vector<std::uint8_t> masked, std::int64_t D)
      : op_(op), x_(std::move(x)), s_(std::move(s)), masked_(std::move(masked)), D_(D) {}
#if RELPROP_HAVE_CUDA
  // On the GPU the mask is kept as the key mask and the causal flag, not per element.
  AttentionSoftmaxNode(std::string_view op, Tensor x, Tensor s, cuda::SoftmaxMask mask, std::int64_t D)
      : op_(op), x_(std::move(x)), s_(std::move(s)), D_(D), gpu_mask_(std::move(mask)) {}
#endif
  std::string_view op() const override { return op_; }
  OpClass op_class() const override { return op_ == "softmax" ? OpClass::Activation : OpClass::Attention; }

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R_in;
      return out;
    }
    if (std::holds_alternative<ConstantRule>(rule)) {
      out[0] = Tensor::zeros(R_in.shape(), DType::F32, R_in.device());
      return out;
    }
    const bool grad = std::holds_alternative<GradientRule>(rule);
    if (!grad && !std::holds_alternative<EpsilonRule>(rule) && !std::holds_alternative<ZeroRule>(rule))
      unsupported(rule, "epsilon / zero (AttnLRP), pass, backtrace, constant, gradient");
    const Tensor R = detail::as_f32(R_in, op_, "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(s_)) {
      out[0] = cuda::attention_softmax_relevance(R, x_, s_, gpu_mask_, grad);
      return out;
    }
#endif
    Tensor g = Tensor::empty(R.shape());
    const float* r = R.data<float>();
    const float* s = s_.data<float>();
    const float* x = x_.data<float>();
    float* o = g.data<float>();
    const std::int64_t rows = R.numel() / D_;
    detail::parallel_for(rows, R.numel() > detail::kParallelMin, [&](std::int64_t i) {
      const std::int64_t base = i * D_;
      double acc = 0;
      // AttnLRP: x (R - s ΣR); gradient: s (R - Σ R s).
      for (std::int64_t d = 0; d < D_; ++d) acc += grad ? static_cast<double>(r[base + d]) * s[base + d] : r[base + d];
      for (std::int64_t d = 0; d < D_; ++d) {
        const std::int64_t k = base + d;
        if (!masked_.empty() && masked_[k]) {
          o[k] = 0.0f;
          continue;
        }
        o[k] = grad ? static_cast<float>(s[k] * (r[k] - acc)) : static_cast<float>(x[k] * (r[k] - s[k] * acc));
      }
    });
    out[0] = g;
    return out;
  }
  void release() override {
    x_ = Tensor();
    s_ = Tensor();
    masked_.clear();
#if RELPROP_HAVE_CUDA
    gpu_mask_ = cuda::SoftmaxMask();
#endif
  }

 private:
  std::string_view op_;
  Tensor x_, s_;
  std::vector<std::uint8_t> masked_;  // per element; empty when nothing is masked
  std::int64_t D_;
#if RELPROP_HAVE_CUDA
  cuda::SoftmaxMask gpu_mask_;  // GPU nodes: the key mask and causal flag
#endif
};

// ---- layer norm / RMS norm ----------------------------------------------------------------

class NormNode final : public Node {
 public:
  NormNode(bool rms, Tensor x, Tensor inv, Tensor w, Tensor y, Tensor b, std::int64_t D)
      : rms_(rms), x_(std::move(x)), inv_(std::move(inv)), w_(std::move(w)), y_(std::move(y)), b_(std::move(b)), D_(D) {}
  std::string_view op() const override { return rms_ ? "rms_norm" : "layer_norm"; }
  OpClass op_class() const override { return OpClass::Normalization; }

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    const bool grad = std::holds_alternative<GradientRule>(rule);
    const bool eps = std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule);
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule) || (rms_ && eps)) {
      out[0] = R_in;
      return out;
    }
    if (!grad && !eps) unsupported(rule, rms_ ? "pass / epsilon / zero / backtrace (identity), gradient"
                                              : "epsilon / zero (AttnLRP), pass, backtrace, gradient");
    const Tensor R = detail::as_f32(R_in, op(), "relevance");
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

// ---- embedding ----------------------------------------------------------------------------

class EmbeddingNode final : public Node {
 public:
  explicit EmbeddingNode(Shape ids_shape) : ids_shape_(std::move(ids_shape)) {}
  std::string_view op() const override { return "embedding"; }
  OpClass op_class() const override { return OpClass::Other; }
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
      : x_(std::move(x)), y_(std::move(y)), cos_(std::move(cos)), sin_(std::move(sin)), H_(H), T_(T), d_(d) {}
#if RELPROP_HAVE_CUDA
  RotaryNode(Tensor x, Tensor y, cuda::RotaryTables tables, std::int64_t H, std::int64_t T, std::int64_t d)
      : x_(std::move(x)), y_(std::move(y)), H_(H), T_(T), d_(d), gpu_tables_(std::move(tables)) {}
#endif
  std::string_view op() const override { return "rotary_embedding"; }
  OpClass op_class() const override { return OpClass::Other; }
  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R_in;
      return out;
    }
    const bool grad = std::holds_alternative<GradientRule>(rule);
    if (!grad && !std::holds_alternative<EpsilonRule>(rule) && !std::holds_alternative<ZeroRule>(rule))
      unsupported(rule, "epsilon / zero (the ε-rule of the rotation), pass, backtrace, gradient");
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
  PrependNode() = default;
  std::string_view op() const override { return "prepend_token"; }
  OpClass op_class() const override { return OpClass::Shape; }
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
      : x_(std::move(x)), w_(std::move(weight)), y_(std::move(y)), T_(T), inner_(inner) {}
#if RELPROP_HAVE_CUDA
  MaskedMeanNode(Tensor x, Tensor weight, Tensor y, std::int64_t T, std::int64_t inner)
      : x_(std::move(x)), y_(std::move(y)), T_(T), inner_(inner), gpu_w_(std::move(weight)) {}
#endif
  std::string_view op() const override { return "masked_mean"; }
  OpClass op_class() const override { return OpClass::Pooling; }
  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    const bool grad = std::holds_alternative<GradientRule>(rule);
    const bool eps = std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule) ||
                     std::holds_alternative<NormRule>(rule);
    const bool absolute = std::holds_alternative<BacktraceRule>(rule) || std::holds_alternative<PassRule>(rule);
    if (!grad && !eps && !absolute) unsupported(rule, "epsilon / zero / norm, backtrace / pass (by |x|), gradient");
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

// ---- public entry points -----------------------------------------------------------------

Tensor matmul(const Tensor& a_in, const Tensor& b_in, std::string_view name) {
  const MatmulShape s = matmul_shape(a_in.shape(), b_in.shape(), name);
  detail::same_device("matmul '" + detail::label(name, "matmul") + "'", {{&a_in, "input"}, {&b_in, "other"}});
  const Tensor a = detail::broadcast_f32(detail::as_f32(a_in, "matmul", "input"), with_tail(s.batch, s.M, s.K));
  const Tensor b = detail::broadcast_f32(detail::as_f32(b_in, "matmul", "other"), with_tail(s.batch, s.K, s.N));
  const std::int64_t B = prod(s.batch, 0, s.batch.size()), M = s.M, K = s.K, N = s.N;
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(a)) {
    // Broadcast batches (grouped-query heads) are materialised above, as on the CPU.
    Tensor o = cuda::batched_matmul(a, b, B, M, K, N, s.out);
    if (Tape* tape = detail::recording_tape({&a_in, &b_in})) {
      auto node = std::make_unique<MatmulNode>(s, a, b, o, a_in.shape(), b_in.shape());
      node->inputs = detail::value_ids(*tape, {&a_in, &b_in});
      tape->record(std::move(node), o, name);
    }
    return o;
  }
#endif
  Tensor o = Tensor::empty(s.out);
  per_batch(B, M * K * N, [&](std::int64_t i) {
    auto O = detail::MutMatMap(o.data<float>() + i * M * N, M, N);
    detail::gemm(O, detail::ConstMatMap(a.data<float>() + i * M * K, M, K),
                 detail::ConstMatMap(b.data<float>() + i * K * N, K, N));
  });
  if (Tape* tape = detail::recording_tape({&a_in, &b_in})) {
    auto node = std::make_unique<MatmulNode>(s, a, b, o, a_in.shape(), b_in.shape());
    node->inputs = detail::value_ids(*tape, {&a_in, &b_in});
    tape->record(std::move(node), o, name);
  }
  return o;
}

Tensor attention_softmax(const Tensor& scores, const Tensor& key_mask, bool causal, double scale,
                         std::string_view name) {
  const std::string who = "attention_softmax '" + detail::label(name, "attention_softmax") + "'";
  if (scores.dim() < 2) throw ShapeError(who + ": scores must be (..., Tq, Tk), got " + scores.str_shape());
  if (!std::isfinite(scale) || scale == 0) throw ValueError(who + ": scale must be finite and non-zero");
  Tensor x = detail::as_f32(scores, "attention_softmax", "scores");
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {  // the key mask may be on the CPU or the GPU
    const Shape& sh = x.shape();
    const std::int64_t Tk = sh.back(), Tq = sh[sh.size() - 2], rows = Tk > 0 ? x.numel() / Tk : 0;
    if (key_mask.defined() && (key_mask.dim() != 2 || key_mask.size(0) != sh[0] || key_mask.size(1) != Tk))
      throw ShapeError(who + ": key mask must be (N, Tk) = (" + std::to_string(sh[0]) + ", " + std::to_string(Tk) +
                       "), got " + key_mask.str_shape());
    cuda::SoftmaxMask mask = cuda::softmax_mask(key_mask, sh[0] > 0 ? rows / sh[0] : 1, causal, Tq, Tk);
    auto [xs, s] = cuda::attention_softmax_forward(x, scale, mask);
    if (Tape* tape = detail::recording_tape({&scores, &key_mask})) {
      auto node = std::make_unique<AttentionSoftmaxNode>("attention_softmax", xs, s, std::move(mask), Tk);
      node->inputs = detail::value_ids(*tape, {&scores, &key_mask});
      tape->record(std::move(node), s, name);
    }
    return s;
  }
#endif
  if (scale != 1.0) {
    Tensor scaled = Tensor::empty(x.shape());
    const float* p = x.data<float>();
    float* q = scaled.data<float>();
    const auto f = static_cast<float>(scale);
    const std::int64_t count = x.numel();
    detail::parallel_for(count, count > detail::kParallelMin, [&](std::int64_t i) { q[i] = p[i] * f; });
    x = scaled;
  }
  const Shape& sh = x.shape();
  const std::int64_t Tk = sh.back(), Tq = sh[sh.size() - 2], n = x.numel(), rows = Tk > 0 ? n / Tk : 0;
  std::vector<std::uint8_t> masked;
  if (key_mask.defined() || causal) masked.assign(static_cast<std::size_t>(n), 0);
  if (key_mask.defined()) {
    if (key_mask.dim() != 2 || key_mask.size(0) != sh[0] || key_mask.size(1) != Tk)
      throw ShapeError(who + ": key mask must be (N, Tk) = (" + std::to_string(sh[0]) + ", " + std::to_string(Tk) +
                       "), got " + key_mask.str_shape());
    const auto m = key_mask.to_vector_f64();
    const std::int64_t rows_per_sample = sh[0] > 0 && rows >= sh[0] ? rows / sh[0] : 1;
    detail::parallel_for(rows, n > detail::kParallelMin, [&](std::int64_t r) {
      const double* mr = m.data() + (r / rows_per_sample) * Tk;
      for (std::int64_t k = 0; k < Tk; ++k) masked[r * Tk + k] = mr[k] == 0.0;
    });
  }
  if (causal)
    detail::parallel_for(rows, n > detail::kParallelMin, [&](std::int64_t r) {
      const std::int64_t q = r % Tq;
      for (std::int64_t k = std::max<std::int64_t>(0, q + Tk - Tq + 1); k < Tk; ++k) masked[r * Tk + k] = 1;
    });
  Tensor s = Tensor::empty(sh);
  const float* xp = x.data<float>();
  float* sp = s.data<float>();
  detail::parallel_for(rows, n > detail::kParallelMin, [&](std::int64_t r) {
    const std::int64_t base = r * Tk;
    float m = -INFINITY;
    for (std::int64_t k = 0; k < Tk; ++k)
      if (masked.empty() || !masked[base + k]) m = std::max(m, xp[base + k]);
    Eigen::Map<Eigen::ArrayXf> e(sp + base, Tk);
    if (m == -INFINITY) {  // nothing visible (or every score -inf): an all-zero row
      e.setZero();
      return;
    }
    // exp(x - max) once per entry through Eigen's vectorised exp (float, ~1 ulp), the sum
    // in double; masked entries 0. Eigen's exp clamps its argument at -88.7 instead of
    // returning 0, so arguments below float's exp range are zeroed explicitly (a score of
    // -1e9 or finfo.min must get probability 0, and so AttnLRP relevance 0).
    // (The exp is taken alone: inside a select() Eigen falls back to scalar expf.)
    e = (Eigen::Map<const Eigen::ArrayXf>(xp + base, Tk) - m).exp();
    double sum = 0;
    for (std::int64_t k = 0; k < Tk; ++k) {
      if ((!masked.empty() && masked[base + k]) || xp[base + k] - m < -87.3f) sp[base + k] = 0.0f;
      sum += sp[base + k];
    }
    const float inv = sum == 0 ? 0.0f : static_cast<float>(1.0 / sum);
    e *= inv;
  });
  if (Tape* tape = detail::recording_tape({&scores, &key_mask})) {
    auto node = std::make_unique<AttentionSoftmaxNode>("attention_softmax", x, s, std::move(masked), Tk);
    node->inputs = detail::value_ids(*tape, {&scores, &key_mask});
    tape->record(std::move(node), s, name);
  }
  return s;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                                    bool causal, double scale, std::string_view name) {
  const std::string who =
      "scaled_dot_product_attention '" + detail::label(name, "scaled_dot_product_attention") + "'";
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    throw ShapeError(who + ": q, k and v must be (..., T, d), got " + q.str_shape() + ", " + k.str_shape() + ", " +
                     v.str_shape());
  const std::int64_t d = q.size(q.dim() - 1);
  if (k.size(k.dim() - 1) != d)
    throw ShapeError(who + ": q and k must share the head size, got " + q.str_shape() + " and " + k.str_shape());
  if (v.size(v.dim() - 2) != k.size(k.dim() - 2))
    throw ShapeError(who + ": k and v must have the same number of keys, got " + k.str_shape() + " and " +
                     v.str_shape());
  if (scale == 0.0) {
    if (d == 0) throw ShapeError(who + ": head size 0");
    scale = 1.0 / std::sqrt(static_cast<double>(d));
  }
  // PyTorch's is_causal aligns the mask to the top left (query i sees keys j <= i);
  // attention_softmax's causal mask to the bottom right (decoding with a cache). They agree
  // only for square scores.
  if (causal && q.size(q.dim() - 2) != k.size(k.dim() - 2))
    throw UnsupportedError(who + ": is_causal with " + std::to_string(q.size(q.dim() - 2)) + " queries and " +
                           std::to_string(k.size(k.dim() - 2)) + " keys (only equal counts are supported)");
  const std::string base(name);
  auto part = [&](const char* suffix) { return base.empty() ? std::string() : base + suffix; };
  try {
    const Tensor key_t = transpose(k, k.dim() - 2, k.dim() - 1, part(".key_t"));
    const Tensor scores = matmul(q, key_t, part(".scores"));
    const Tensor probs = attention_softmax(scores, key_mask, causal, scale, part(".softmax"));
    return matmul(probs, v, name);
  } catch (const ShapeError& e) {
    throw ShapeError(who + ": " + e.what());
  } catch (const ValueError& e) {
    throw ValueError(who + ": " + e.what());
  }
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, std::string_view name) {
  return norm_impl(false, x, weight, bias, eps, name);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps, std::string_view name) {
  return norm_impl(true, x, weight, Tensor(), eps, name);
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

// ---- graph format --------------------------------------------------------------------------

namespace {

Shape matmul_infer(const OpShapeCall& c) { return matmul_shape(c.inputs[0], c.inputs[1], c.node).out; }
Tensor matmul_run(const OpCall& c) { return matmul(c.inputs[0], c.inputs[1], c.node); }

Shape attention_softmax_infer(const OpShapeCall& c) {
  if (c.inputs[0].size() < 2)
    throw ShapeError("attention_softmax '" + std::string(c.node) + "': scores must be (..., Tq, Tk)");
  return c.inputs[0];
}
Tensor attention_softmax_run(const OpCall& c) {
  return attention_softmax(c.inputs[0], c.inputs.size() > 1 ? c.inputs[1] : Tensor(),
                           c.attrs.get_bool(c.node, "causal", false), c.attrs.get_float(c.node, "scale", 1.0), c.node);
}

Shape sdpa_infer(const OpShapeCall& c) {
  const Shape &q = c.inputs[0], &k = c.inputs[1], &v = c.inputs[2];
  const std::string who = "scaled_dot_product_attention '" + std::string(c.node) + "'";
  if (q.size() < 2 || k.size() < 2 || v.size() < 2) throw ShapeError(who + ": q, k and v must be (..., T, d)");
  if (q.back() != k.back()) throw ShapeError(who + ": q " + shape_str(q) + " and k " + shape_str(k) + " differ in head size");
  if (k[k.size() - 2] != v[v.size() - 2])
    throw ShapeError(who + ": k " + shape_str(k) + " and v " + shape_str(v) + " differ in the number of keys");
  if (c.inputs.size() > 3 && (c.inputs[3].size() != 2 || c.inputs[3][0] != q[0] || c.inputs[3][1] != k[k.size() - 2]))
    throw ShapeError(who + ": key mask must be (N, Tk) = (" + std::to_string(q[0]) + ", " +
                     std::to_string(k[k.size() - 2]) + "), got " + shape_str(c.inputs[3]));
  Shape kt = k;
  std::swap(kt[kt.size() - 1], kt[kt.size() - 2]);
  const Shape scores = matmul_shape(q, kt, c.node).out;
  return matmul_shape(scores, v, c.node).out;
}
Tensor sdpa_run(const OpCall& c) {
  return scaled_dot_product_attention(c.inputs[0], c.inputs[1], c.inputs[2],
                                      c.inputs.size() > 3 ? c.inputs[3] : Tensor(),
                                      c.attrs.get_bool(c.node, "is_causal", false),
                                      c.attrs.get_float(c.node, "scale", 0.0), c.node);
}

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

OpSpec op_spec_matmul() {
  return OpSpec{OpKind::Matmul, "matmul", OpClass::Attention, 2, 2, {}, {}, {}, matmul_infer, matmul_run};
}
OpSpec op_spec_attention_softmax() {
  return OpSpec{OpKind::AttentionSoftmax, "attention_softmax", OpClass::Attention, 1, 2, {}, {}, {"causal", "scale"},
                attention_softmax_infer, attention_softmax_run};
}
OpSpec op_spec_scaled_dot_product_attention() {
  return OpSpec{OpKind::ScaledDotProductAttention, "scaled_dot_product_attention", OpClass::Attention, 3, 4, {}, {},
                {"is_causal", "scale"}, sdpa_infer, sdpa_run};
}
OpSpec op_spec_masked_mean() {
  return OpSpec{OpKind::MaskedMean, "masked_mean", OpClass::Pooling, 1, 2, {}, {}, {}, masked_mean_infer,
                masked_mean_run};
}
OpSpec op_spec_layer_norm() {
  return OpSpec{OpKind::LayerNorm, "layer_norm", OpClass::Normalization, 1, 1, {}, {"weight", "bias"},
                {"eps", "normalized_shape", "elementwise_affine"}, norm_infer, layer_norm_run};
}
OpSpec op_spec_rms_norm() {
  return OpSpec{OpKind::RmsNorm, "rms_norm", OpClass::Normalization, 1, 1, {}, {"weight"}, {"eps", "normalized_shape"},
                norm_infer, rms_norm_run};
}
OpSpec op_spec_rotary_embedding() {
  return OpSpec{OpKind::RotaryEmbedding, "rotary_embedding", OpClass::Other, 2, 2, {}, {}, {"theta"}, rotary_infer,
                rotary_run};
}
OpSpec op_spec_prepend_token() {
  return OpSpec{OpKind::PrependToken, "prepend_token", OpClass::Shape, 1, 1, {"token"}, {}, {}, prepend_infer,
                prepend_run};
}
OpSpec op_spec_embedding() {
  return OpSpec{OpKind::Embedding, "embedding", OpClass::Other, 1, 1, {"weight"}, {},
                {"padding_idx", "num_embeddings", "embedding_dim"}, embedding_infer, embedding_run};
}

}  // namespace relprop
