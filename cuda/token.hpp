#pragma once
// GPU twins of the kernels in ops/token.cpp (plain C++: callable from the op's .cpp).
// Tensor arguments are contiguous float32 on the GPU unless their comment says otherwise;
// results are new contiguous GPU tensors, equal to the CPU's to float rounding. Letters:
// N batch, T tokens, H heads, d head size, D hidden size.

#include <cstdint>
#include <string>

#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

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
