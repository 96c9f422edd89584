#include "ops/common.hpp"

#include "relprop_config.hpp"
#if RELPROP_HAVE_CUDA
#include "cuda/primitives.hpp"
#endif

#include <algorithm>
#include <cmath>
#include <string>

namespace relprop::detail {

Tensor as_f32(const Tensor& t, std::string_view op, std::string_view what) {
  if (!t.defined())
    throw ValueError(std::string(op) + ": " + std::string(what) + " is an undefined tensor");
  if (!is_floating(t.dtype()))
    throw DtypeError(std::string(op) + ": " + std::string(what) + " must be floating point, got " +
                     std::string(dtype_name(t.dtype())));
  Tensor f = t.to(DType::F32).contiguous();
  if (t.dtype() == DType::F32) f.set_trace(t.trace());
  return f;
}

void same_device(std::string_view op, std::initializer_list<std::pair<const Tensor*, std::string_view>> tensors) {
  const Tensor* first = nullptr;
  std::string_view first_what;
  for (const auto& [t, what] : tensors) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
      first_what = what;
    } else if (t->device() != first->device()) {
      throw ValueError(std::string(op) + ": " + std::string(first_what) + " is on " +
                       std::string(device_name(first->device())) + " but " + std::string(what) + " is on " +
                       std::string(device_name(t->device())) + " (move the model and its inputs to one device)");
    }
  }
}

Tape* recording_tape(std::initializer_list<const Tensor*> inputs) {
  Tape* tape = Tape::current();
  if (!tape) return nullptr;
  for (const Tensor* t : inputs)
    if (t && t->defined() && tape->value_of(*t) >= 0) return tape;
  return nullptr;
}

std::vector<ValueId> value_ids(const Tape& tape, std::initializer_list<const Tensor*> inputs) {
  std::vector<ValueId> ids;
  for (const Tensor* t : inputs) ids.push_back(t && t->defined() ? tape.value_of(*t) : -1);
  return ids;
}

Stab stab_of(const Rule& rule) {
  if (auto* e = std::get_if<EpsilonRule>(&rule)) return {e->epsilon, e->stabilizer};
  if (auto* n = std::get_if<NormRule>(&rule)) return {n->epsilon, n->stabilizer};
  if (auto* c = std::get_if<ConstantRule>(&rule)) return {c->epsilon, Stabilizer::Sign};
  return {0.0, Stabilizer::Sign};  // ZeroRule: no epsilon, zero denominators still guarded
}

void stabilized_divide(const float* R, const float* z, float* s, std::int64_t n, std::int64_t group,
                       Stab stab) {
  if (group <= 0) group = n;
  const std::int64_t groups = group > 0 ? n / group : 0;
  const auto divide = [&](std::int64_t lo, std::int64_t hi, float e) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const float zi = z[i];
      const float sg = zi >= 0.0f ? 1.0f : -1.0f;  // sgn0: +1 at zero
      const float den = stab.kind == Stabilizer::Clip ? sg * std::max(std::fabs(zi), e) : zi + e * sg;
      s[i] = den == 0.0f ? 0.0f : R[i] / den;
    }
  };
  if (stab.kind != Stabilizer::Scaled) {
    // One epsilon for all: the elements themselves are spread over the threads (a batch of
    // one is a single group).
    const float e = static_cast<float>(stab.epsilon);
    const std::int64_t total = groups * group;
    constexpr std::int64_t kPiece = 4096;
    parallel_for((total + kPiece - 1) / kPiece, total > kParallelMin, [&](std::int64_t piece) {
      divide(piece * kPiece, std::min(total, (piece + 1) * kPiece), e);
    });
    return;
  }
  parallel_for(groups, n > kParallelMin, [&](std::int64_t g) {
    const std::int64_t b = g * group;
    double sq = 0;
    for (std::int64_t i = 0; i < group; ++i) sq += static_cast<double>(z[b + i]) * z[b + i];
    divide(b, b + group, static_cast<float>(stab.epsilon * std::sqrt(sq / static_cast<double>(group))));
  });
}

Tensor reduce_to_shape(const Tensor& t, const Shape& target) {
  if (t.shape() == target) return t;
#if RELPROP_HAVE_CUDA
  if (t.device() == Device::CUDA) return cuda::reduce_to_shape(t, target);
#endif
  const int r = t.dim(), lead = r - static_cast<int>(target.size());
  if (lead < 0) throw ShapeError("reduce_to_shape: " + t.str_shape() + " to " + shape_str(target));
  Tensor src = t.to(DType::F32).contiguous();
  Tensor out = Tensor::zeros(target);
  const Shape out_strides = contiguous_strides(target);
  // Stride into `out` for each dimension of `t`: 0 where the target was broadcast.
  std::vector<std::int64_t> st(r, 0);
  for (int d = lead; d < r; ++d) {
    const std::int64_t td = target[d - lead];
    if (td != 1 && td != t.size(d))
      throw ShapeError("reduce_to_shape: " + t.str_shape() + " does not broadcast from " +
                       shape_str(target));
    st[d] = td == 1 ? 0 : out_strides[d - lead];
  }
  const float* a = src.data<float>();
  float* o = out.data<float>();
  std::vector<std::int64_t> idx(r, 0);
  std::int64_t off = 0;
  for (std::int64_t i = 0; i < src.numel(); ++i) {
    o[off] += a[i];
    for (int d = r - 1; d >= 0; --d) {
      off += st[d];
      if (++idx[d] < t.size(d)) break;
      off -= st[d] * t.size(d);
      idx[d] = 0;
    }
  }
  return out;
}

Tensor broadcast_f32(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape && t.dtype() == DType::F32 && t.is_contiguous()) return t;
  Tensor out = Tensor::empty(shape, DType::F32, t.device());
  out.copy_from(t.shape() == shape ? t : t.expand(shape));
  return out;
}

}  // namespace relprop::detail
