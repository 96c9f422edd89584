#pragma once
// relprop's own single-precision GEMM for the CPU kernels. Internal: not installed.
//
// C = A · B for strided operands: A(i, k) = a[i·rsa + k·csa], B(k, j) = b[k·rsb + j·csb],
// C(i, j) = c[i·ldc + j] (overwritten). Any of A or B may be a transposed view; nothing
// is copied by the caller. Packed, cache-blocked, one AVX2/FMA register-blocked kernel
// (6 × 16 outputs per step) in the BLIS manner. Every output element is summed over k
// in the same order whatever the blocking or thread split, so results do not depend on
// the thread count.

#include <cstdint>

namespace relprop::detail {

// True where the AVX2 + FMA kernel is compiled in (x86-64 built with -march supporting
// both, and not AVX-512, whose wider vectors Eigen's kernels use better). Elsewhere
// detail::gemm runs Eigen's product and sgemm is not called. RELPROP_SGEMM=0 in the
// environment (read once) makes it false everywhere, for timing against Eigen.
bool sgemm_available() noexcept;

// The OpenMP threads one M x N x K product is dealt out to: 1 inside a parallel region
// (the caller's loop already uses the threads) or below 2^18 multiply-adds, else all.
int gemm_threads(std::int64_t M, std::int64_t N, std::int64_t K) noexcept;

// C = A · B as described above. M, N, K >= 0. Splits the work over the OpenMP threads
// when called outside a parallel region and the product is large enough; inside one it
// runs on the calling thread.
void sgemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* a, std::int64_t rsa, std::int64_t csa,
           const float* b, std::int64_t rsb, std::int64_t csb, float* c, std::int64_t ldc);

}  // namespace relprop::detail
