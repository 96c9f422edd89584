#pragma once
// relprop's own single-precision GEMM for the CPU kernels. Internal: not installed.
//
// C = A · B for strided operands: A(i, k) = a[i·rsa + k·csa], B(k, j) = b[k·rsb + j·csb],
// C(i, j) = c[i·rsc + j·csc] (overwritten). Any of A or B may be a transposed view; nothing
// is copied by the caller. Packed, cache-blocked, register-blocked kernels in the BLIS
// manner (ops/gemm_kernels.hpp): 12 x 32 outputs per step with AVX-512, 6 x 16 with AVX2 and
// FMA, plain loops elsewhere. Every output element is the sum over k in chunks of 256, each
// chunk accumulated in k order by fused multiply-adds, whatever the kernel, the matrix
// sizes, the blocking or the thread split: results do not depend on the thread count, on
// how many rows the product has (a batch of one or of many), or on which of the compiled
// kernels runs.

#include <algorithm>
#include <cstdint>

namespace relprop::detail {

// The register kernels; each gives the same bits.
enum class GemmKernel { Portable, Avx2, Avx512 };
// True for Portable everywhere; Avx2 where the build targets AVX2 and FMA; Avx512 where
// it targets AVX-512F too.
bool gemm_kernel_compiled(GemmKernel k) noexcept;
// The kernel in use: the widest one compiled in, or the one RELPROP_GEMM_KERNEL names in
// the environment (portable, avx2, avx512; read once, ignored when not compiled in).
GemmKernel gemm_kernel() noexcept;
// Selects the kernel for the whole process (tests and timing); std::invalid_argument when
// it is not compiled in. Not to be called while products run on other threads.
void set_gemm_kernel(GemmKernel k);

// The OpenMP threads one M x N x K product is dealt out to: 1 inside a parallel region
// (the caller's loop already uses the threads) or below 2^18 multiply-adds, else all.
int gemm_threads(std::int64_t M, std::int64_t N, std::int64_t K) noexcept;

// C = A · B as described above. M, N, K >= 0. Splits the work over the OpenMP threads
// when called outside a parallel region and the product is large enough; inside one it
// runs on the calling thread.
void sgemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* a, std::int64_t rsa, std::int64_t csa,
           const float* b, std::int64_t rsb, std::int64_t csb, float* c, std::int64_t rsc, std::int64_t csc);
// The same with C's rows contiguous: C(i, j) = c[i·ldc + j].
void sgemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* a, std::int64_t rsa, std::int64_t csa,
           const float* b, std::int64_t rsb, std::int64_t csb, float* c, std::int64_t ldc);

// True where sgemm computes M x N as its transpose, Cᵀ = Bᵀ · Aᵀ (fewer multiply-adds
// wasted on partial register tiles: a narrow C, such as 49 columns). Callers with their
// own B packer (sgemm_conv) use the plain orientation only where this is false.
bool sgemm_transposes(std::int64_t M, std::int64_t N) noexcept;

// B as a convolution's column matrix, read from the image without writing it out:
// B(k, p) = x[c][ih][iw] for k = (c·KH + kh)·KW + kw and output pixel p = oh·WO + ow, with
// ih = oh·sh − ph + kh·dh and iw = ow·sw − pw + kw·dw; 0 where (ih, iw) falls outside the
// H x W image. x holds C planes of H x W floats. Only sw = 1 and 2 are packed this way
// (each output row's pixels then read every float, or every other one, of an input row).
struct ConvB {
  const float* x;
  std::int64_t C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, WO;
};

// C = A · B with B a ConvB (K = C·KH·KW rows, N = HO·WO columns), C(i, j) = c[i·ldc + j]:
// the same products, in the same k order, as im2col followed by sgemm, without the column
// matrix. The columns are dealt out to the threads, each packing its own from x. Only
// where sgemm_conv_available() (the packer is AVX2 code); throws std::invalid_argument if
// b.sw is not 1 or 2, or K, N do not match.
bool sgemm_conv_available() noexcept;
void sgemm_conv(std::int64_t M, std::int64_t N, std::int64_t K, const float* a, std::int64_t rsa, std::int64_t csa,
                const ConvB& b, float* c, std::int64_t ldc);

// ---- Operands already in the kernel's panel layout -----------------------------------
// For callers that write both operands straight into the panels the register kernel reads
// (the Winograd transforms, ops/winograd.cpp), so that sgemm's packing copies are skipped.
// K is cut into chunks of kPackedKC rows; chunk q covers k in [q·KC, q·KC + kc). In packed
// A, chunk q holds ceil(M / MR) panels of kc × MR floats (k-major); in packed B, ceil(N / NR)
// panels of kc × NR floats. The buffers are 32-byte aligned; padding rows / columns may
// hold anything finite (they only reach outputs that are not written back).
constexpr std::int64_t kPackedMR = 6, kPackedNR = 16, kPackedKC = 256;
inline std::int64_t packed_rows(std::int64_t M) { return (M + kPackedMR - 1) / kPackedMR * kPackedMR; }
inline std::int64_t packed_cols(std::int64_t N) { return (N + kPackedNR - 1) / kPackedNR * kPackedNR; }
// Where A(i, k) sits in packed A (M rows, K columns).
inline std::int64_t packed_a_index(std::int64_t i, std::int64_t k, std::int64_t M, std::int64_t K) {
  const std::int64_t q = k / kPackedKC * kPackedKC, kc = std::min(kPackedKC, K - q);
  return q * packed_rows(M) + i / kPackedMR * (kc * kPackedMR) + (k - q) * kPackedMR + i % kPackedMR;
}
// Where B(k, j) sits in packed B (K rows, N columns).
inline std::int64_t packed_b_index(std::int64_t k, std::int64_t j, std::int64_t N, std::int64_t K) {
  const std::int64_t q = k / kPackedKC * kPackedKC, kc = std::min(kPackedKC, K - q);
  return q * packed_cols(N) + j / kPackedNR * (kc * kPackedNR) + (k - q) * kPackedNR + j % kPackedNR;
}

// Rows [i0, i1) of C = A · B (i0 a multiple of kPackedMR, i1 <= M), from packed A and B,
// C(i, j) = c[i·ldc + j] overwritten, on the calling thread, by the kernel in use. Throws
// std::invalid_argument for another row range.
void sgemm_packed(std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t i0, std::int64_t i1, const float* ap,
                  const float* bp, float* c, std::int64_t ldc);

}  // namespace relprop::detail
