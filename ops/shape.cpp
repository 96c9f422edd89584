// Shape ops: the forward is a view (or a copy when no view exists); relevance is reshaped
// back to the input's shape under every rule.

#include "ops/shape.hpp"

#include "ops/common.hpp"
#include "ops/registry.hpp"

namespace relprop {

namespace {

class ReshapeNode final : public Node {
 public:
  ReshapeNode(std::string_view op, Shape in_shape) : op_(op), in_shape_(std::move(in_shape)) {}
  std::string_view op() const override { return op_; }
  OpClass op_class() const override { return OpClass::Shape; }
  std::vector<Tensor> relevance(const Rule&, const Tensor& R, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(1);
    if (ctx.needs(0)) out[0] = R.reshape(in_shape_);
    return out;
  }
  void release() override {}

 private:
  std::string_view op_;
  Shape in_shape_;  // all it needs: no tensor is saved
};

Tensor record_reshape(std::string_view op, const Tensor& x, Tensor y, std::string_view name) {
  if (Tape* tape = detail::recording_tape({&x})) {
    auto node = std::make_unique<ReshapeNode>(op, x.shape());
    node->inputs = detail::value_ids(*tape, {&x});
    tape->record(std::move(node), y, name);
  }
  return y;
}

Shape flatten_shape(const Shape& x, std::int64_t start, std::int64_t end, std::string_view name) {
  const auto r = static_cast<std::int64_t>(x.size());
  const std::string who = "flatten '" + detail::label(name, "flatten") + "'";
  if (r == 0) return {1};
  if (start < 0) start += r;
  if (end < 0) end += r;
  if (start < 0 || start >= r || end < 0 || end >= r || start > end)
    throw ShapeError(who + ": start_dim / end_dim out of range for shape " + shape_str(x));
  Shape y(x.begin(), x.begin() + start);
  std::int64_t m = 1;
  for (std::int64_t i = start; i <= end; ++i) m *= x[i];
  y.push_back(m);
  y.insert(y.end(), x.begin() + end + 1, x.end());
  return y;
}

}  // namespace

Tensor flatten(const Tensor& x, int start_dim, int end_dim, std::string_view name) {
  return record_reshape("flatten", x, x.reshape(flatten_shape(x.shape(), start_dim, end_dim, name)), name);
}

Tensor identity(const Tensor& x, std::string_view name, std::string_view op) {
  return record_reshape(op, x, x.view(x.shape()), name);
}

Tensor reshape(const Tensor& x, const Shape& shape, std::string_view name) {
  Tensor y;
  try {
    y = x.reshape(shape);
  } catch (const ShapeError& e) {
    throw ShapeError("reshape '" + detail::label(name, "reshape") + "': " + e.what());
  }
  return record_reshape("reshape", x, y, name);
}

namespace {
// nn.Flatten's defaults (start_dim 1), the layer models use.
Shape flatten_infer(const OpShapeCall& c) {
  return flatten_shape(c.inputs[0], c.attrs.get_int(c.node, "start_dim", 1), c.attrs.get_int(c.node, "end_dim", -1),
                       c.node);
}
Tensor flatten_run(const OpCall& c) {
  return flatten(c.inputs[0], static_cast<int>(c.attrs.get_int(c.node, "start_dim", 1)),
                 static_cast<int>(c.attrs.get_int(c.node, "end_dim", -1)), c.node);
}
Shape shape_attr(const Attrs& a, std::string_view node) {
  if (!a.has("shape")) throw ValueError("node '" + std::string(node) + "': attribute 'shape' is required");
  return a.get_ints(node, "shape", {});
}
Shape reshape_infer(const OpShapeCall& c) {
  // Checked on a zero-size-free stand-in: only the element count matters.
  const std::int64_t n = shape_numel(c.inputs[0]);
  Shape s = shape_attr(c.attrs, c.node);
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1 && infer < 0) infer = static_cast<int>(i);
    else if (s[i] < 0) throw ShapeError("reshape '" + std::string(c.node) + "': invalid shape " + shape_str(s));
    else known *= s[i];
  }
  if (infer >= 0 && known > 0 && n % known == 0) s[infer] = n / known;
  if (shape_numel(s) != n)
    throw ShapeError("reshape '" + std::string(c.node) + "': cannot reshape " + shape_str(c.inputs[0]) + " into " +
                     shape_str(shape_attr(c.attrs, c.node)));
  return s;
}
Tensor reshape_run(const OpCall& c) { return reshape(c.inputs[0], shape_attr(c.attrs, c.node), c.node); }
}  // namespace

OpSpec op_spec_flatten() {
  return OpSpec{OpKind::Flatten, "flatten", OpClass::Shape, 1, 1, {}, {}, {"start_dim", "end_dim"}, flatten_infer,
                flatten_run};
}
namespace {
Shape same_infer(const OpShapeCall& c) { return c.inputs[0]; }
Tensor identity_run(const OpCall& c) { return identity(c.inputs[0], c.node, "identity"); }
Tensor dropout_run(const OpCall& c) { return identity(c.inputs[0], c.node, "dropout"); }
}  // namespace

OpSpec op_spec_identity() {
  return OpSpec{OpKind::Identity, "identity", OpClass::Shape, 1, 1, {}, {}, {}, same_infer, identity_run};
}
// Inference: dropout does nothing; its training attributes are accepted and ignored.
OpSpec op_spec_dropout() {
  return OpSpec{OpKind::Dropout, "dropout", OpClass::Shape, 1, 1, {}, {}, {"p", "inplace"}, same_infer, dropout_run};
}

OpSpec op_spec_reshape() {
  return OpSpec{OpKind::Reshape, "reshape", OpClass::Shape, 1, 1, {}, {}, {"shape"}, reshape_infer, reshape_run};
}

}  // namespace relprop
