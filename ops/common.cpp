#include "relprop/ops/common.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/primitives.hpp"
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

namespace {

// s[i] = R[i] / den(z[i]) for i in [lo, hi), den = z + e·sgn0(z) (ε) or sgn0(z)·max(|z|, e)
// (clip), 0 where den is 0; on the calling thread. GCC keeps the plain loop scalar (it
// does not evaluate `z >= 0` for lanes the branch would skip: the comparison may raise on
// NaN), so AVX2 runs eight lanes at a time with the same operations in the same order; the
// tail, and other targets, stab_divide. Lanes with den = 0 divide by 1 and are then set to
// 0, and so are lanes whose quotient overflows while R is finite (finite_quotient).
// Each element is read before its own result is written, and no other: s may be z.
void divide_range(const float* R, const float* z, float* s, std::int64_t lo, std::int64_t hi, float e, bool clip) {
  std::int64_t i = lo;
#if defined(__AVX2__)
  const __m256 ev = _mm256_set1_ps(e), zero = _mm256_setzero_ps(), pone = _mm256_set1_ps(1.0f),
               mone = _mm256_set1_ps(-1.0f), sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(HUGE_VALF);
  for (; i + 8 <= hi; i += 8) {
    const __m256 zi = _mm256_loadu_ps(z + i);
    const __m256 sg = _mm256_blendv_ps(mone, pone, _mm256_cmp_ps(zi, zero, _CMP_GE_OQ));
    // max(e, |z|) returns |z| when |z| is NaN, as std::max(|z|, e) does.
    const __m256 den = clip ? _mm256_mul_ps(sg, _mm256_max_ps(ev, _mm256_andnot_ps(sign, zi)))
                            : _mm256_add_ps(zi, _mm256_mul_ps(ev, sg));
    const __m256 is0 = _mm256_cmp_ps(den, zero, _CMP_EQ_OQ);
    const __m256 r = _mm256_loadu_ps(R + i);
    const __m256 q = _mm256_div_ps(r, _mm256_blendv_ps(den, pone, is0));
    // |q| infinite while |R| is not: the quotient overflowed.
    const __m256 over = _mm256_andnot_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, r), inf, _CMP_EQ_OQ),
                                         _mm256_cmp_ps(_mm256_andnot_ps(sign, q), inf, _CMP_EQ_OQ));
    _mm256_storeu_ps(s + i, _mm256_blendv_ps(q, zero, _mm256_or_ps(is0, over)));
  }
#endif
  for (; i < hi; ++i) s[i] = stab_divide(R[i], z[i], e, clip);
}

}  // namespace

void stabilized_divide(const float* R, const float* z, float* s, std::int64_t n, std::int64_t group,
                       Stab stab) {
  if (group <= 0) group = n;
  const std::int64_t groups = group > 0 ? n / group : 0;
  const bool clip = stab.kind == Stabilizer::Clip;
  if (stab.kind != Stabilizer::Scaled) {
    // One epsilon for all: the elements themselves are spread over the threads (a batch of
    // one is a single group).
    const float e = static_cast<float>(stab.epsilon);
    const std::int64_t total = groups * group;
    constexpr std::int64_t kPiece = 4096;
    parallel_for((total + kPiece - 1) / kPiece, total > kParallelMin, [&](std::int64_t piece) {
      divide_range(R, z, s, piece * kPiece, std::min(total, (piece + 1) * kPiece), e, clip);
    });
    return;
  }
  parallel_for(groups, n > kParallelMin, [&](std::int64_t g) {
    const std::int64_t b = g * group;
    divide_range(R, z, s, b, b + group, scaled_epsilon(z + b, group, stab.epsilon), false);
  });
}

void stabilized_divide_piece(const float* R, const float* z, float* s, std::int64_t n, Stab stab) {
  RELPROP_ASSERT(stab.kind != Stabilizer::Scaled, "stabilized_divide_piece: the Scaled stabiliser needs whole samples");
  divide_range(R, z, s, 0, n, static_cast<float>(stab.epsilon), stab.kind == Stabilizer::Clip);
}

void stabilized_divide_piece_in_place(const float* R, float* zs, std::int64_t n, Stab stab) {
  stabilized_divide_piece(R, zs, zs, n, stab);
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
