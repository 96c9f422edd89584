// Element-wise binary ops: shape check, CPU forward, CPU relevance, nodes.
// a, b: broadcastable to y; R: shape of y; everything below is computed at y's shape
// and summed back to each input's shape.

#include "relprop/ops/elementwise.hpp"

#include <cmath>

#include "relprop/ops/common.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/elementwise.hpp"
#endif

namespace relprop {

namespace {

enum class Bin { Add, Sub, Mul };

constexpr OpKind kind_of(Bin k) { return k == Bin::Add ? OpKind::Add : k == Bin::Sub ? OpKind::Sub : OpKind::Mul; }

#if RELPROP_HAVE_CUDA
cuda::BinKind cuda_kind(Bin k) {
  switch (k) {
    case Bin::Add: return cuda::BinKind::Add;
    case Bin::Sub: return cuda::BinKind::Sub;
    case Bin::Mul: return cuda::BinKind::Mul;
  }
  return cuda::BinKind::Add;
}
#endif

class BinaryNode final : public Node {
 public:
  BinaryNode(Bin kind, Tensor a, Tensor b) : Node(kind_of(kind)), kind_(kind), a_(std::move(a)), b_(std::move(b)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_out, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(2);
    const Tensor R = detail::as_f32(R_out, op_name(), "relevance");
    const detail::BinarySplit split = split_for(rule, ctx);
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(R) || detail::on_cuda(a_)) {
      auto [ra, rb] = cuda::binary_relevance(cuda_kind(kind_), split, R, a_, b_, ctx.needs(0), ctx.needs(1));
      return {ra, rb};
    }
#endif
    const Shape& ys = R.shape();
    const std::int64_t n = R.numel();
    const float* r = R.data<float>();
    const Tensor a = detail::broadcast_f32(a_, ys), b = detail::broadcast_f32(b_, ys);
    const float* ap = a.data<float>();
    // Sub is add of a and -b: the second operand enters with this sign.
    const float sign_b = kind_ == Bin::Sub ? -1.0f : 1.0f;
    Tensor ra = Tensor::empty(ys), rb = Tensor::empty(ys);
    float* rap = ra.data<float>();
    float* rbp = rb.data<float>();
    const float* bp = b.data<float>();
    using Kind = detail::BinarySplit::Kind;
    switch (split.kind) {
      case Kind::Gradient:
        detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
          rap[i] = kind_ == Bin::Mul ? r[i] * bp[i] : r[i];
          rbp[i] = kind_ == Bin::Mul ? r[i] * ap[i] : sign_b * r[i];
        });
        break;
      case Kind::Fixed: {
        const float fa = split.fa;
        const bool rest = split.rest_to_b;
        detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
          rap[i] = fa * r[i];
          rbp[i] = rest ? r[i] - rap[i] : 0.0f;
        });
        break;
      }
      case Kind::Norm:
        if (split.stab.kind != Stabilizer::Scaled) {
          // s = R / stab(a + b'); R_a = a s, R_b = b' s with b' = +-b. The forward sum is
          // recomputed in the same float order, so y is not saved. One pass in pieces that
          // stay in L1 (y, then s, on the stack) instead of three over whole tensors; the
          // values are those of the three passes below.
          constexpr std::int64_t kPiece = 2048;
          const detail::Stab stab = split.stab;
          detail::parallel_for((n + kPiece - 1) / kPiece, n > detail::kParallelMin, [&](std::int64_t piece) {
            const std::int64_t lo = piece * kPiece, len = std::min(kPiece, n - lo);
            alignas(32) float s[kPiece];  // y, then s = R / stab(y) in place
            for (std::int64_t i = 0; i < len; ++i) s[i] = ap[lo + i] + sign_b * bp[lo + i];
            detail::stabilized_divide_piece_in_place(r + lo, s, len, stab);
            for (std::int64_t i = 0; i < len; ++i) {
              rap[lo + i] = ap[lo + i] * s[i];
              rbp[lo + i] = sign_b * bp[lo + i] * s[i];
            }
          });
        } else {
          // The Scaled stabiliser: the epsilon scale is a norm over each sample, so the
          // divisions wait for the whole sum.
          Tensor y = Tensor::empty(ys), s = Tensor::empty(ys);
          float* yp = y.data<float>();
          detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) { yp[i] = ap[i] + sign_b * bp[i]; });
          detail::stabilized_divide(r, yp, s.data<float>(), n, ys.empty() || ys[0] == 0 ? n : n / ys[0], split.stab);
          const float* sp = s.data<float>();
          detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
            rap[i] = ap[i] * sp[i];
            rbp[i] = sign_b * bp[i] * sp[i];
          });
        }
        break;
      case Kind::Backtrace:
        // Split by |a| : |b| (equally when both are 0, or with equal_split).
        detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
          const float wa = std::fabs(ap[i]), wb = std::fabs(bp[i]), den = wa + wb;
          const float fa = (split.equal_split || den == 0.0f) ? 0.5f : wa / den;
          rap[i] = r[i] * fa;
          rbp[i] = r[i] - rap[i];
        });
        break;
    }
    if (ctx.needs(0)) out[0] = detail::reduce_to_shape(ra, a_.shape());
    if (ctx.needs(1)) out[1] = detail::reduce_to_shape(rb, b_.shape());
    return out;
  }

  // Backtrace contrastive on a sum: the summands are the contributions (weights 1, no
  // bias), split as at a linear node. Products move each map on its own (50/50).
  RelevancePair relevance_contrastive(const Rule& rule, const Tensor& Rp_out, const Tensor& Rn_out,
                                      const RelevanceContext& ctx) const override {
    const auto* bt = std::get_if<BacktraceRule>(&rule);
    if (!bt || bt->mode != BacktraceRule::Mode::Contrastive || kind_ == Bin::Mul)
      return Node::relevance_contrastive(rule, Rp_out, Rn_out, ctx);
    const Tensor Rp = detail::as_f32(Rp_out, op_name(), "relevance"), Rn = detail::as_f32(Rn_out, op_name(), "relevance");
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(Rp) || detail::on_cuda(a_)) {
      const cuda::BinaryContrastive c =
          cuda::binary_contrastive(cuda_kind(kind_), Rp, Rn, a_, b_, ctx.needs(0), ctx.needs(1));
      return RelevancePair{{c.pos_a, c.pos_b}, {c.neg_a, c.neg_b}};
    }
#endif
    const Shape& ys = Rp.shape();
    const std::int64_t n = Rp.numel();
    const Tensor a = detail::broadcast_f32(a_, ys), b = detail::broadcast_f32(b_, ys);
    const float *ap = a.data<float>(), *bp = b.data<float>(), *rp = Rp.data<float>(), *rn = Rn.data<float>();
    const float sign_b = kind_ == Bin::Sub ? -1.0f : 1.0f;
    Tensor pa = Tensor::empty(ys), pb = Tensor::empty(ys), na = Tensor::empty(ys), nb = Tensor::empty(ys);
    float *pap = pa.data<float>(), *pbp = pb.data<float>(), *nap = na.data<float>(), *nbp = nb.data<float>();
    detail::parallel_for(n, n > detail::kParallelMin, [&](std::int64_t i) {
      const float ca = ap[i], cb = sign_b * bp[i];
      const float P = (ca > 0.0f ? ca : 0.0f) + (cb > 0.0f ? cb : 0.0f);
      const float N = (ca < 0.0f ? -ca : 0.0f) + (cb < 0.0f ? -cb : 0.0f);
      const detail::ContrastiveShares s = detail::contrastive_shares(P, N, ca + cb, rp[i], rn[i]);
      auto share = [&](float c, float* pos, float* negm) {
        if (c > 0.0f) {
          *pos = c * s.pos_p;
          *negm = c * s.neg_p;
        } else if (c < 0.0f) {
          *pos = -c * s.pos_n;
          *negm = -c * s.neg_n;
        } else {
          *pos = *negm = 0.0f;
        }
      };
      share(ca, pap + i, nap + i);
      share(cb, pbp + i, nbp + i);
    });
    RelevancePair out{std::vector<Tensor>(2), std::vector<Tensor>(2)};
    if (ctx.needs(0)) {
      out.positive[0] = detail::reduce_to_shape(pa, a_.shape());
      out.negative[0] = detail::reduce_to_shape(na, a_.shape());
    }
    if (ctx.needs(1)) {
      out.positive[1] = detail::reduce_to_shape(pb, b_.shape());
      out.negative[1] = detail::reduce_to_shape(nb, b_.shape());
    }
    return out;
  }

  void release() override { a_ = b_ = Tensor(); }

 private:
  // How R splits between a and b under `rule`, the same on both devices. Products: two
  // computed factors share equally, one computed factor takes all; under constant:I
  // factor I is held constant and takes nothing, so the other computed factor takes all
  // (and nothing passes when the other is a constant too: the relevance is absorbed).
  detail::BinarySplit split_for(const Rule& rule, const RelevanceContext& ctx) const {
    using Kind = detail::BinarySplit::Kind;
    detail::BinarySplit split;
    const auto* bt = std::get_if<BacktraceRule>(&rule);
    const bool norm = std::holds_alternative<NormRule>(rule) || std::holds_alternative<EpsilonRule>(rule) ||
                      std::holds_alternative<ZeroRule>(rule);
    if (std::holds_alternative<GradientRule>(rule)) {
      split.kind = Kind::Gradient;
    } else if (kind_ == Bin::Mul) {
      const auto* held = std::get_if<ConstantRule>(&rule);
      if (!norm && !bt && !held && !std::holds_alternative<PassRule>(rule)) unsupported(rule);
      const bool a = ctx.needs(0) && !(held && held->input == 0), b = ctx.needs(1) && !(held && held->input == 1);
      split.kind = Kind::Fixed;
      split.fa = a ? (b ? 0.5f : 1.0f) : 0.0f;
      split.rest_to_b = !(held && held->input == 1);
    } else if (norm) {
      split.kind = Kind::Norm;
      split.stab = detail::stab_of(rule);
    } else if (bt) {
      split.kind = Kind::Backtrace;
      split.equal_split = bt->equal_split;
    } else {
      unsupported(rule);
    }
    return split;
  }


  Bin kind_;
  Tensor a_, b_;  // the operands as given (broadcastable to y)
};

// Records the node (when a_in or b_in is tracked), saving the float32 operands a, b.
void record_binary(Bin kind, const Tensor& a, const Tensor& b, const Tensor& a_in, const Tensor& b_in, Tensor& y,
                   std::string_view name) {
  if (Tape* tape = detail::recording_tape({&a_in, &b_in})) {
    auto node = std::make_unique<BinaryNode>(kind, a, b);
    node->inputs = detail::value_ids(*tape, {&a_in, &b_in});
    tape->record(std::move(node), y, name);
  }
}

Tensor binary(Bin kind, const Tensor& a_in, const Tensor& b_in, std::string_view name) {
  const std::string_view op = op_name(kind_of(kind));
#if RELPROP_HAVE_CUDA
  detail::same_device(op, {{&a_in, "a"}, {&b_in, "b"}});
#endif
  const Tensor a = detail::as_f32(a_in, op, "a"), b = detail::as_f32(b_in, op, "b");
  Shape ys;
  try {
    ys = broadcast_shapes(a.shape(), b.shape());
  } catch (const ShapeError& e) {
    throw ShapeError(std::string(op) + " '" + detail::label(name, op) + "': " + e.what());
  }
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(a)) {
    Tensor y = cuda::binary_forward(cuda_kind(kind), a, b, ys);
    record_binary(kind, a, b, a_in, b_in, y, name);
    return y;
  }
#endif
  Tensor y = Tensor::empty(ys);
  const std::int64_t n = y.numel();
  float* yp = y.data<float>();
  const Tensor ab = detail::broadcast_f32(a, ys), bb = detail::broadcast_f32(b, ys);
  const float* ap = ab.data<float>();
  const float* bp = bb.data<float>();
  // One loop per kind (the switch outside), so that each vectorises.
  const bool par = n > detail::kParallelMin;
  switch (kind) {
    case Bin::Add: detail::parallel_for(n, par, [&](std::int64_t i) { yp[i] = ap[i] + bp[i]; }); break;
    case Bin::Sub: detail::parallel_for(n, par, [&](std::int64_t i) { yp[i] = ap[i] - bp[i]; }); break;
    case Bin::Mul: detail::parallel_for(n, par, [&](std::int64_t i) { yp[i] = ap[i] * bp[i]; }); break;
  }
  record_binary(kind, a, b, a_in, b_in, y, name);
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, std::string_view name) { return binary(Bin::Add, a, b, name); }
Tensor sub(const Tensor& a, const Tensor& b, std::string_view name) { return binary(Bin::Sub, a, b, name); }
Tensor mul(const Tensor& a, const Tensor& b, std::string_view name) { return binary(Bin::Mul, a, b, name); }

// ---- graph format: two inputs, or one input and a constant operand from the weights -----

namespace {

Shape binary_infer(const OpShapeCall& c) {
  if ((c.inputs.size() == 2) == (c.params.count("other") == 1))
    throw ValueError("node '" + std::string(c.node) + "': give two inputs, or one input and the parameter 'other'");
  try {
    return broadcast_shapes(c.inputs[0], c.inputs.size() > 1 ? c.inputs[1] : c.params.at("other"));
  } catch (const ShapeError& e) {
    throw ShapeError("node '" + std::string(c.node) + "': " + e.what());
  }
}

template <Bin K>
Tensor binary_run(const OpCall& c) {
  const Tensor& other = c.inputs.size() > 1 ? c.inputs[1] : c.params.at("other");
  return binary(K, c.inputs[0], other, c.node);
}

}  // namespace

OpSpec op_spec_add() {
  return OpSpec{OpKind::Add, {}, {"other"}, {}, binary_infer, binary_run<Bin::Add>};
}
OpSpec op_spec_sub() {
  return OpSpec{OpKind::Sub, {}, {"other"}, {}, binary_infer, binary_run<Bin::Sub>};
}
OpSpec op_spec_mul() {
  return OpSpec{OpKind::Mul, {}, {"other"}, {}, binary_infer, binary_run<Bin::Mul>};
}

}  // namespace relprop
