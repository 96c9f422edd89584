// Element-wise binary ops: shape check, CPU forward, CPU relevance, nodes.
// a, b: broadcastable to y; R: shape of y; everything below is computed at y's shape
// and summed back to each input's shape.

#include "ops/elementwise.hpp"

#include <cmath>

#include "ops/common.hpp"
#include "ops/registry.hpp"

namespace relprop {

namespace {

class AddNode final : public Node {
 public:
  AddNode(Tensor a, Tensor b) : a_(std::move(a)), b_(std::move(b)) {}
  std::string_view op() const override { return "add"; }
  OpClass op_class() const override { return OpClass::Elementwise; }

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_out,
                                const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(2);
    const Tensor R = detail::as_f32(R_out, "add", "relevance");
    const Shape& ys = R.shape();
    const std::int64_t n = R.numel();
    const float* r = R.data<float>();
    if (std::holds_alternative<GradientRule>(rule)) {
      for (int k = 0; k < 2; ++k)
        if (ctx.needs(k)) out[k] = detail::reduce_to_shape(R, (k ? b_ : a_).shape());
      return out;
    }
    const bool norm = std::holds_alternative<NormRule>(rule) ||
                      std::holds_alternative<EpsilonRule>(rule) || std::holds_alternative<ZeroRule>(rule);
    const auto* bt = std::get_if<BacktraceRule>(&rule);
    if (!norm && !bt) unsupported(rule, "norm, epsilon, zero, backtrace, gradient");

    const Tensor a = detail::broadcast_f32(a_, ys), b = detail::broadcast_f32(b_, ys);
    const float* ap = a.data<float>();
    const float* bp = b.data<float>();
    Tensor ra = Tensor::empty(ys), rb = Tensor::empty(ys);
    float* rap = ra.data<float>();
    float* rbp = rb.data<float>();
    if (norm) {
      // Norm: s = R / stab(a + b); R_a = a s, R_b = b s. The forward sum is recomputed here
      // in the same float order, so y is not saved.
      Tensor y = Tensor::empty(ys), s = Tensor::empty(ys);
      float* yp = y.data<float>();
      for (std::int64_t i = 0; i < n; ++i) yp[i] = ap[i] + bp[i];
      detail::stabilized_divide(r, yp, s.data<float>(), n, ys.empty() || ys[0] == 0 ? n : n / ys[0],
                                detail::stab_of(rule));
      const float* sp = s.data<float>();
      for (std::int64_t i = 0; i < n; ++i) {
        rap[i] = ap[i] * sp[i];
        rbp[i] = bp[i] * sp[i];
      }
    } else {
      // Backtrace: split by |a| : |b| (equally when both are 0, or with equal_split).
      for (std::int64_t i = 0; i < n; ++i) {
        const float wa = std::fabs(ap[i]), wb = std::fabs(bp[i]), den = wa + wb;
        const float fa = (bt->equal_split || den == 0.0f) ? 0.5f : wa / den;
        rap[i] = r[i] * fa;
        rbp[i] = r[i] - rap[i];
      }
    }
    if (ctx.needs(0)) out[0] = detail::reduce_to_shape(ra, a_.shape());
    if (ctx.needs(1)) out[1] = detail::reduce_to_shape(rb, b_.shape());
    return out;
  }

  void release() override {
    a_ = Tensor();
    b_ = Tensor();
  }

 private:
  Tensor a_, b_;  // the operands as given (broadcastable to y)
};

}  // namespace

Tensor add(const Tensor& a_in, const Tensor& b_in, std::string_view name) {
  const Tensor a = detail::as_f32(a_in, "add", "a"), b = detail::as_f32(b_in, "add", "b");
  const Shape ys = broadcast_shapes(a.shape(), b.shape());
  Tensor y = Tensor::empty(ys);
  const std::int64_t n = y.numel();
  float* yp = y.data<float>();
  if (a.shape() == ys && b.shape() == ys) {
    const float* ap = a.data<float>();
    const float* bp = b.data<float>();
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) yp[i] = ap[i] + bp[i];
  } else {
    const Tensor ab = detail::broadcast_f32(a, ys), bb = detail::broadcast_f32(b, ys);
    const float* ap = ab.data<float>();
    const float* bp = bb.data<float>();
    for (std::int64_t i = 0; i < n; ++i) yp[i] = ap[i] + bp[i];
  }
  if (Tape* tape = detail::recording_tape({&a_in, &b_in})) {
    auto node = std::make_unique<AddNode>(a, b);
    node->inputs = detail::value_ids(*tape, {&a_in, &b_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

namespace {
Shape add_infer(const OpShapeCall& c) {
  try {
    return broadcast_shapes(c.inputs[0], c.inputs[1]);
  } catch (const ShapeError& e) {
    throw ShapeError("add '" + std::string(c.node) + "': " + e.what());
  }
}
Tensor add_run(const OpCall& c) { return add(c.inputs[0], c.inputs[1], c.node); }
}  // namespace

OpSpec op_spec_add() {
  return OpSpec{OpKind::Add, "add", OpClass::Elementwise, 2, 2, {}, {}, {}, add_infer, add_run};
}

}  // namespace relprop
