#pragma once
// The register kernels and packing routines behind ops/gemm.cpp. Internal: not installed.
//
// One summation order for every kernel: an output element is the sum over k in chunks of
// KC = 256; within a chunk the products are accumulated in k order by fused multiply-adds
// into a zero, and the chunk's sum is then added to the element (the first chunk stores
// it). The kernels differ only in how many outputs they hold at once (6 x 16 with AVX2,
// 12 x 32 with AVX-512, 1-4 rows of 16 for matrix-vector shapes, plain loops elsewhere),
// so they give the same bits as one another, whatever the matrix sizes, the blocking of M
// and N, or the thread that computes an element.
//
// Operands are packed into panels: A into panels of MR = 6 rows (kc x MR floats, k-major),
// B into panels of NR = 16 columns (kc x NR floats, k-major), the last one of each padded
// with zeros. The AVX-512 kernel reads two consecutive panels of each.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#define RELPROP_GEMM_AVX2 1
#include <immintrin.h>
#else
#define RELPROP_GEMM_AVX2 0
#endif
#if RELPROP_GEMM_AVX2 && defined(__AVX512F__)
#define RELPROP_GEMM_AVX512 1
#else
#define RELPROP_GEMM_AVX512 0
#endif

namespace relprop::detail::gk {

using I64 = std::int64_t;

constexpr I64 MR = 6, NR = 16, KC = 256;

// a·b + c: rounded once where the target has a fused multiply-add (as the vector kernels
// compute it), else the product rounded, then the sum.
inline float madd(float a, float b, float c) {
#if defined(__FP_FAST_FMAF) || defined(FP_FAST_FMAF)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// ---- portable kernels (every target) ---------------------------------------------------

// C[0..mr, 0..nr) (C(i, j) = c[i·rsc + j·csc]) = (accumulate ? C : 0) + Σ_k Ap[k] ⊗ Bp[k]
// over one packed A panel and one packed B panel of kc steps.
inline void kernel_generic(I64 kc, const float* ap, const float* bp, float* c, I64 rsc, I64 csc, I64 mr, I64 nr,
                           bool accumulate) {
  float acc[MR][NR] = {};
  for (I64 k = 0; k < kc; ++k, ap += MR, bp += NR)
    for (int i = 0; i < MR; ++i) {
      const float a = ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] = madd(a, bp[j], acc[i][j]);
    }
  for (I64 i = 0; i < mr; ++i)
    for (I64 j = 0; j < nr; ++j) {
      float& out = c[i * rsc + j * csc];
      out = accumulate ? out + acc[i][j] : acc[i][j];
    }
}

// Rows [0, m) (m <= 4) of A, A(i, k) = a[i·rsa + k·csa], against one panel of nr <= NR
// columns of B, B(k, j) = bp[k·ldb + j], kc steps: C as kernel_generic.
inline void skinny_generic(I64 m, I64 kc, const float* a, I64 rsa, I64 csa, const float* bp, I64 ldb, float* c,
                           I64 rsc, I64 csc, I64 nr, bool accumulate) {
  for (I64 i = 0; i < m; ++i) {
    float acc[NR] = {};
    for (I64 k = 0; k < kc; ++k) {
      const float x = a[i * rsa + k * csa];
      const float* b = bp + k * ldb;
      for (int j = 0; j < NR; ++j) acc[j] = madd(x, b[j], acc[j]);
    }
    for (I64 j = 0; j < nr; ++j) {
      float& out = c[i * rsc + j * csc];
      out = accumulate ? out + acc[j] : acc[j];
    }
  }
}

// Rows [0, m) (m <= 4) of C = A · B for columns [0, n) of a B whose rows are contiguous,
// B(k, j) = b[k·rsb + j]: for each chunk of k, B's rows are added into per-row sums of up
// to NB columns in k order (each output's sum runs as in the kernels), which are then added
// to C. B is read row by row, contiguously: the matrix-vector product of a transposed map.
// tbuf: 4 rows of NB floats of scratch.
inline void skinny_rows(I64 m, I64 n, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, float* c,
                        I64 rsc, I64 csc, float* tbuf, I64 NB) {
  float* t[4] = {tbuf, tbuf + NB, tbuf + 2 * NB, tbuf + 3 * NB};
  for (I64 j0 = 0; j0 < n; j0 += NB) {
    const I64 nb = std::min(NB, n - j0);
    for (I64 pc = 0; pc < K; pc += KC) {
      const I64 kc = std::min(KC, K - pc);
      for (I64 i = 0; i < m; ++i) std::fill(t[i], t[i] + nb, 0.0f);
      for (I64 k = pc; k < pc + kc; ++k) {
        const float* __restrict row = b + k * rsb + j0;
        for (I64 i = 0; i < m; ++i) {
          const float x = a[i * rsa + k * csa];
          float* __restrict ti = t[i];
          for (I64 j = 0; j < nb; ++j) ti[j] = madd(x, row[j], ti[j]);
        }
      }
      for (I64 i = 0; i < m; ++i)
        for (I64 j = 0; j < nb; ++j) {
          float& out = c[i * rsc + (j0 + j) * csc];
          out = pc > 0 ? out + t[i][j] : t[i][j];
        }
    }
  }
}

// Rows [0, m) (m <= 4) of C = A · B for columns [0, n) of B(k, j) = b[j·csb + k] (columns
// contiguous), one output at a time: the sums of kernel_generic, for the columns left over
// by the vector forms.
inline void skinny_cols_generic(I64 m, I64 n, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 csb,
                                float* c, I64 rsc, I64 csc) {
  for (I64 i = 0; i < m; ++i)
    for (I64 j = 0; j < n; ++j)
      for (I64 pc = 0; pc < K; pc += KC) {
        const I64 kc = std::min(KC, K - pc);
        float acc = 0.0f;
        for (I64 k = pc; k < pc + kc; ++k) acc = madd(a[i * rsa + k * csa], b[j * csb + k], acc);
        float& out = c[i * rsc + j * csc];
        out = pc > 0 ? out + acc : acc;
      }
}

// B's rows [0, kc) and columns [0, nc), B(k, j) = b[k·rsb + j·csb], into panels of NR
// columns (kc x NR each, rows contiguous), the last panel padded with zeros.
inline void pack_b_generic(I64 kc, I64 nc, const float* b, I64 rsb, I64 csb, float* dst) {
  for (I64 jr = 0; jr < nc; jr += NR, dst += kc * NR) {
    const I64 nr = std::min(NR, nc - jr);
    const float* src = b + jr * csb;
    for (I64 k = 0; k < kc; ++k) {
      I64 j = 0;
      for (; j < nr; ++j) dst[k * NR + j] = src[k * rsb + j * csb];
      for (; j < NR; ++j) dst[k * NR + j] = 0.0f;
    }
  }
}

// A's rows [0, mc) and columns [0, kc) into panels of MR rows (kc x MR each), the last
// panel padded with zeros.
inline void pack_a_generic(I64 mc, I64 kc, const float* a, I64 rsa, I64 csa, float* dst) {
  for (I64 ir = 0; ir < mc; ir += MR, dst += kc * MR) {
    const I64 mr = std::min(MR, mc - ir);
    const float* src = a + ir * rsa;
    for (I64 k = 0; k < kc; ++k) {
      I64 i = 0;
      for (; i < mr; ++i) dst[k * MR + i] = src[i * rsa + k * csa];
      for (; i < MR; ++i) dst[k * MR + i] = 0.0f;
    }
  }
}

#if RELPROP_GEMM_AVX2

// ---- AVX2 + FMA ---------------------------------------------------------------------------

// kernel_generic for a whole 6 x 16 tile with C's rows contiguous (row stride ldc).
inline void kernel_avx2(I64 kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c, I64 ldc,
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
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
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

// skinny_generic for M = 1..4 rows, 16 columns held in two vectors per row; C written
// through a tile when nr < NR or its columns are not contiguous.
template <int M>
inline void skinny_avx2(I64 kc, const float* a, I64 rsa, I64 csa, const float* bp, I64 ldb, float* c, I64 rsc,
                        I64 csc, I64 nr, bool accumulate) {
  __m256 lo[M], hi[M];
  for (int i = 0; i < M; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
  for (I64 k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(bp + k * ldb), b1 = _mm256_loadu_ps(bp + k * ldb + 8);
    for (int i = 0; i < M; ++i) {
      const __m256 x = _mm256_broadcast_ss(a + i * rsa + k * csa);
      lo[i] = _mm256_fmadd_ps(x, b0, lo[i]);
      hi[i] = _mm256_fmadd_ps(x, b1, hi[i]);
    }
  }
  for (int i = 0; i < M; ++i) {
    float* p = c + i * rsc;
    if (nr == NR && csc == 1) {
      __m256 l = lo[i], h = hi[i];
      if (accumulate) {
        l = _mm256_add_ps(l, _mm256_loadu_ps(p));
        h = _mm256_add_ps(h, _mm256_loadu_ps(p + 8));
      }
      _mm256_storeu_ps(p, l);
      _mm256_storeu_ps(p + 8, h);
    } else {
      alignas(32) float t[NR];
      _mm256_store_ps(t, lo[i]);
      _mm256_store_ps(t + 8, hi[i]);
      for (I64 j = 0; j < nr; ++j) p[j * csc] = accumulate ? p[j * csc] + t[j] : t[j];
    }
  }
}

// skinny_cols_generic for M rows and 8·G columns (G groups of 8 outputs held in one vector
// each): 8 k values of 8 columns are loaded as 128-bit halves and transposed in registers,
// so each output's products are added in k order.
template <int M, int G>
inline void skinny_cols_avx2(I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 csb, float* c, I64 rsc,
                             I64 csc) {
  for (I64 pc = 0; pc < K; pc += KC) {
    const I64 kend = pc + std::min(KC, K - pc);
    __m256 acc[M][G];
    for (int i = 0; i < M; ++i)
      for (int g = 0; g < G; ++g) acc[i][g] = _mm256_setzero_ps();
    I64 k = pc;
    for (; k + 8 <= kend; k += 8)
      for (int g = 0; g < G; ++g) {
        const float* r = b + 8 * g * csb + k;
        __m256 v[8];
        for (int h = 0; h < 2; ++h)      // k .. k + 3, then k + 4 .. k + 7
          for (int q = 0; q < 4; ++q)    // rows q (low half) and q + 4 (high half)
            v[4 * h + q] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(r + q * csb + 4 * h)),
                                                _mm_loadu_ps(r + (q + 4) * csb + 4 * h), 1);
        __m256 col[8];  // col[e]: B(k + e, 8g .. 8g + 7)
        for (int h = 0; h < 2; ++h) {
          const __m256 t0 = _mm256_unpacklo_ps(v[4 * h], v[4 * h + 1]), t1 = _mm256_unpackhi_ps(v[4 * h], v[4 * h + 1]);
          const __m256 t2 = _mm256_unpacklo_ps(v[4 * h + 2], v[4 * h + 3]),
                       t3 = _mm256_unpackhi_ps(v[4 * h + 2], v[4 * h + 3]);
          col[4 * h + 0] = _mm256_shuffle_ps(t0, t2, 0x44);
          col[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xEE);
          col[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
          col[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xEE);
        }
        for (int e = 0; e < 8; ++e)
          for (int i = 0; i < M; ++i)
            acc[i][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * rsa + (k + e) * csa), col[e], acc[i][g]);
      }
    for (; k < kend; ++k)
      for (int g = 0; g < G; ++g) {
        const float* r = b + 8 * g * csb + k;
        const __m256 col = _mm256_setr_ps(r[0], r[csb], r[2 * csb], r[3 * csb], r[4 * csb], r[5 * csb], r[6 * csb],
                                          r[7 * csb]);
        for (int i = 0; i < M; ++i)
          acc[i][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * rsa + k * csa), col, acc[i][g]);
      }
    for (int i = 0; i < M; ++i)
      for (int g = 0; g < G; ++g) {
        float* p = c + i * rsc + 8 * g * csc;
        if (csc == 1) {
          __m256 v = acc[i][g];
          if (pc > 0) v = _mm256_add_ps(v, _mm256_loadu_ps(p));
          _mm256_storeu_ps(p, v);
        } else {
          alignas(32) float t[8];
          _mm256_store_ps(t, acc[i][g]);
          for (int j = 0; j < 8; ++j) p[j * csc] = pc > 0 ? p[j * csc] + t[j] : t[j];
        }
      }
  }
}

// 8 x 8 block transpose: rows r[0..8) become columns.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// pack_b_generic with whole panels of contiguous rows copied by vectors and transposed
// operands (rsb = 1) through 8 x 8 register transposes.
inline void pack_b_avx2(I64 kc, I64 nc, const float* b, I64 rsb, I64 csb, float* dst) {
  for (I64 jr = 0; jr < nc; jr += NR, dst += kc * NR) {
    const I64 nr = std::min(NR, nc - jr);
    const float* src = b + jr * csb;
    if (nr == NR && csb == 1) {
      for (I64 k = 0; k < kc; ++k) {
        _mm256_storeu_ps(dst + k * NR, _mm256_loadu_ps(src + k * rsb));
        _mm256_storeu_ps(dst + k * NR + 8, _mm256_loadu_ps(src + k * rsb + 8));
      }
      continue;
    }
    if (nr == NR && rsb == 1) {
      I64 k = 0;
      for (; k + 8 <= kc; k += 8)
        for (I64 h = 0; h < NR; h += 8) {
          __m256 r[8];
          for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (h + j) * csb + k);
          transpose8(r);
          for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (k + q) * NR + h, r[q]);
        }
      for (; k < kc; ++k)
        for (I64 j = 0; j < NR; ++j) dst[k * NR + j] = src[j * csb + k];
      continue;
    }
    pack_b_generic(kc, nr, src, rsb, csb, dst);
  }
}

// pack_a_generic with whole panels of a transposed operand (rsa = 1) copied by rows and
// of contiguous rows (csa = 1) transposed through registers. The buffer has 16 floats of
// slack after its last panel.
inline void pack_a_avx2(I64 mc, I64 kc, const float* a, I64 rsa, I64 csa, float* dst) {
  for (I64 ir = 0; ir < mc; ir += MR, dst += kc * MR) {
    const I64 mr = std::min(MR, mc - ir);
    const float* src = a + ir * rsa;
    if (mr == MR && rsa == 1) {
      for (I64 k = 0; k < kc; ++k) std::memcpy(dst + k * MR, src + k * csa, sizeof(float) * MR);
      continue;
    }
    if (mr == MR && csa == 1) {
      // Rows of 8 k values transposed through registers; each store of 8 writes 2 values
      // past its k's MR, which the next k's store (or the buffer's slack) overwrites.
      I64 k = 0;
      for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int i = 0; i < MR; ++i) r[i] = _mm256_loadu_ps(src + i * rsa + k);
        r[6] = r[7] = _mm256_setzero_ps();
        transpose8(r);
        for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (k + q) * MR, r[q]);
      }
      for (; k < kc; ++k)
        for (I64 i = 0; i < MR; ++i) dst[k * MR + i] = src[i * rsa + k];
      continue;
    }
    pack_a_generic(mr, kc, src, rsa, csa, dst);
  }
}

#endif  // RELPROP_GEMM_AVX2

#if RELPROP_GEMM_AVX512

// ---- AVX-512 --------------------------------------------------------------------------------

// kernel_generic for RP (1 or 2) consecutive A panels against CP (1 or 2) consecutive B
// panels: up to 12 x 32 outputs, one 16-float vector per row and B panel; C's rows
// contiguous (row stride ldc), every tile whole.
template <int RP, int CP>
inline void kernel_avx512(I64 kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c, I64 ldc,
                          bool accumulate) {
  constexpr int R = RP * static_cast<int>(MR);
  __m512 acc[R][CP];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < CP; ++j) acc[r][j] = _mm512_setzero_ps();
  const float* a1 = ap + kc * MR;
  const float* b1 = bp + kc * NR;
  for (I64 k = 0; k < kc; ++k) {
    __m512 b[CP];
    b[0] = _mm512_loadu_ps(bp + k * NR);
    if constexpr (CP == 2) b[1] = _mm512_loadu_ps(b1 + k * NR);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps((r < MR ? ap : a1)[k * MR + r % MR]);
#pragma GCC unroll 2
      for (int j = 0; j < CP; ++j) acc[r][j] = _mm512_fmadd_ps(a, b[j], acc[r][j]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < CP; ++j) {
      float* p = c + r * ldc + j * NR;
      __m512 v = acc[r][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(p));
      _mm512_storeu_ps(p, v);
    }
}

#endif  // RELPROP_GEMM_AVX512

}  // namespace relprop::detail::gk
