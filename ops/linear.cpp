// linear: shape check, CPU forward, CPU relevance for every rule it supports, its node.
//   x: (M, I) once leading dims are flattened; W: (O, I); b: (O,); z, R: (M, O).

#include "relprop/ops/linear.hpp"

#include <cmath>

#include "relprop/ops/common.hpp"
#include "relprop/ops/kernels.hpp"
#include "relprop/ops/linear_type.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/linear.hpp"
#endif

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

// The two linear maps of linear, for the shared LRP skeleton (ops/linear_type.hpp), on
// the device x lives on (GPU tensors: cuBLAS, cuda/linear.hpp).
//   forward:   (M, I) x (O, I)^T -> (M, O)
//   transpose: (M, O) x (O, I)   -> (M, I)
// The output count is read from the weight, so stacked weights (2O, I) work too.
detail::LinearMaps linear_maps(const Shape& x_shape, bool on_gpu) {
  const Device dev = on_gpu ? Device::CUDA : Device::CPU;
  // c (M, N) = a (M, K) b^T with b (N, K) when `bt`, else a b with b (K, N).
  const auto product = [on_gpu](std::int64_t M, std::int64_t N, std::int64_t K, const Tensor& a, const Tensor& b,
                                bool bt, const Tensor& c) {
#if RELPROP_HAVE_CUDA
    if (on_gpu) return cuda::matmul(M, N, K, a, b, bt, c);
#else
    (void)on_gpu;
#endif
    if (bt) detail::gemm(mmat(c, M, N), cmat(a, M, K), cmat(b, N, K).transpose());
    else detail::gemm(mmat(c, M, N), cmat(a, M, K), cmat(b, K, N));
  };
  // The row count is read from the operand, so a node's maps serve any slice of its batch.
  detail::LinearMaps m;
  m.forward = [dev, product](const Tensor& x, const Tensor& w) {
    const std::int64_t I = w.size(1), Ow = w.size(0), M = I > 0 ? x.numel() / I : 0;
    Shape zs = x.shape();
    zs.back() = Ow;
    Tensor z = Tensor::empty(zs, DType::F32, dev);
    product(M, Ow, I, x, w, true, z);
    return z;
  };
  m.transpose = [dev, product](const Tensor& s, const Tensor& w) {
    const std::int64_t I = w.size(1), Ow = w.size(0), M = Ow > 0 ? s.numel() / Ow : 0;
    Shape xs = s.shape();
    xs.back() = I;
    Tensor c = Tensor::empty(xs, DType::F32, dev);
    product(M, I, Ow, s, w, false, c);
    return c;
  };
  m.channel_dim = static_cast<int>(x_shape.size()) - 1;  // features
  m.out_dim = static_cast<int>(x_shape.size()) - 1;
  m.stackable = true;
  return m;
}

class LinearNode final : public Node {
 public:
  LinearNode(Tensor x, Tensor w, Tensor b, Tensor z)
      : Node(OpKind::Linear), x_(std::move(x)), w_(std::move(w)), b_(std::move(b)), z_(std::move(z)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_out,
                                const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());  // x, and the constants weight / bias
    if (!ctx.needs(0)) return out;
    const Tensor R = detail::as_f32(R_out, "linear", "relevance");
    if (std::holds_alternative<PassRule>(rule)) {
      if (w_.size(0) != w_.size(1)) unsupported(rule, "pass needs in == out features");
      out[0] = R.reshape(x_.shape());
      return out;
    }
    auto r = detail::linear_type_relevance(rule, maps(), x_, w_, b_, z_, R, cache_, ctx);
    if (!r) unsupported(rule);
    out[0] = std::move(*r);
    return out;
  }

  RelevancePair relevance_contrastive(const Rule& rule, const Tensor& Rp, const Tensor& Rn,
                                      const RelevanceContext& ctx) const override {
    if (!ctx.needs(0)) return Node::relevance_contrastive(rule, Rp, Rn, ctx);
    auto r = detail::linear_type_contrastive(rule, maps(), x_, w_, b_, z_, detail::as_f32(Rp, "linear", "relevance"),
                                             detail::as_f32(Rn, "linear", "relevance"), cache_);
    if (!r) return Node::relevance_contrastive(rule, Rp, Rn, ctx);
    RelevancePair out{std::vector<Tensor>(inputs.size()), std::vector<Tensor>(inputs.size())};
    out.positive[0] = std::move(r->first);
    out.negative[0] = std::move(r->second);
    return out;
  }

  void release() override {
    x_ = Tensor();
    w_ = Tensor();
    b_ = Tensor();
    z_ = Tensor();
    cache_.clear();
  }

 private:
  // The skeleton's maps, on the device x lives on.
  detail::LinearMaps maps() const { return linear_maps(x_.shape(), detail::on_cuda(x_)); }

  Tensor x_, w_, b_, z_;  // x: (..., I), w: (O, I), b: (O,) or undefined, z: (..., O)
  mutable detail::WeightCache cache_;
};

}  // namespace

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, std::string_view name) {
  const Shape bshape = b_in.defined() ? b_in.shape() : Shape{};
  const Shape yshape = linear_shape(x_in.shape(), w_in.shape(), b_in.defined() ? &bshape : nullptr, name);
  detail::same_device("linear '" + detail::label(name, "linear") + "'",
                      {{&x_in, "input"}, {&w_in, "weight"}, {&b_in, "bias"}});
  const Tensor x = detail::as_f32(x_in, "linear", "input");
  const Tensor w = detail::as_f32(w_in, "linear", "weight");
  const Tensor b = b_in.defined() ? detail::as_f32(b_in, "linear", "bias") : Tensor();
  Tensor y;
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) y = cuda::linear_forward(x, w, b, yshape);  // cuBLAS, bias fused
#endif
  if (!y.defined()) {
    const std::int64_t I = w.size(1), O = w.size(0), M = x.numel() / std::max<std::int64_t>(I, 1);
    y = Tensor::empty(yshape);
    auto Y = mmat(y, M, O);
    detail::gemm(Y, cmat(x, M, I), cmat(w, O, I).transpose());
    if (b.defined()) {
      const float* bp = b.data<float>();
      float* yp = y.data<float>();
      detail::parallel_for(M, M * O > detail::kParallelMin, [&](std::int64_t r) {
        for (std::int64_t o = 0; o < O; ++o) yp[r * O + o] += bp[o];
      });
    }
  }

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
  return OpSpec{OpKind::Linear, {"weight"}, {"bias"}, {"weight_layout"},
                linear_infer, linear_run};
}

}  // namespace relprop
