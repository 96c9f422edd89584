#pragma once
// Winograd F(2x2, 3x3) convolution for the CPU kernels. Internal: not installed.
//
// A 3 x 3, stride-1, undilated convolution computes every 2 x 2 block of outputs from a
// 4 x 4 block of inputs with 16 products per (output, input) channel pair instead of 36:
// Y = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A. The 16 element-wise products over the
// channels are 16 GEMMs (relprop's own sgemm), 2.25 times fewer multiply-adds than the
// direct convolution. The transforms add and subtract, so the sums are rounded in another
// order than the direct product's: results agree to float rounding, not bit for bit (an
// output that is exactly 0 directly, such as a z+ sum of zero products, is then a
// rounding-sized number). Used only where conv_algorithm() is Winograd.

#include <cstdint>

namespace relprop::detail {

// True where the AVX2 transforms are compiled in (the build targets AVX2 and FMA).
bool winograd_available() noexcept;

// The transformed kernels: (G k_rs Gᵀ)[ξ] for the 3 x 3 kernels k_rs(a, b) =
// w[r·rs_r + s·rs_s + a·3 + b], or w[... + (2 − a)·3 + (2 − b)] when `flip` (the backward-
// data convolution's kernel), r < R rows, s < S columns. Laid out for winograd_conv3x3 only:
// 16 planes of packed_rows(R)·S floats, each the packed A operand (ops/gemm.hpp) of one ξ.
// Returns a per-thread buffer, valid until this thread's next call. Throws
// std::logic_error where not winograd_available().
const float* winograd_kernels(const float* w, std::int64_t R, std::int64_t S, std::int64_t rs_r, std::int64_t rs_s,
                              bool flip);

// out (R, HO, WO) = Σ_s Σ_{a,b} x[s][oh − pt + a][ow − pl + b] · k_rs(a, b), with x (S, H, W)
// read as 0 outside the image, for the kernels U from winograd_kernels. Every output is
// written. Outside a parallel region the threads split the input transform by panels of
// tiles, the 16 products by pieces of rows and the output transform by channels; inside
// one it runs on the calling thread. Throws std::logic_error where not
// winograd_available().
void winograd_conv3x3(const float* x, std::int64_t S, std::int64_t H, std::int64_t W, const float* U, std::int64_t R,
                      std::int64_t pt, std::int64_t pl, std::int64_t HO, std::int64_t WO, float* out);

}  // namespace relprop::detail
