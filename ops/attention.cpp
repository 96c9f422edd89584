// Attention (ops/attention.hpp): shape checks, CPU forward, relevance, tape nodes and
// graph ops. Letters: M, K, N the matmul's row, inner and column sizes; B the flattened
// batch; D the softmax (last) dimension.

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
      : Node(OpKind::Matmul),
        s_(std::move(s)),
        a_(std::move(a)),
        b_(std::move(b)),
        o_(std::move(o)),
        a_shape_(std::move(a_shape)),
        b_shape_(std::move(b_shape)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(2);
    const Tensor R = detail::as_f32(R_in, "matmul", "relevance");
    const bool grad = std::holds_alternative<GradientRule>(rule);
    const auto* cr = std::get_if<ConstantRule>(&rule);
    const bool half = std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule) ||
                      std::holds_alternative<BacktraceRule>(rule);
    if (!grad && !cr && !half) unsupported(rule);
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
  AttentionSoftmaxNode(Tensor x, Tensor s, std::vector<std::uint8_t> masked, std::int64_t D, double scale)
      : Node(OpKind::AttentionSoftmax),
        x_(std::move(x)),
        s_(std::move(s)),
        masked_(std::move(masked)),
        D_(D),
        scale_(scale) {}
#if RELPROP_HAVE_CUDA
  // On the GPU the mask is kept as the key mask and the causal flag, not per element.
  AttentionSoftmaxNode(Tensor x, Tensor s, cuda::SoftmaxMask mask, std::int64_t D, double scale)
      : Node(OpKind::AttentionSoftmax),
        x_(std::move(x)),
        s_(std::move(s)),
        D_(D),
        scale_(scale),
        gpu_mask_(std::move(mask)) {}
#endif

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
      unsupported(rule);
    const Tensor R = detail::as_f32(R_in, op_name(), "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(s_)) {
      out[0] = cuda::attention_softmax_relevance(R, x_, s_, gpu_mask_, grad, scale_);
      return out;
    }
#endif
    Tensor g = Tensor::empty(R.shape());
    const float* r = R.data<float>();
    const float* s = s_.data<float>();
    const float* x = x_.data<float>();
    float* o = g.data<float>();
    const std::int64_t rows = R.numel() / D_;
    const auto scale = static_cast<float>(scale_);
    detail::parallel_for(rows, R.numel() > detail::kParallelMin, [&](std::int64_t i) {
      const std::int64_t base = i * D_;
      // AttnLRP: x (R - s ΣR); gradient (with respect to the unscaled scores): scale s
      // (R - Σ R s). The sums run over the visible entries: a masked entry is a constant 0,
      // not an output of the map, so its relevance is not redistributed.
      const std::uint8_t* hidden = masked_.empty() ? nullptr : masked_.data() + base;
      if (hidden && std::find(hidden, hidden + D_, std::uint8_t{1}) == hidden + D_) hidden = nullptr;  // none here
      double acc = 0;
      if (hidden) {
        for (std::int64_t d = 0; d < D_; ++d)
          if (!hidden[d]) acc += grad ? static_cast<double>(r[base + d]) * s[base + d] : r[base + d];
      } else {
        for (std::int64_t d = 0; d < D_; ++d) acc += grad ? static_cast<double>(r[base + d]) * s[base + d] : r[base + d];
      }
      for (std::int64_t d = 0; d < D_; ++d) {
        const std::int64_t k = base + d;
        if (hidden && hidden[d]) {
          o[k] = 0.0f;
          continue;
        }
        o[k] = grad ? static_cast<float>(scale * (s[k] * (r[k] - acc))) : static_cast<float>(x[k] * (r[k] - s[k] * acc));
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
  Tensor x_, s_;
  std::vector<std::uint8_t> masked_;  // per element; empty when nothing is masked
  std::int64_t D_;
  double scale_;  // the scores' factor (the gradient is taken with respect to the unscaled scores)
#if RELPROP_HAVE_CUDA
  cuda::SoftmaxMask gpu_mask_;  // GPU nodes: the key mask and causal flag
#endif
};

}  // namespace

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
      auto node = std::make_unique<AttentionSoftmaxNode>(xs, s, std::move(mask), Tk, scale);
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
    if (m == -INFINITY) {  // nothing visible (or every score -inf): an all-zero row
      std::fill(sp + base, sp + base + Tk, 0.0f);
      return;
    }
    // exp(x - max) once per entry through Eigen's vectorised exp (float, ~1 ulp), the sum
    // in double; masked entries 0. Eigen's exp clamps its argument at -88.7 instead of
    // returning 0, so arguments below float's exp range are zeroed explicitly (a score of
    // -1e9 or finfo.min must get probability 0, and so AttnLRP relevance 0).
    // (The exp is taken alone: inside a select() Eigen falls back to scalar expf. Every
    // entry through the packet exp, detail::packet_map: the same bits at any row address.)
    detail::packet_map(xp + base, sp + base, Tk, [m](const auto& x) { return (x - m).exp(); });
    double sum = 0;
    for (std::int64_t k = 0; k < Tk; ++k) {
      if ((!masked.empty() && masked[base + k]) || xp[base + k] - m < -87.3f) sp[base + k] = 0.0f;
      sum += sp[base + k];
    }
    const float inv = sum == 0 ? 0.0f : static_cast<float>(1.0 / sum);
    for (std::int64_t k = 0; k < Tk; ++k) sp[base + k] *= inv;
  });
  if (Tape* tape = detail::recording_tape({&scores, &key_mask})) {
    auto node = std::make_unique<AttentionSoftmaxNode>(x, s, std::move(masked), Tk, scale);
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

}  // namespace

OpSpec op_spec_matmul() {
  return OpSpec{OpKind::Matmul, {}, {}, {}, matmul_infer, matmul_run};
}
OpSpec op_spec_attention_softmax() {
  return OpSpec{OpKind::AttentionSoftmax, {}, {}, {"causal", "scale"},
                attention_softmax_infer, attention_softmax_run};
}
OpSpec op_spec_scaled_dot_product_attention() {
  return OpSpec{OpKind::ScaledDotProductAttention, {}, {},
                {"is_causal", "scale"}, sdpa_infer, sdpa_run};
}

}  // namespace relprop
