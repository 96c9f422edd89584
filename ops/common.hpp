#pragma once
// Helpers shared by the op families: input checks, recording, stabilised division and
// broadcasting reductions. Dimension letters used in shape comments across ops/:
//   N batch, I input features, O output features, M rows (all leading dims flattened).

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relprop/ops/host_device.hpp"
#include "relprop/tensor/error.hpp"
#include "relprop/relevance/rules.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/parallel.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::detail {

// A float buffer that grows to the largest size asked of it and is kept (a kernel's
// per-thread scratch, as `thread_local GrowingBuffer`): not cleared, so its users write
// every element they read back, and not faulted in afresh for every call. 64-byte
// aligned. A failed allocation throws std::bad_alloc and leaves it empty.
class GrowingBuffer {
 public:
  float* get(std::int64_t n) {
    if (n > capacity_) {
      data_.reset();
      capacity_ = 0;
      void* p = std::aligned_alloc(64, (static_cast<std::size_t>(n) * sizeof(float) + 63) / 64 * 64);
      if (p == nullptr) throw std::bad_alloc();
      data_.reset(static_cast<float*>(p));
      capacity_ = n;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  std::int64_t capacity_ = 0;
};

// `t` as a contiguous float32 tensor on its own device (itself when it already is one).
// DtypeError / ValueError naming `op` and the argument `what` otherwise.
Tensor as_f32(const Tensor& t, std::string_view op, std::string_view what);
// ValueError naming `op` and the two arguments when the defined tensors among
// `tensors` (tensor, what it is) are not all on one device.
void same_device(std::string_view op, std::initializer_list<std::pair<const Tensor*, std::string_view>> tensors);
// Whether `t` lives on a GPU (its op then runs the CUDA twin).
inline bool on_cuda(const Tensor& t) { return t.defined() && t.device() == Device::CUDA; }

// The tape to record on: the current one when any of `inputs` was recorded on it, else
// nullptr (an op on constants only records nothing).
Tape* recording_tape(std::initializer_list<const Tensor*> inputs);
// Value ids of `inputs` on `tape` (-1 for constants).
std::vector<ValueId> value_ids(const Tape& tape, std::initializer_list<const Tensor*> inputs);

// A denominator stabiliser: its epsilon and kind (docs/RULES.md, "Stabiliser").
struct Stab {
  double epsilon = 0.0;
  Stabilizer kind = Stabilizer::Sign;
};
// r / d for a denominator d that is not 0, except that a quotient which overflows float32
// (a finite r over a denominator tiny beside it: denormals, or a cancelling sum) is 0, as
// for a zero denominator: the relevance is absorbed instead of becoming infinite (and
// NaN further on). An infinite r keeps its infinite quotient; NaN stays NaN. Host and
// device.
RELPROP_HOST_DEVICE inline float finite_quotient(float r, float d) {
  const float q = r / d;
  return fabsf(q) == HUGE_VALF && fabsf(r) != HUGE_VALF ? 0.0f : q;
}
// A relevance `out` computed for a finite input x (x times a transposed sum of
// quotients), kept when finite; else 0: the sum overflowed (its quotients are finite,
// finite_quotient), so the input's share is absorbed like an overflowing quotient's. A
// non-finite x keeps what it gives. Applied to the finished value, so the products before
// it round (and fuse) as they always did. Host and device.
RELPROP_HOST_DEVICE inline float absorb_overflow(float out, float x) {
  return fabsf(out) <= FLT_MAX || !(fabsf(x) <= FLT_MAX) ? out : 0.0f;
}
// r / stab(z) for one element, e the epsilon: z + e sgn0(z), or with `clip`
// sgn0(z) max(|z|, e); sgn0 is +1 at zero; a stabilised denominator of exactly 0 gives 0,
// and so does a quotient that would overflow (finite_quotient); a NaN z stays NaN under
// clip, as std::max(|z|, e) keeps it. Host and device.
RELPROP_HOST_DEVICE inline float stab_divide(float r, float z, float e, bool clip) {
  const float sg = z >= 0.0f ? 1.0f : -1.0f;
  const float az = fabsf(z);
  const float d = clip ? sg * (az < e ? e : az) : z + e * sg;
  return d == 0.0f ? 0.0f : finite_quotient(r, d);
}
// The Scaled stabiliser's epsilon of a row of `group` elements: eps * sqrt(mean(z^2)), the
// squares summed in double, in order.
inline float scaled_epsilon(const float* z, std::int64_t group, double eps) {
  double sq = 0;
  for (std::int64_t i = 0; i < group; ++i) sq += static_cast<double>(z[i]) * z[i];
  return static_cast<float>(eps * std::sqrt(sq / static_cast<double>(group)));
}
// s[i] = R[i] / stab(z[i]) for i < n; a denominator of exactly 0 gives s = 0.
// R, z, s: (n,). For Stabilizer::Scaled, rows of `group` elements (the tensor's non-batch
// size) share one epsilon scale; group <= 0 means one row of all n.
void stabilized_divide(const float* R, const float* z, float* s, std::int64_t n, std::int64_t group,
                       Stab stab);
// The same for the Sign and Clip stabilisers over n elements, on the calling thread (no
// OpenMP): for callers that already split their work into pieces.
void stabilized_divide_piece(const float* R, const float* z, float* s, std::int64_t n, Stab stab);
// As stabilized_divide_piece with z overwritten by s (zs holds z on entry, s on return).
void stabilized_divide_piece_in_place(const float* R, float* zs, std::int64_t n, Stab stab);
// The stabiliser a Zero / Epsilon / Norm / Constant rule asks for (epsilon 0, Sign for
// any other rule).
Stab stab_of(const Rule& rule);

// Sum of `t` over the dimensions along which a tensor of shape `target` was broadcast to
// t's shape (NumPy rules), giving a tensor of shape `target`.
Tensor reduce_to_shape(const Tensor& t, const Shape& target);
// `t` broadcast to `shape` and made contiguous float32.
Tensor broadcast_f32(const Tensor& t, const Shape& shape);

// A node name for error messages: the given name, else the op's.
inline std::string label(std::string_view name, std::string_view op) {
  return std::string(name.empty() ? op : name);
}

// a * b + c for shape arithmetic of attributes taken from a graph file (padding, dilation,
// kernel sizes up to 2^63); ValueError "WHO: ... too large" instead of overflowing.
inline std::int64_t checked_mul_add(std::int64_t a, std::int64_t b, std::int64_t c, const std::string& who) {
  std::int64_t ab = 0, out = 0;
  if (__builtin_mul_overflow(a, b, &ab) || __builtin_add_overflow(ab, c, &out))
    throw ValueError(who + ": the attributes are too large (" + std::to_string(a) + " * " + std::to_string(b) +
                     " + " + std::to_string(c) + " overflows 64 bits)");
  return out;
}

// DLBacktrace contrastive mode, one output with contributions summing to P > 0 (positive
// ones) and N > 0 (|negative| ones) and value t: the factor by which a positive
// contribution c gets c * pos_p of R+ and c * neg_p of R-, a negative one |c| * pos_n and
// |c| * neg_n. One-signed outputs spread both maps over their side; mixed ones give the
// winning side (positive when t > 0) max(R+, R-) and the other min(R+, R-), R+ always in
// the positive map. Ties go as in DLBacktrace (crossed).
// Callable from CUDA kernels too (the linear-type skeleton, cuda/elementwise.cu).
struct ContrastiveShares {
  float pos_p = 0, pos_n = 0, neg_p = 0, neg_n = 0;
};
// The shares for one output: P, N and t as above; rp, rn its R+ and R-.
RELPROP_HOST_DEVICE inline ContrastiveShares contrastive_shares(float P, float N, float t, float rp, float rn) {
  ContrastiveShares s;
  if (P > 0.0f && N == 0.0f) {
    s.pos_p = finite_quotient(rp, P);
    s.neg_p = finite_quotient(rn, P);
  } else if (N > 0.0f && P == 0.0f) {
    s.pos_n = finite_quotient(rp, N);
    s.neg_n = finite_quotient(rn, N);
  } else if (P > 0.0f && N > 0.0f) {
    const bool straight = t > 0.0f ? rp > rn : rp < rn;
    if (straight) {
      s.pos_p = finite_quotient(rp, P);
      s.neg_n = finite_quotient(rn, N);
    } else {
      s.neg_p = finite_quotient(rn, P);
      s.pos_n = finite_quotient(rp, N);
    }
  }
  return s;
}

}  // namespace relprop::detail
