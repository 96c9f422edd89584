// relprop's own SGEMM (see ops/gemm.hpp). Loop structure after BLIS (Van Zee & van de
// Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", 2015):
// columns of C in blocks of NC, k in blocks of KC (B's KC × NC panel packed once), rows
// in blocks of MC (A's MC × KC block packed), then MR × NR register tiles.
#include "ops/gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/kernels.hpp"

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#define RELPROP_SGEMM_AVX2 1
#include <immintrin.h>
#else
#define RELPROP_SGEMM_AVX2 0
#endif

namespace relprop::detail {

namespace {

using I64 = std::int64_t;

#if RELPROP_SGEMM_AVX2

constexpr I64 MR = 6, NR = 16;
// KC × NR floats of B (16 KiB) stay in L1 while a row of tiles passes; MC × KC of A
// (144 KiB) in L2; B's KC × NC panel (2 MiB) in L3.
constexpr I64 KC = 256, MC = 144, NC = 2048;

// Per-thread packing buffers, allocated on first use and kept for the thread's life.
struct Buffers {
  float* a = nullptr;
  float* b = nullptr;
  Buffers() = default;
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
  ~Buffers() {
    std::free(a);
    std::free(b);
  }
};

Buffers& buffers() {
  thread_local Buffers buf;
  if (buf.a == nullptr) {
    buf.a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * MC * KC));
    buf.b = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * KC * NC));
    if (buf.a == nullptr || buf.b == nullptr) {
      std::free(buf.a);
      std::free(buf.b);
      buf.a = buf.b = nullptr;
      throw std::bad_alloc();
    }
  }
  return buf;
}

// C[0..MR, 0..NR) (row stride ldc) = (accumulate ? C : 0) + Σ_k Ap[k] ⊗ Bp[k], where Ap
// holds kc columns of MR values and Bp kc rows of NR values, both packed contiguously.
// Products are accumulated in k order with fused multiply-adds, then added to C once.
inline void kernel(I64 kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c, I64 ldc,
                   bool accumulate) {
  if (accumulate)
    for (I64 r = 0; r < MR; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
    }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (I64 k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
    __m256 a = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
    ap += MR;
    bp += NR;
  }
  const auto store = [&](I64 r, __m256 lo, __m256 hi) {
    float* p = c + r * ldc;
    if (accumulate) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(p));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(p + 8));
    }
    _mm256_storeu_ps(p, lo);
    _mm256_storeu_ps(p + 8, hi);
  };
  store(0, c00, c01);
  store(1, c10, c11);
  store(2, c20, c21);
  store(3, c30, c31);
  store(4, c40, c41);
  store(5, c50, c51);
}

// B's rows [0, kc) and columns [0, nc) into panels of NR columns (kc × NR each, rows
// contiguous), the last panel padded with zeros.
void pack_b(I64 kc, I64 nc, const float* b, I64 rsb, I64 csb, float* dst) {
  for (I64 jr = 0; jr < nc; jr += NR, dst += kc * NR) {
    const I64 nr = std::min(NR, nc - jr);
    const float* src = b + jr * csb;
    if (nr < NR)
      for (I64 k = 0; k < kc; ++k) std::fill(dst + k * NR + nr, dst + (k + 1) * NR, 0.0f);
    if (csb == 1) {
      for (I64 k = 0; k < kc; ++k) std::memcpy(dst + k * NR, src + k * rsb, sizeof(float) * nr);
    } else if (rsb == 1) {
      for (I64 j = 0; j < nr; ++j)
        for (I64 k = 0; k < kc; ++k) dst[k * NR + j] = src[j * csb + k];
    } else {
      for (I64 k = 0; k < kc; ++k)
        for (I64 j = 0; j < nr; ++j) dst[k * NR + j] = src[k * rsb + j * csb];
    }
  }
}

// A's rows [0, mc) and columns [0, kc) into panels of MR rows (kc × MR each), the last
// panel padded with zeros.
void pack_a(I64 mc, I64 kc, const float* a, I64 rsa, I64 csa, float* dst) {
  for (I64 ir = 0; ir < mc; ir += MR, dst += kc * MR) {
    const I64 mr = std::min(MR, mc - ir);
    const float* src = a + ir * rsa;
    if (mr < MR)
      for (I64 k = 0; k < kc; ++k) std::fill(dst + k * MR + mr, dst + (k + 1) * MR, 0.0f);
    if (rsa == 1) {
      for (I64 k = 0; k < kc; ++k)
        for (I64 i = 0; i < mr; ++i) dst[k * MR + i] = src[k * csa + i];
    } else if (csa == 1) {
      for (I64 i = 0; i < mr; ++i)
        for (I64 k = 0; k < kc; ++k) dst[k * MR + i] = src[i * rsa + k];
    } else {
      for (I64 i = 0; i < mr; ++i)
        for (I64 k = 0; k < kc; ++k) dst[k * MR + i] = src[i * rsa + k * csa];
    }
  }
}

void sgemm_serial(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
                  I64 ldc) {
  Buffers& buf = buffers();
  alignas(32) float tile[MR * NR];
  for (I64 jc = 0; jc < N; jc += NC) {
    const I64 nc = std::min(NC, N - jc);
    for (I64 pc = 0; pc < K; pc += KC) {
      const I64 kc = std::min(KC, K - pc);
      const bool accumulate = pc > 0;
      pack_b(kc, nc, b + pc * rsb + jc * csb, rsb, csb, buf.b);
      for (I64 ic = 0; ic < M; ic += MC) {
        const I64 mc = std::min(MC, M - ic);
        pack_a(mc, kc, a + ic * rsa + pc * csa, rsa, csa, buf.a);
        for (I64 jr = 0; jr < nc; jr += NR) {
          const I64 nr = std::min(NR, nc - jr);
          const float* bp = buf.b + jr * kc;
          for (I64 ir = 0; ir < mc; ir += MR) {
            const I64 mr = std::min(MR, mc - ir);
            const float* ap = buf.a + ir * kc;
            float* cp = c + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR) {
              kernel(kc, ap, bp, cp, ldc, accumulate);
            } else {
              kernel(kc, ap, bp, tile, NR, false);
              for (I64 i = 0; i < mr; ++i)
                for (I64 j = 0; j < nr; ++j) cp[i * ldc + j] = accumulate ? cp[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
            }
          }
        }
      }
    }
  }
}

#else  // no AVX2 + FMA: Eigen's product on strided maps (not used by detail::gemm)

void sgemm_serial(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
                  I64 ldc) {
  using Strided = Eigen::Map<const Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  using Out = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
  Out(c, M, N, Eigen::OuterStride<>(ldc)).noalias() =
      Strided(a, M, K, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(csa, rsa)) *
      Strided(b, K, N, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(csb, rsb));
}

#endif

}  // namespace

bool sgemm_available() noexcept { return RELPROP_SGEMM_AVX2 != 0; }

void sgemm(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
           I64 ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (I64 i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
#ifdef _OPENMP
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  const int threads = 1;
#endif
  if (threads <= 1 || static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < 262144.0) {
    sgemm_serial(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc);
    return;
  }
  // The larger of M and N dealt out in contiguous chunks (whole register tiles): each
  // thread packs the other operand itself, so the duplicated packing is the smaller one.
  const bool by_cols = N >= M;
  const I64 extent = by_cols ? N : M, unit = by_cols ? 16 : 6;
  const I64 chunk = ((extent + threads - 1) / threads + unit - 1) / unit * unit;
  std::exception_ptr failure;
  // A worksharing loop: every chunk is computed even when the runtime grants fewer
  // threads than asked for (OMP_DYNAMIC, OMP_THREAD_LIMIT).
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const I64 lo = std::min(extent, t * chunk), len = std::min(extent, lo + chunk) - lo;
    if (len <= 0) continue;
    try {
      if (by_cols) sgemm_serial(M, len, K, a, rsa, csa, b + lo * csb, rsb, csb, c + lo, ldc);
      else sgemm_serial(len, N, K, a + lo * rsa, rsa, csa, b, rsb, csb, c + lo * ldc, ldc);
    } catch (...) {
#pragma omp critical(relprop_sgemm_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace relprop::detail
