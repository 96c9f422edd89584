#pragma once
// GPU twins of the kernels in ops/attention.cpp (plain C++: callable from the op's .cpp).
// Every tensor argument is contiguous float32 on the GPU unless its comment says
// otherwise; results are new contiguous GPU tensors. Same equations, same edge cases and
// the same accumulation types (double sums) as the CPU code, so results agree to float
// rounding. Letters as in ops/attention.cpp: M, K, N the matmul's row, inner and column
// sizes; B the flattened batch; D the softmax (last) dimension; rows = numel / D.

#include <cstdint>
#include <string>

#include "relprop/ops/common.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// ---- matmul -------------------------------------------------------------------------------

// o (B, M, N) = a (B, M, K) · b (B, K, N), each batch a row-major block, through cuBLAS
// (FP32 math, no TF32). `out` is the result's shape (B·M·N elements).
Tensor batched_matmul(const Tensor& a, const Tensor& b, std::int64_t B, std::int64_t M, std::int64_t K,
                      std::int64_t N, const Shape& out);

// MatmulNode::relevance before the broadcast reduction. S = R (gradient) or
// R / stab(f · o) (f = 2 when both factors take half); ga (B, M, K) = S · bᵀ,
// gb (B, K, N) = aᵀ · S, each multiplied element-wise by its own factor unless
// `gradient`. ga / gb are undefined unless wanted; their shapes are `a_shape` / `b_shape`
// (the operands broadcast to the batch).
struct MatmulRelevance {
  Tensor a, b;
};
MatmulRelevance matmul_relevance(const Tensor& R, const Tensor& a, const Tensor& b, const Tensor& o, std::int64_t B,
                                 std::int64_t M, std::int64_t K, std::int64_t N, bool want_a, bool want_b,
                                 bool gradient, float f, detail::Stab stab, const Shape& a_shape,
                                 const Shape& b_shape);

// ---- attention softmax --------------------------------------------------------------------

// Which entries of scores (rows, Tk) attention_softmax masks: entry (row, k) when the
// key mask of the row's sample is 0 at k, or (causal) when k > row % Tq + Tk - Tq.
struct SoftmaxMask {
  Tensor visible;                    // U8 (N, Tk) on the GPU, 1 where key_mask != 0; undefined: no key mask
  std::int64_t rows_per_sample = 1;  // score rows per key-mask row
  bool causal = false;
  std::int64_t Tq = 1, Tk = 0;
  bool any() const { return visible.defined() || causal; }
};
// The mask for scores of `rows_per_sample` · N rows of Tk keys; key_mask (N, Tk) of any
// dtype on the CPU or the GPU, or undefined.
SoftmaxMask softmax_mask(const Tensor& key_mask, std::int64_t rows_per_sample, bool causal, std::int64_t Tq,
                         std::int64_t Tk);

// x = float(scale) · scores (scores itself when scale is 1) and s = the masked softmax of
// each row of x: exp(x - max) with arguments below -87.3 giving exactly 0, masked
// entries 0, a row with nothing visible all 0. scores: (..., Tq, Tk) with mask.Tk keys.
struct SoftmaxForward {
  Tensor x, s;
};
SoftmaxForward attention_softmax_forward(const Tensor& scores, double scale, const SoftmaxMask& mask);

// AttnLRP x (R - s ΣR), or the gradient scale s (R - Σ R s) with respect to the unscaled
// scores, per row; the sums over the visible entries, masked entries 0. x: the scaled scores.
Tensor attention_softmax_relevance(const Tensor& R, const Tensor& x, const Tensor& s, const SoftmaxMask& mask,
                                   bool gradient, double scale);

}  // namespace relprop::cuda
