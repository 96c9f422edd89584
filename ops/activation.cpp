// Activations: CPU forward, CPU relevance, nodes, graph ops. Element-wise ones share one
// node whose kernels are f and f'; softmax / log_softmax work along one dimension,
// seen as (outer, D, inner).

#include "relprop/ops/activation.hpp"

#include <cmath>
#include <type_traits>

#include "relprop/ops/activation_fn.hpp"
#include "relprop/ops/common.hpp"
#include "relprop/ops/kernels.hpp"  // Eigen (with erf on packets), GCC 12's spurious warnings silenced
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/activation.hpp"
#endif

namespace relprop {

namespace {

using detail::Act;
using detail::StdMath;

// An element-wise activation: its kind and parameter; f and f' are the shared bodies of
// ops/activation_fn.hpp.
struct ActFn {
  Act kind;
  float a = 0.0f;  // LeakyReLU slope, ELU alpha
};

// Eigen's array functions (packets: a few ulp from the libm calls) for act_f's
// branch-free kinds.
struct EigenMath {
  template <class E>
  static auto exp(const E& e) {
    return e.exp();
  }
  template <class E>
  static auto erf(const E& e) {
    return e.erf();
  }
  template <class E>
  static auto tanh(const E& e) {
    return e.tanh();
  }
};

class ActivationNode final : public Node {
 public:
  ActivationNode(OpKind op, ActFn fn, Tensor x) : Node(op), fn_(fn), x_(std::move(x)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(1);
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R;  // identity: relevance passes through unchanged
    } else if (std::holds_alternative<GradientRule>(rule)) {
      const Tensor r = detail::as_f32(R, op_name(), "relevance");
#if RELPROP_HAVE_CUDA
      if (detail::on_cuda(r) || detail::on_cuda(x_)) {
        out[0] = cuda::activation_gradient(fn_.kind, fn_.a, x_, r);
        return out;
      }
#endif
      Tensor g = Tensor::empty(r.shape());
      const float* rp = r.data<float>();
      const float* xp = x_.data<float>();
      float* gp = g.data<float>();
      const std::int64_t n = r.numel();
      const float a = fn_.a;
      detail::with_act(fn_.kind, [&](auto k) {
        detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
          gp[i] = rp[i] * detail::act_df<decltype(k)::value, StdMath>(xp[i], a);
        });
      });
      out[0] = g;
    } else {
      unsupported(rule);
    }
    return out;
  }
  void release() override { x_ = Tensor(); }

 private:
  ActFn fn_;
  Tensor x_;  // the input: f'(x) for the gradient
};

// The branch-free activations through Eigen's vectorised erf / tanh / exp (float packets,
// a few ulp from the libm calls; every element through them, detail::packet_map), in
// blocks shared by the threads. For Silu and Sigmoid
// 1 / (1 + exp(-x)) as written: Eigen's logistic() returns exp(x) below -9 (1e-4 relative
// off). False for the others, which the scalar loop handles.
bool vectorised(Act kind, const float* xp, float* yp, std::int64_t n) {
  if (!detail::act_branch_free(kind)) return false;
  constexpr std::int64_t kBlock = 4096;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  detail::with_act(kind, [&](auto k) {
    constexpr Act K = decltype(k)::value;
    if constexpr (detail::act_branch_free(K)) {
      detail::parallel_for(blocks, n > detail::kParallelMin, [&](std::int64_t b) {
        const std::int64_t lo = b * kBlock, len = std::min(kBlock, n - lo);
        detail::packet_map(xp + lo, yp + lo, len, [](const auto& x) { return detail::act_f<K, EigenMath>(x, 0.0f); });
      });
    }
  });
  return true;
}

// y = f(x) on the CPU, x contiguous float32.
Tensor activation_cpu(ActFn fn, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const std::int64_t n = x.numel();
  const float a = fn.a;
  if (!vectorised(fn.kind, xp, yp, n)) {
    detail::with_act(fn.kind, [&](auto k) {
      detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
        yp[i] = detail::act_f<decltype(k)::value, StdMath>(xp[i], a);
      });
    });
  }
  return y;
}

Tensor activation(OpKind op, ActFn fn, const Tensor& x_in, std::string_view name) {
  const Tensor x = detail::as_f32(x_in, op_name(op), "input");
#if RELPROP_HAVE_CUDA
  Tensor y = detail::on_cuda(x) ? cuda::activation_forward(fn.kind, fn.a, x) : activation_cpu(fn, x);
#else
  Tensor y = activation_cpu(fn, x);
#endif
  if (Tape* tape = detail::recording_tape({&x_in})) {
    auto node = std::make_unique<ActivationNode>(op, fn, x);
    node->inputs = detail::value_ids(*tape, {&x_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

// ---- softmax along one dimension --------------------------------------------------------

struct Axis {
  std::int64_t outer, D, inner;
};

Axis axis_of(const Tensor& x, int dim, std::string_view op, std::string_view name) {
  if (x.dim() == 0) throw ShapeError(std::string(op) + " '" + detail::label(name, op) + "': needs at least one dimension");
  if (dim < -x.dim() || dim >= x.dim())
    throw IndexError(std::string(op) + " '" + detail::label(name, op) + "': dim " + std::to_string(dim) +
                     " is out of range for shape " + x.str_shape());
  const int d = dim < 0 ? dim + x.dim() : dim;
  Axis a{1, x.size(d), 1};
  for (int i = 0; i < d; ++i) a.outer *= x.size(i);
  for (int i = d + 1; i < x.dim(); ++i) a.inner *= x.size(i);
  return a;
}

class SoftmaxNode final : public Node {
 public:
  SoftmaxNode(OpKind op, Axis a, Tensor s, Tensor x) : Node(op), a_(a), s_(std::move(s)), x_(std::move(x)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_in, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(1);
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R_in;
      return out;
    }
    const bool log = op() == OpKind::LogSoftmax;
    // AttnLRP (softmax only): R_x = x (R - s ΣR).
    const bool attn = !log && (std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule));
    if (!attn && !std::holds_alternative<GradientRule>(rule)) unsupported(rule);
    // softmax: g = s * (R - sum(R s)); log_softmax: g = R - s * sum(R).
    const Tensor R = detail::as_f32(R_in, op_name(), "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(R) || detail::on_cuda(s_)) {
      const cuda::SoftmaxRel mode = attn ? cuda::SoftmaxRel::AttnLRP
                                    : log ? cuda::SoftmaxRel::LogGradient
                                          : cuda::SoftmaxRel::Gradient;
      out[0] = cuda::softmax_relevance(mode, R, s_, attn ? x_ : Tensor(), a_.outer, a_.D, a_.inner);
      return out;
    }
#endif
    Tensor g = Tensor::empty(R.shape());
    const float* r = R.data<float>();
    const float* s = s_.data<float>();
    float* o = g.data<float>();
    const float* x = attn ? x_.data<float>() : nullptr;
    for (std::int64_t i = 0; i < a_.outer; ++i)
      for (std::int64_t j = 0; j < a_.inner; ++j) {
        const std::int64_t base = i * a_.D * a_.inner + j;
        double acc = 0;
        for (std::int64_t d = 0; d < a_.D; ++d) {
          const std::int64_t k = base + d * a_.inner;
          acc += (log || attn) ? r[k] : r[k] * s[k];
        }
        for (std::int64_t d = 0; d < a_.D; ++d) {
          const std::int64_t k = base + d * a_.inner;
          o[k] = attn  ? static_cast<float>(x[k] * (r[k] - s[k] * acc))
                 : log ? static_cast<float>(r[k] - s[k] * acc)
                       : static_cast<float>(s[k] * (r[k] - acc));
        }
      }
    out[0] = g;
    return out;
  }
  void release() override {
    s_ = Tensor();
    x_ = Tensor();
  }

 private:
  Axis a_;
  Tensor s_;  // softmax probabilities (for log_softmax too)
  Tensor x_;  // the input (softmax only: AttnLRP's rule reads it)
};

// Records the softmax node (when x_in is tracked): s the probabilities, x the input
// (softmax only).
void record_softmax(OpKind op, Axis a, const Tensor& s, const Tensor& x, const Tensor& x_in, Tensor& y,
                    std::string_view name) {
  if (Tape* tape = detail::recording_tape({&x_in})) {
    auto node = std::make_unique<SoftmaxNode>(op, a, s, x);
    node->inputs = detail::value_ids(*tape, {&x_in});
    tape->record(std::move(node), y, name);
  }
}

Tensor softmax_impl(OpKind op, const Tensor& x_in, int dim, std::string_view name) {
  const Tensor x = detail::as_f32(x_in, op_name(op), "input");
  const Axis a = axis_of(x, dim, op_name(op), name);
  const bool log = op == OpKind::LogSoftmax;
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {
    auto [y, s] = cuda::softmax_forward(x, a.outer, a.D, a.inner, log);
    record_softmax(op, a, s, log ? Tensor() : x, x_in, y, name);
    return y;
  }
#endif
  Tensor y = Tensor::empty(x.shape()), s = log ? Tensor::empty(x.shape()) : y;
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  float* sp = s.data<float>();
  detail::parallel_for2(a.outer, a.inner, x.numel() > detail::kParallelMin, [&](std::int64_t i, std::int64_t j) {
      const std::int64_t base = i * a.D * a.inner + j;
      float m = -INFINITY;
      for (std::int64_t d = 0; d < a.D; ++d) m = std::max(m, xp[base + d * a.inner]);
      double sum = 0;
      for (std::int64_t d = 0; d < a.D; ++d) sum += std::exp(static_cast<double>(xp[base + d * a.inner] - m));
      const double lse = std::log(sum);
      for (std::int64_t d = 0; d < a.D; ++d) {
        const std::int64_t k = base + d * a.inner;
        const double logp = static_cast<double>(xp[k] - m) - lse;
        sp[k] = static_cast<float>(std::exp(logp));
        if (log) yp[k] = static_cast<float>(logp);
      }
    });
  record_softmax(op, a, s, log ? Tensor() : x, x_in, y, name);
  return y;
}

}  // namespace

Tensor relu(const Tensor& x, std::string_view name) { return activation(OpKind::Relu, {Act::Relu}, x, name); }
Tensor leaky_relu(const Tensor& x, double slope, std::string_view name) {
  return activation(OpKind::LeakyRelu, {Act::LeakyRelu, static_cast<float>(slope)}, x, name);
}
Tensor relu6(const Tensor& x, std::string_view name) { return activation(OpKind::Relu6, {Act::Relu6}, x, name); }
Tensor elu(const Tensor& x, double alpha, std::string_view name) {
  return activation(OpKind::Elu, {Act::Elu, static_cast<float>(alpha)}, x, name);
}
Tensor gelu(const Tensor& x, std::string_view approximate, std::string_view name) {
  if (approximate != "none" && approximate != "tanh")
    throw ValueError("gelu '" + detail::label(name, "gelu") + "': approximate must be \"none\" or \"tanh\", got \"" +
                     std::string(approximate) + "\"");
  return activation(OpKind::Gelu, {approximate == "tanh" ? Act::GeluTanh : Act::Gelu}, x, name);
}
Tensor silu(const Tensor& x, std::string_view name) { return activation(OpKind::Silu, {Act::Silu}, x, name); }
Tensor sigmoid(const Tensor& x, std::string_view name) { return activation(OpKind::Sigmoid, {Act::Sigmoid}, x, name); }
Tensor tanh(const Tensor& x, std::string_view name) { return activation(OpKind::Tanh, {Act::Tanh}, x, name); }
Tensor hardswish(const Tensor& x, std::string_view name) {
  return activation(OpKind::Hardswish, {Act::Hardswish}, x, name);
}
Tensor softmax(const Tensor& x, int dim, std::string_view name) { return softmax_impl(OpKind::Softmax, x, dim, name); }
Tensor log_softmax(const Tensor& x, int dim, std::string_view name) {
  return softmax_impl(OpKind::LogSoftmax, x, dim, name);
}

// ---- graph format -----------------------------------------------------------------------

namespace {

Shape same_infer(const OpShapeCall& c) { return c.inputs[0]; }
std::string str_attr(const OpCall& c, const std::string& key, const std::string& dflt) {
  auto it = c.attrs.values().find(key);
  if (it == c.attrs.values().end()) return dflt;
  if (auto* s = std::get_if<std::string>(&it->second)) return *s;
  throw ValueError("node '" + std::string(c.node) + "': attribute '" + key + "' must be a string");
}
int dim_attr(const Attrs& a, std::string_view node) {
  if (!a.has("dim")) throw ValueError("node '" + std::string(node) + "': attribute 'dim' is required");
  return static_cast<int>(a.get_int(node, "dim", -1));
}
Shape softmax_infer(const OpShapeCall& c) {
  const int d = dim_attr(c.attrs, c.node), r = static_cast<int>(c.inputs[0].size());
  if (d < -r || d >= r) throw IndexError("node '" + std::string(c.node) + "': dim " + std::to_string(d) + " is out of range");
  return c.inputs[0];
}

}  // namespace

#define RELPROP_ACT_SPEC(fn, kind, attrs, call)                                                        \
  OpSpec op_spec_##fn() {                                                                              \
    return OpSpec{OpKind::kind, {}, {}, attrs, same_infer,                                          \
                  [](const OpCall& c) -> Tensor { return call; }};                                     \
  }

RELPROP_ACT_SPEC(relu, Relu, {"inplace"}, relu(c.inputs[0], c.node))
RELPROP_ACT_SPEC(leaky_relu, LeakyRelu, (std::vector<std::string_view>{"negative_slope", "inplace"}),
                 leaky_relu(c.inputs[0], c.attrs.get_float(c.node, "negative_slope", 0.01), c.node))
RELPROP_ACT_SPEC(relu6, Relu6, {"inplace"}, relu6(c.inputs[0], c.node))
RELPROP_ACT_SPEC(elu, Elu, (std::vector<std::string_view>{"alpha", "inplace"}),
                 elu(c.inputs[0], c.attrs.get_float(c.node, "alpha", 1.0), c.node))
RELPROP_ACT_SPEC(gelu, Gelu, {"approximate"}, gelu(c.inputs[0], str_attr(c, "approximate", "none"), c.node))
RELPROP_ACT_SPEC(silu, Silu, {"inplace"}, silu(c.inputs[0], c.node))
RELPROP_ACT_SPEC(sigmoid, Sigmoid, {}, sigmoid(c.inputs[0], c.node))
RELPROP_ACT_SPEC(tanh, Tanh, {}, relprop::tanh(c.inputs[0], c.node))
RELPROP_ACT_SPEC(hardswish, Hardswish, {"inplace"}, hardswish(c.inputs[0], c.node))
#undef RELPROP_ACT_SPEC

OpSpec op_spec_softmax() {
  return OpSpec{OpKind::Softmax, {}, {}, {"dim"}, softmax_infer,
                [](const OpCall& c) { return softmax(c.inputs[0], dim_attr(c.attrs, c.node), c.node); }};
}
OpSpec op_spec_log_softmax() {
  return OpSpec{OpKind::LogSoftmax, {}, {}, {"dim"}, softmax_infer,
                [](const OpCall& c) { return log_softmax(c.inputs[0], dim_attr(c.attrs, c.node), c.node); }};
}

}  // namespace relprop
