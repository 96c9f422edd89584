// Activations: shape check, CPU forward, CPU relevance, nodes. x, y, R: (n,) flattened.

#include "ops/activation.hpp"

#include "ops/common.hpp"
#include "ops/registry.hpp"

namespace relprop {

namespace {

class ReluNode final : public Node {
 public:
  explicit ReluNode(Tensor y) : y_(std::move(y)) {}
  std::string_view op() const override { return "relu"; }
  OpClass op_class() const override { return OpClass::Activation; }

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R,
                                const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(1);
    if (!ctx.needs(0)) return out;
    if (std::holds_alternative<PassRule>(rule) || std::holds_alternative<BacktraceRule>(rule)) {
      out[0] = R;  // identity: relevance passes through unchanged
    } else if (std::holds_alternative<GradientRule>(rule)) {
      const Tensor r = detail::as_f32(R, "relu", "relevance");
      Tensor g = Tensor::empty(r.shape());
      const float* rp = r.data<float>();
      const float* yp = y_.data<float>();
      float* gp = g.data<float>();
      const std::int64_t n = r.numel();
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) gp[i] = yp[i] > 0.0f ? rp[i] : 0.0f;
      out[0] = g;
    } else {
      unsupported(rule, "pass, backtrace, gradient");
    }
    return out;
  }
  void release() override { y_ = Tensor(); }

 private:
  Tensor y_;  // the output: y > 0 exactly where x > 0, the gradient's mask
};

}  // namespace

Tensor relu(const Tensor& x_in, std::string_view name) {
  const Tensor x = detail::as_f32(x_in, "relu", "input");
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const std::int64_t n = x.numel();
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.0f ? xp[i] : 0.0f;
  if (Tape* tape = detail::recording_tape({&x_in})) {
    auto node = std::make_unique<ReluNode>(y);
    node->inputs = detail::value_ids(*tape, {&x_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

namespace {
Shape relu_infer(const OpShapeCall& c) { return c.inputs[0]; }
Tensor relu_run(const OpCall& c) { return relu(c.inputs[0], c.node); }
}  // namespace

OpSpec op_spec_relu() {
  return OpSpec{OpKind::Relu, "relu", OpClass::Activation, 1, 1, {}, {}, {"inplace"}, relu_infer, relu_run};
}

}  // namespace relprop
