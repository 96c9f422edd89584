// linear: shape check, CPU forward, CPU relevance for every rule it supports, its node.
//   x: (M, I) once leading dims are flattened; W: (O, I); b: (O,); z, R: (M, O).

#include "ops/linear.hpp"

#include <cmath>
#include <mutex>

#include "ops/common.hpp"
#include "ops/kernels.hpp"
#include "ops/registry.hpp"

namespace relprop {

using detail::cmat;
using detail::mmat;

Shape linear_shape(const Shape& x, const Shape& w, const Shape* b, std::string_view name) {
  const std::string who = "linear '" + detail::label(name, "linear") + "'";
  if (w.size() != 2) throw ShapeError(who + ": weight must be (out, in), got " + shape_str(w));
  if (x.empty()) throw ShapeError(who + ": input must have at least one dimension");
  if (x.back() != w[1])
    throw ShapeError(who + ": input " + shape_str(x) + " has " + std::to_string(x.back()) +
                     " features, the weight " + shape_str(w) + " expects " + std::to_string(w[1]));
  if (b && (b->size() != 1 || (*b)[0] != w[0]))
    throw ShapeError(who + ": bias must be (" + std::to_string(w[0]) + ",), got " + shape_str(*b));
  Shape y = x;
  y.back() = w[0];
  return y;
}

namespace {

class LinearNode final : public Node {
 public:
  LinearNode(Tensor x, Tensor w, Tensor b, Tensor z) : x_(std::move(x)), w_(std::move(w)), b_(std::move(b)), z_(std::move(z)) {}
  std::string_view op() const override { return "linear"; }
  OpClass op_class() const override { return OpClass::LinearType; }

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_out,
                                const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());  // x, and the constants weight / bias
    if (!ctx.needs(0)) return out;
    const Tensor R = detail::as_f32(R_out, "linear", "relevance");
    const std::int64_t I = w_.size(1), O = w_.size(0), M = x_.numel() / I;
    Tensor r_in = Tensor::empty(x_.shape());
    std::visit(
        [&](const auto& r) {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, ZeroRule> || std::is_same_v<T, EpsilonRule>) {
            epsilon_family(R, r.zero_bias, detail::stab_of(rule), r_in, M, I, O);
          } else if constexpr (std::is_same_v<T, GradientRule>) {
            mmat(r_in, M, I).noalias() = cmat(R, M, O) * cmat(w_, O, I);
          } else if constexpr (std::is_same_v<T, PassRule>) {
            if (I != O) unsupported(rule, "zero, epsilon, gradient, backtrace; pass needs in == out features");
            r_in = R.reshape(x_.shape());
          } else if constexpr (std::is_same_v<T, BacktraceRule>) {
            if (r.mode != BacktraceRule::Mode::Default || r.gate)
              unsupported(rule, "backtrace default mode without gate");
            backtrace_default(R, r_in, M, I, O);
          } else {
            unsupported(rule, "zero, epsilon, gradient, pass, backtrace");
          }
        },
        rule);
    out[0] = r_in;
    return out;
  }

  void release() override {
    x_ = Tensor();
    w_ = Tensor();
    b_ = Tensor();
    z_ = Tensor();
    abs_w_ = Tensor();
  }

 private:
  // Zero / Epsilon through the skeleton: s = R / stab(z), c = s W, R_in = x * c.
  void epsilon_family(const Tensor& R, bool zero_bias, detail::Stab stab, Tensor& r_in,
                      std::int64_t M, std::int64_t I, std::int64_t O) const {
    Tensor z = z_;
    if (zero_bias && b_.defined()) {  // the forward z minus the bias, without a new GEMM
      z = Tensor::empty(z_.shape());
      mmat(z, M, O) = cmat(z_, M, O).rowwise() - detail::crow(b_, O);
    }
    Tensor s = Tensor::empty({M, O});
    detail::stabilized_divide(R.data<float>(), z.data<float>(), s.data<float>(), M * O,
                              z_.dim() > 1 ? z_.numel() / z_.size(0) : z_.numel(), stab);
    auto c = mmat(r_in, M, I);
    c.noalias() = cmat(s, M, O) * cmat(w_, O, I);
    c.array() *= cmat(x_, M, I).array();
  }

  // DLBacktrace default: R_j = |x_j| sum_k |w_jk| R_k / (sum_j |x_j w_jk| + |b_k|).
  void backtrace_default(const Tensor& R, Tensor& r_in, std::int64_t M, std::int64_t I,
                         std::int64_t O) const {
    const Tensor& aw = abs_weight();
    const Tensor ax = Tensor::empty({M, I});
    mmat(ax, M, I) = cmat(x_, M, I).cwiseAbs();
    Tensor den = Tensor::empty({M, O});
    auto d = mmat(den, M, O);
    d.noalias() = cmat(ax, M, I) * cmat(aw, O, I).transpose();
    if (b_.defined()) d.rowwise() += detail::crow(b_, O).cwiseAbs();
    Tensor s = Tensor::empty({M, O});
    detail::stabilized_divide(R.data<float>(), den.data<float>(), s.data<float>(), M * O, M * O,
                              {0.0, Stabilizer::Sign});
    auto c = mmat(r_in, M, I);
    c.noalias() = cmat(s, M, O) * cmat(aw, O, I);
    c.array() *= cmat(ax, M, I).array();
  }

  // |W|, computed once per node and kept until release (never written into the model).
  const Tensor& abs_weight() const {
    std::call_once(abs_once_, [&] {
      abs_w_ = Tensor::empty(w_.shape());
      mmat(abs_w_, w_.size(0), w_.size(1)) = cmat(w_, w_.size(0), w_.size(1)).cwiseAbs();
    });
    return abs_w_;
  }

  Tensor x_, w_, b_, z_;  // x: (..., I), w: (O, I), b: (O,) or undefined, z: (..., O)
  mutable Tensor abs_w_;
  mutable std::once_flag abs_once_;
};

}  // namespace

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, std::string_view name) {
  const Shape bshape = b_in.defined() ? b_in.shape() : Shape{};
  const Shape yshape = linear_shape(x_in.shape(), w_in.shape(), b_in.defined() ? &bshape : nullptr, name);
  const Tensor x = detail::as_f32(x_in, "linear", "input");
  const Tensor w = detail::as_f32(w_in, "linear", "weight");
  const Tensor b = b_in.defined() ? detail::as_f32(b_in, "linear", "bias") : Tensor();
  const std::int64_t I = w.size(1), O = w.size(0), M = x.numel() / std::max<std::int64_t>(I, 1);
  Tensor y = Tensor::empty(yshape);
  auto Y = mmat(y, M, O);
  Y.noalias() = cmat(x, M, I) * cmat(w, O, I).transpose();
  if (b.defined()) Y.rowwise() += detail::crow(b, O);

  if (Tape* tape = detail::recording_tape({&x_in, &w_in, &b_in})) {
    auto node = std::make_unique<LinearNode>(x, w, b, y);
    node->inputs = detail::value_ids(*tape, {&x_in, &w_in, &b_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

// ---- graph format ---------------------------------------------------------------------

namespace {
Shape linear_infer(const OpShapeCall& c) {
  const auto b = c.params.find("bias");
  return linear_shape(c.inputs[0], c.params.at("weight"), b == c.params.end() ? nullptr : &b->second,
                      c.node);
}
Tensor linear_run(const OpCall& c) {
  const auto b = c.params.find("bias");
  return linear(c.inputs[0], c.params.at("weight"), b == c.params.end() ? Tensor() : b->second, c.node);
}
}  // namespace

OpSpec op_spec_linear() {
  return OpSpec{OpKind::Linear, "linear", OpClass::LinearType, 1, 1, {"weight"}, {"bias"}, {},
                linear_infer, linear_run};
}

}  // namespace relprop
