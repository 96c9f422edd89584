// relprop's own SGEMM (see ops/gemm.hpp). Loop structure after BLIS (Van Zee & van de
// Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", 2015):
// columns of C in blocks of NC, k in blocks of KC (B's KC × NC panel packed once), rows
// in blocks of MC (A's MC × KC block packed), then MR × NR register tiles.
#include "relprop/ops/gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "relprop/ops/kernels.hpp"

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
static_assert(MR == kPackedMR && NR == kPackedNR && KC == kPackedKC, "gemm.hpp's packed layout is the kernel's");

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
    buf.a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * (MC * KC + 16)));
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

// 8 × 8 block transpose: rows r[0..8) become columns.
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

// B's rows [0, kc) and columns [0, nc) into panels of NR columns (kc × NR each, rows
// contiguous), the last panel padded with zeros.
void pack_b(I64 kc, I64 nc, const float* b, I64 rsb, I64 csb, float* dst) {
  for (I64 jr = 0; jr < nc; jr += NR, dst += kc * NR) {
    const I64 nr = std::min(NR, nc - jr);
    const float* src = b + jr * csb;
    if (nr == NR && csb == 1) {
      for (I64 k = 0; k < kc; ++k) {
        _mm256_store_ps(dst + k * NR, _mm256_loadu_ps(src + k * rsb));
        _mm256_store_ps(dst + k * NR + 8, _mm256_loadu_ps(src + k * rsb + 8));
      }
      continue;
    }
    if (nr == NR && rsb == 1) {  // a transposed operand: 8 × 8 blocks through registers
      I64 k = 0;
      for (; k + 8 <= kc; k += 8)
        for (I64 h = 0; h < NR; h += 8) {
          __m256 r[8];
          for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (h + j) * csb + k);
          transpose8(r);
          for (int q = 0; q < 8; ++q) _mm256_store_ps(dst + (k + q) * NR + h, r[q]);
        }
      for (; k < kc; ++k)
        for (I64 j = 0; j < NR; ++j) dst[k * NR + j] = src[j * csb + k];
      continue;
    }
    for (I64 k = 0; k < kc; ++k) {
      I64 j = 0;
      for (; j < nr; ++j) dst[k * NR + j] = src[k * rsb + j * csb];
      for (; j < NR; ++j) dst[k * NR + j] = 0.0f;
    }
  }
}

// A's rows [0, mc) and columns [0, kc) into panels of MR rows (kc × MR each), the last
// panel padded with zeros. The buffer has 16 floats of slack after MC × KC.
void pack_a(I64 mc, I64 kc, const float* a, I64 rsa, I64 csa, float* dst) {
  for (I64 ir = 0; ir < mc; ir += MR, dst += kc * MR) {
    const I64 mr = std::min(MR, mc - ir);
    const float* src = a + ir * rsa;
    if (mr == MR && rsa == 1) {  // a transposed operand: MR contiguous values per k
      for (I64 k = 0; k < kc; ++k) std::memcpy(dst + k * MR, src + k * csa, sizeof(float) * MR);
      continue;
    }
    if (mr == MR && csa == 1) {
      // Rows of 8 k values transposed through registers; each store of 8 writes 2 values
      // past its k's MR, which the next k's store (or the buffer's padding) overwrites.
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
    for (I64 k = 0; k < kc; ++k) {
      I64 i = 0;
      for (; i < mr; ++i) dst[k * MR + i] = src[i * rsa + k * csa];
      for (; i < MR; ++i) dst[k * MR + i] = 0.0f;
    }
  }
}

// B's panels straight from a convolution's input (ConvB, width stride 1 or 2), in place of
// im2col followed by pack_b. A panel's NR output pixels are cut into runs along output
// rows. For kernel position (kh, kw), each run reads one input row, every float (stride
// 1) or every other one (stride 2, loaded as pairs of vectors and deinterleaved); the
// lanes whose input column falls outside the image stay 0. Those (offset, lanes) entries
// are worked out once per panel and replayed for every channel.
struct ConvPacker {
  ConvB g;
  struct Entry {
    __m256i m[4];  // per loaded vector of the source (2 for stride 1, 4 for stride 2): the floats read
    I64 off;       // lane j reads plane[off + sw·j]
    I64 lo, hi;    // the lanes [lo, hi) it fills
  };

  static I64 ceil_div(I64 a, I64 b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

  void operator()(I64 pc, I64 kc, I64 jc, I64 nc, float* dst) const {
    if (g.sw == 1) pack<1>(pc, kc, jc, nc, dst);
    else pack<2>(pc, kc, jc, nc, dst);
  }

  template <int S>
  void pack(I64 pc, I64 kc, I64 jc, I64 nc, float* dst) const {
    constexpr I64 span = NR * S;  // floats of the source a panel row's loads cover
    const I64 khw = g.KH * g.KW, hw = g.H * g.W, total = g.C * hw;
    thread_local std::vector<Entry> entries;
    thread_local std::vector<I64> first;
    first.resize(static_cast<std::size_t>(khw + 1));
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (I64 jr = 0; jr < nc; jr += NR, dst += kc * NR) {
      const I64 p0 = jc + jr, nr = std::min(NR, nc - jr);
      struct Run {
        I64 oh, ow, q, len;
      } runs[NR];
      int nruns = 0;
      for (I64 q = 0; q < nr;) {
        const I64 oh = (p0 + q) / g.WO, ow = (p0 + q) % g.WO, len = std::min(g.WO - ow, nr - q);
        runs[nruns++] = {oh, ow, q, len};
        q += len;
      }
      entries.clear();
      for (I64 r = 0; r < khw; ++r) {
        first[static_cast<std::size_t>(r)] = static_cast<I64>(entries.size());
        const I64 kh = r / g.KW, kw = r % g.KW;
        for (int u = 0; u < nruns; ++u) {
          const Run& run = runs[u];
          const I64 ih = run.oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const I64 iw = run.ow * S - g.pw + kw * g.dw;  // the input column of lane run.q
          // Lane j reads column iw + S (j - q): inside the image for j in [lo, hi).
          const I64 lo = std::max(run.q, run.q + ceil_div(-iw, S));
          const I64 hi = std::min(run.q + run.len, run.q + ceil_div(g.W - iw, S));
          if (lo >= hi) continue;
          Entry e;
          e.off = ih * g.W + iw - S * run.q;
          e.lo = lo;
          e.hi = hi;
          // Source float t of the panel row's reach is read when t = S·j for a lane j in [lo, hi).
          for (int v = 0; v < 2 * S; ++v) {
            const __m256i t = _mm256_add_epi32(iota, _mm256_set1_epi32(8 * v));
            const __m256i j = S == 1 ? t : _mm256_srli_epi32(t, 1);
            __m256i in = _mm256_and_si256(_mm256_cmpgt_epi32(j, _mm256_set1_epi32(static_cast<int>(lo) - 1)),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), j));
            if (S == 2) in = _mm256_and_si256(in, _mm256_cmpeq_epi32(_mm256_and_si256(t, _mm256_set1_epi32(1)),
                                                                     _mm256_setzero_si256()));
            e.m[v] = in;
          }
          entries.push_back(e);
        }
      }
      first[static_cast<std::size_t>(khw)] = static_cast<I64>(entries.size());
      I64 c = pc / khw, r = pc % khw;
      for (I64 k = 0; k < kc; ++k) {
        __m256 v0 = _mm256_setzero_ps(), v1 = _mm256_setzero_ps();
        const I64 e1 = first[static_cast<std::size_t>(r + 1)];
        for (I64 e = first[static_cast<std::size_t>(r)]; e < e1; ++e) {
          const Entry& en = entries[static_cast<std::size_t>(e)];
          const I64 at = c * hw + en.off;  // lane j: x[at + S·j]
          if (at >= 0 && at + span <= total) {
            const float* src = g.x + at;
            const bool whole = en.lo == 0 && en.hi == NR;  // the only entry: plain loads
            if constexpr (S == 1) {
              if (whole) {
                v0 = _mm256_loadu_ps(src);
                v1 = _mm256_loadu_ps(src + 8);
              } else {  // masked floats are not read
                v0 = _mm256_or_ps(v0, _mm256_maskload_ps(src, en.m[0]));
                v1 = _mm256_or_ps(v1, _mm256_maskload_ps(src + 8, en.m[1]));
              }
            } else {
              __m256 a[4];
              for (int v = 0; v < 4; ++v) a[v] = whole ? _mm256_loadu_ps(src + 8 * v) : _mm256_maskload_ps(src + 8 * v, en.m[v]);
              // The even floats of (a0, a1) and of (a2, a3), in order: shuffle, then swap
              // the middle 64-bit pairs.
              const auto evens = [](__m256 x, __m256 y) {
                return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(x, y, 0x88)), 0xD8));
              };
              v0 = _mm256_or_ps(v0, evens(a[0], a[1]));
              v1 = _mm256_or_ps(v1, evens(a[2], a[3]));
            }
          } else {  // the panel's reach crosses the start or end of x: the lanes one by one
            alignas(32) float t[NR] = {};
            for (I64 j = en.lo; j < en.hi; ++j) t[j] = g.x[at + S * j];
            v0 = _mm256_or_ps(v0, _mm256_load_ps(t));
            v1 = _mm256_or_ps(v1, _mm256_load_ps(t + 8));
          }
        }
        _mm256_store_ps(dst + k * NR, v0);
        _mm256_store_ps(dst + k * NR + 8, v1);
        if (++r == khw) {
          r = 0;
          ++c;
        }
      }
    }
  }
};

// B as a strided matrix, B(k, j) = b[k·rsb + j·csb]: packs rows [pc, pc + kc) and
// columns [jc, jc + nc) into NR-column panels (pack_b).
struct StridedB {
  const float* b;
  I64 rsb, csb;
  void operator()(I64 pc, I64 kc, I64 jc, I64 nc, float* dst) const {
    pack_b(kc, nc, b + pc * rsb + jc * csb, rsb, csb, dst);
  }
};

// C(i, j) = c[i·rsc + j·csc] for columns [j0, j0 + N) of B (a packer as StridedB: it is
// handed absolute column indices). Rows of C contiguous (csc = 1) are written by the
// kernel directly; otherwise (the transposed orientation chosen by sgemm) through a tile.
template <class PackB>
void sgemm_serial(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const PackB& packer, I64 j0, float* c,
                  I64 rsc, I64 csc) {
  Buffers& buf = buffers();
  alignas(32) float tile[MR * NR];
  for (I64 jc = 0; jc < N; jc += NC) {
    const I64 nc = std::min(NC, N - jc);
    for (I64 pc = 0; pc < K; pc += KC) {
      const I64 kc = std::min(KC, K - pc);
      const bool accumulate = pc > 0;
      packer(pc, kc, j0 + jc, nc, buf.b);
      for (I64 ic = 0; ic < M; ic += MC) {
        const I64 mc = std::min(MC, M - ic);
        pack_a(mc, kc, a + ic * rsa + pc * csa, rsa, csa, buf.a);
        for (I64 jr = 0; jr < nc; jr += NR) {
          const I64 nr = std::min(NR, nc - jr);
          const float* bp = buf.b + jr * kc;
          for (I64 ir = 0; ir < mc; ir += MR) {
            const I64 mr = std::min(MR, mc - ir);
            const float* ap = buf.a + ir * kc;
            float* cp = c + (ic + ir) * rsc + (jc + jr) * csc;
            if (mr == MR && nr == NR && csc == 1) {
              kernel(kc, ap, bp, cp, rsc, accumulate);
            } else {
              kernel(kc, ap, bp, tile, NR, false);
              for (I64 i = 0; i < mr; ++i)
                for (I64 j = 0; j < nr; ++j) {
                  float& out = cp[i * rsc + j * csc];
                  out = accumulate ? out + tile[i * NR + j] : tile[i * NR + j];
                }
            }
          }
        }
      }
    }
  }
}

#else  // no AVX2 + FMA: Eigen's product on strided maps (not used by detail::gemm)

struct StridedB {
  const float* b;
  I64 rsb, csb;
};

void sgemm_serial(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const StridedB& sb, I64 j0, float* c,
                  I64 rsc, I64 csc) {
  const float* b = sb.b + j0 * sb.csb;
  const I64 rsb = sb.rsb, csb = sb.csb;
  using Strided = Eigen::Map<const Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  using Out = Eigen::Map<Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  Out(c, M, N, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(csc, rsc)).noalias() =
      Strided(a, M, K, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(csa, rsa)) *
      Strided(b, K, N, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(csb, rsb));
}

#endif

// The share of a tiling's multiply-adds that are not padding (partial edge tiles).
double tile_use(I64 m, I64 n) {
#if RELPROP_SGEMM_AVX2
  const double rows = static_cast<double>(m) / static_cast<double>(MR * ((m + MR - 1) / MR));
  const double cols = static_cast<double>(n) / static_cast<double>(NR * ((n + NR - 1) / NR));
  return rows * cols;
#else
  (void)m;
  (void)n;
  return 1.0;
#endif
}

// One of M and N dealt out to the OpenMP threads in contiguous runs of whole register
// tiles; each thread packs the other operand itself. The dimension is the one whose
// busiest thread has the fewest tiles to compute (with few tiles, whole-tile chunks of
// the other can leave one thread idle for a third of the time: 49 rows are 9 tiles of 6),
// the larger one on a tie, which packs the smaller operand twice.
// `cols_only`: deal out columns whenever there is a column tile per thread (a packer that
// builds B from something else, as ConvB, would otherwise be run over all of B by every
// thread); with fewer, rows, so that no thread is left idle.
template <class PackB>
void run(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const PackB& packer, float* c, I64 rsc, I64 csc,
         bool cols_only = false) {
  const int threads = gemm_threads(M, N, K);
  if (threads <= 1) {
    sgemm_serial(M, N, K, a, rsa, csa, packer, 0, c, rsc, csc);
    return;
  }
#if RELPROP_SGEMM_AVX2
  const I64 row_unit = MR, col_unit = NR;
#else
  const I64 row_unit = 16, col_unit = 16;
#endif
  const I64 row_tiles = (M + row_unit - 1) / row_unit, col_tiles = (N + col_unit - 1) / col_unit;
  const I64 busiest_by_rows = (row_tiles + threads - 1) / threads * col_tiles;
  const I64 busiest_by_cols = (col_tiles + threads - 1) / threads * row_tiles;
  const bool by_cols =
      (cols_only && col_tiles >= threads) || busiest_by_cols < busiest_by_rows ||
      (busiest_by_cols == busiest_by_rows && N >= M);
  const I64 extent = by_cols ? N : M, unit = by_cols ? col_unit : row_unit;
  const I64 tiles = by_cols ? col_tiles : row_tiles;
  // Thread t takes tiles [t·tiles/threads, (t+1)·tiles/threads): counts differ by one at most.
  const auto start = [&](I64 t) { return std::min(extent, t * tiles / threads * unit); };
  std::exception_ptr failure;
  // A worksharing loop: every chunk is computed even when the runtime grants fewer
  // threads than asked for (OMP_DYNAMIC, OMP_THREAD_LIMIT).
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const I64 lo = start(t), len = start(t + 1) - lo;
    if (len <= 0) continue;
    try {
      if (by_cols) sgemm_serial(M, len, K, a, rsa, csa, packer, lo, c + lo * csc, rsc, csc);
      else sgemm_serial(len, N, K, a + lo * rsa, rsa, csa, packer, 0, c + lo * rsc, rsc, csc);
    } catch (...) {
#pragma omp critical(relprop_sgemm_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

int gemm_threads(I64 M, I64 N, I64 K) noexcept {
#ifdef _OPENMP
  if (omp_in_parallel() || static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < 262144.0) return 1;
  return omp_get_max_threads();
#else
  (void)M;
  (void)N;
  (void)K;
  return 1;
#endif
}

bool sgemm_available() noexcept {
  // RELPROP_SGEMM=0 in the environment selects Eigen's products instead (A/B timing).
  static const bool enabled = [] {
    const char* v = std::getenv("RELPROP_SGEMM");
    return RELPROP_SGEMM_AVX2 != 0 && !(v != nullptr && v[0] == '0');
  }();
  return enabled;
}

void sgemm(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
           I64 ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (I64 i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  // Cᵀ = Bᵀ · Aᵀ when that wastes fewer multiply-adds on partial tiles (a narrow C such as
  // the 7 × 7 = 49 columns of a late convolution: 49 of 64 used one way, 49 of 54 the
  // other). Each element's sum runs over k in the same order either way.
  if (sgemm_transposes(M, N)) run(N, M, K, b, csb, rsb, StridedB{a, csa, rsa}, c, 1, ldc);
  else run(M, N, K, a, rsa, csa, StridedB{b, rsb, csb}, c, ldc, 1);
}

bool sgemm_transposes(I64 M, I64 N) noexcept { return tile_use(N, M) > 1.08 * tile_use(M, N); }

void sgemm_packed(I64 M, I64 N, I64 K, I64 i0, I64 i1, const float* ap, const float* bp, float* c, I64 ldc) {
#if RELPROP_SGEMM_AVX2
  if (i0 < 0 || i0 % MR != 0 || i1 > M)
    throw std::invalid_argument("sgemm_packed: rows [i0, i1) must start at a panel (a multiple of 6) and end by M");
  if (i1 <= i0 || N <= 0) return;
  if (K <= 0) {
    for (I64 i = i0; i < i1; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  const I64 Mp = packed_rows(M), Np = packed_cols(N);
  alignas(32) float tile[MR * NR];
  for (I64 pc = 0; pc < K; pc += KC) {
    const I64 kc = std::min(KC, K - pc);
    const bool accumulate = pc > 0;
    const float* A = ap + pc * Mp;
    const float* B = bp + pc * Np;
    for (I64 ic = i0; ic < i1; ic += MC) {  // MC rows of A (L2) against every panel of B
      const I64 ie = std::min(i1, ic + MC);
      for (I64 jr = 0; jr < N; jr += NR) {
        const I64 nr = std::min(NR, N - jr);
        const float* bpan = B + jr * kc;
        for (I64 ir = ic; ir < ie; ir += MR) {
          const I64 mr = std::min(MR, ie - ir);
          const float* apan = A + ir * kc;
          float* cp = c + ir * ldc + jr;
          if (mr == MR && nr == NR) {
            kernel(kc, apan, bpan, cp, ldc, accumulate);
          } else {
            kernel(kc, apan, bpan, tile, NR, false);
            for (I64 i = 0; i < mr; ++i)
              for (I64 j = 0; j < nr; ++j) cp[i * ldc + j] = accumulate ? cp[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
          }
        }
      }
    }
  }
#else
  (void)M, (void)N, (void)K, (void)i0, (void)i1, (void)ap, (void)bp, (void)c, (void)ldc;
  throw std::logic_error("sgemm_packed: the AVX2 kernel is not compiled in (check sgemm_available())");
#endif
}

void sgemm_conv(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const ConvB& b, float* c, I64 ldc) {
#if RELPROP_SGEMM_AVX2
  if (M <= 0 || N <= 0) return;
  if ((b.sw != 1 && b.sw != 2) || K != b.C * b.KH * b.KW || b.WO <= 0 || N % b.WO != 0)
    throw std::invalid_argument("sgemm_conv: B must be the column matrix (K x N) of a convolution with width stride 1 or 2");
  if (K <= 0) {  // no input channels (or an empty kernel): every sum is empty
    for (I64 i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  run(M, N, K, a, rsa, csa, ConvPacker{b}, c, ldc, 1, /*cols_only=*/true);
#else
  (void)M, (void)N, (void)K, (void)a, (void)rsa, (void)csa, (void)b, (void)c, (void)ldc;
  throw std::logic_error("sgemm_conv: the AVX2 kernel is not compiled in (check sgemm_available())");
#endif
}

}  // namespace relprop::detail
