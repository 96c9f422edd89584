#pragma once
// GPU twins of the kernels in ops/attention.cpp (plain C++: callable from the op's .cpp).
// Every tensor argument is contiguous float32 on the GPU unless its comment says
// otherwise; results are new contiguous GPU tensors. Same equations, same edge cases and
// the same accumulation types (double sums) as the CPU code, so results agree to float
// rounding. Letters as in ops/attention.cpp: M, K, N the matmul's row, inner and column
// sizes; B the flattened batch; D the normalised (last) dimension; rows = numel / D;
// N, H, T, d the rotary embedding's batch, heads, tokens and head size.

#include <cstdint>
#include <string>

#include "relprop/ops/common.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// ---- shared -------------------------------------------------------------------------------

// `t` (any dtype, CPU or GPU) as contiguous float64 on the GPU, values as
// Tensor::to_vector_f64 reads them (ids, position ids and masks). A CPU tensor is copied
// up once (the stream waits for the copy).
Tensor f64_on_gpu(const Tensor& t);

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

// AttnLRP x (R - s ΣR), or the gradient s (R - Σ R s), per row; masked entries 0.
Tensor attention_softmax_relevance(const Tensor& R, const Tensor& x, const Tensor& s, const SoftmaxMask& mask,
                                   bool gradient);

// ---- layer norm / RMS norm ----------------------------------------------------------------

// y (rows, D) and inv (max(rows, 1),) = 1/std per row; w, b (D,) or undefined.
struct NormForward {
  Tensor y, inv;
};
NormForward norm_forward(bool rms, const Tensor& x, const Tensor& w, const Tensor& b, double eps, std::int64_t D);

// NormNode::relevance for R, x, y (rows, D), inv (rows,), w (D,) or undefined: the
// ε-rule through the centring (`gradient` false; q = R / stab(y)) or the true gradient.
Tensor norm_relevance(bool rms, bool gradient, detail::Stab stab, const Tensor& R, const Tensor& x,
                      const Tensor& inv, const Tensor& w, const Tensor& y, std::int64_t D);

// ---- embedding ----------------------------------------------------------------------------

// Rows of w (V, D) by ids64 (float64 on the GPU, f64_on_gpu of the ids) -> out
// (ids.shape + (D,)). The ids are checked on the device; the first bad one throws
// IndexError "<who>: id I at position P is outside the vocabulary [0, V)" as on the CPU.
// That check reads 8 bytes back: the one host wait of this family.
Tensor embedding_forward(const Tensor& ids64, const Tensor& w, const Shape& out, const std::string& who);

// Sum over the last dimension of R (rows, D) in double -> `out` (rows elements).
Tensor sum_last(const Tensor& R, const Shape& out);

// ---- rotary position embedding ------------------------------------------------------------

// cos / sin of position x theta^(-2j/d) (float, as Hugging Face), each (N, T, d/2);
// position_ids (N, T) any dtype, CPU or GPU. UnsupportedError for d > 1024.
struct RotaryTables {
  Tensor cos, sin;
};
RotaryTables rotary_tables(const Tensor& position_ids, double theta, std::int64_t N, std::int64_t T,
                           std::int64_t d);
// y = the rotation of x (N, H, T, d).
Tensor rotary_forward(const Tensor& x, const RotaryTables& t, std::int64_t H, std::int64_t T, std::int64_t d);
// The transposed rotation of S (N, H, T, d), times x unless `gradient`.
Tensor rotary_relevance(const Tensor& S, const Tensor& x, const RotaryTables& t, bool gradient, std::int64_t H,
                        std::int64_t T, std::int64_t d);

// ---- prepend_token / masked_mean ----------------------------------------------------------

// y (N, T + 1, D): token (D,) first, then x (N, T, D).
Tensor prepend_token(const Tensor& x, const Tensor& token, std::int64_t N, std::int64_t T, std::int64_t D);

// Weights (N, T) = mask_t / Σ mask (0 for a sample with no position); mask (N, T) any
// dtype, CPU or GPU, or undefined (every position counts).
Tensor masked_mean_weights(const Tensor& mask, std::int64_t N, std::int64_t T);
// y (N, inner) = Σ_t w_t x (N, T, inner), shape `out`.
Tensor masked_mean_forward(const Tensor& x, const Tensor& w, std::int64_t N, std::int64_t T, std::int64_t inner,
                           const Shape& out);
// MaskedMeanNode::relevance with S = R (gradient, absolute) or R / stab(y) (epsilon):
// gradient w S; epsilon w x S; absolute S w |x| / Σ_t w |x|. Shape of x.
enum class MeanMode { Gradient, Epsilon, Absolute };
Tensor masked_mean_relevance(const Tensor& S, const Tensor& x, const Tensor& w, MeanMode mode, std::int64_t N,
                             std::int64_t T, std::int64_t inner);

}  // namespace relprop::cuda
