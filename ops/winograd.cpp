// Winograd F(2x2, 3x3): input transform Bᵀ d B over 8 tiles per AVX2 vector, 16 GEMMs
// (ops/gemm.cpp) over the channels, output transform Aᵀ m A. See ops/winograd.hpp.
//
//   Bᵀ = | 1  0 -1  0 |   G = | 1    0    0  |   Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |       | 1/2  1/2  1/2 |        | 0  1 -1 -1 |
//        | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
//        | 0  1  0 -1 |       | 0    0    1  |
//
// Tile (th, tw) covers outputs (2th + r, 2tw + c), r, c in {0, 1}, and reads inputs
// (2th − pt + i, 2tw − pl + j), i, j in 0..3. Tiles are taken a block of whole tile rows at
// a time, so the transformed inputs V (16, S, TB) and products M (16, R, TB) stay a few MB.

#include "relprop/ops/winograd.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>

#include "relprop/ops/common.hpp"
#include "relprop/ops/gemm.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#define RELPROP_WINOGRAD_AVX2 1
#include <immintrin.h>
#else
#define RELPROP_WINOGRAD_AVX2 0
#endif

namespace relprop::detail {

namespace {

using I64 = std::int64_t;

// Tile rows are taken in blocks while max(R, S) x tiles stays under this (at least one
// row): V and M then hold about 16 x this many floats each (4 MB), per calling thread.
constexpr I64 kBlockFloats = I64{1} << 16;

#if RELPROP_WINOGRAD_AVX2

// The even and odd floats of p[0..15].
inline void deinterleave(const float* p, __m256& even, __m256& odd) {
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  // shuffle_ps gives a0 a2 b0 b2 | a4 a6 b4 b6; the 64-bit permute puts the halves in order.
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// A mask whose first n (0..8) lanes are set.
inline __m256i first_lanes(I64 n) {
  alignas(32) static const std::int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - n));
}

// A run of a panel's tiles inside one tile row: tiles (th, tw .. tw + len − 1) are lanes
// off .. off + len − 1 of the panel.
struct Run {
  I64 th, tw, len, off;
};

// The runs of tiles [t0, t1) of a block whose first tile row is th0 (TW tiles a row).
int panel_runs(I64 t0, I64 t1, I64 th0, I64 TW, Run runs[kPackedNR]) {
  int n = 0;
  for (I64 t = t0; t < t1;) {
    const I64 th = t / TW, tw = t % TW, len = std::min(TW - tw, t1 - t);
    runs[n++] = Run{th0 + th, tw, len, t - t0};
    t += len;
  }
  return n;
}

// Width of a run's input window: 2·16 + 2 columns read, rounded up for the last group's
// whole-vector loads (up to column 2·8 + 17 = 33).
constexpr I64 kWindow = 40;

// The transformed inputs of one run of one channel xs (H x W) into lanes run.off.. of
// tv[ξ][·] (rows kTv floats apart; whole vectors stored, up to 7 lanes past the run, which
// the next run overwrites or the slack takes).
constexpr I64 kTv = kPackedNR + 8;
void run_tiles(const float* xs, I64 H, I64 W, I64 pt, I64 pl, const Run& run, float* tv) {
  const I64 groups = (run.len + 7) / 8;
  const I64 r0 = 2 * run.th - pt, c0 = 2 * run.tw - pl, span = 16 * groups + 2;
  const float* rows[4];
  alignas(32) float win[4][kWindow];
  if (r0 >= 0 && r0 + 4 <= H && c0 >= 0 && c0 + span <= W) {  // inside the image: read x itself
    for (int i = 0; i < 4; ++i) rows[i] = xs + (r0 + i) * W + c0;
  } else {
    const I64 used = 2 * run.len + 2;  // the columns the run's tiles read; the rest zeros
    for (int i = 0; i < 4; ++i) {
      float* w = win[i];
      std::fill(w, w + kWindow, 0.0f);
      const I64 r = r0 + i;
      if (r >= 0 && r < H) {
        const I64 lo = std::max<I64>(0, -c0), hi = std::min(used, W - c0);
        if (hi > lo) std::memcpy(w + lo, xs + r * W + c0 + lo, static_cast<std::size_t>(hi - lo) * sizeof(float));
      }
      rows[i] = w;
    }
  }
  for (I64 g = 0; g < groups; ++g) {
    __m256 t[4][4];
    for (int i = 0; i < 4; ++i) {
      const float* row = rows[i] + 16 * g;
      __m256 d0, d1, d2, d3;
      deinterleave(row, d0, d1);      // columns 2tw, 2tw + 1
      deinterleave(row + 2, d2, d3);  // columns 2tw + 2, 2tw + 3
      t[i][0] = _mm256_sub_ps(d0, d2);  // d B
      t[i][1] = _mm256_add_ps(d1, d2);
      t[i][2] = _mm256_sub_ps(d2, d1);
      t[i][3] = _mm256_sub_ps(d1, d3);
    }
    float* v = tv + run.off + 8 * g;
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_ps(v + (0 * 4 + j) * kTv, _mm256_sub_ps(t[0][j], t[2][j]));  // Bᵀ (d B)
      _mm256_storeu_ps(v + (1 * 4 + j) * kTv, _mm256_add_ps(t[1][j], t[2][j]));
      _mm256_storeu_ps(v + (2 * 4 + j) * kTv, _mm256_sub_ps(t[2][j], t[1][j]));
      _mm256_storeu_ps(v + (3 * 4 + j) * kTv, _mm256_sub_ps(t[1][j], t[3][j]));
    }
  }
}

// Output rows oh0 and oh0 + 1 (the second only if `two`) of one channel, columns 0..WO−1,
// from M[ξ][col0 + t] (ξ planes `plane` apart) for the TW tiles of one tile row. Whole
// vectors are loaded: M must have 7 readable floats past each tile row's last one (the
// lanes past TW are not used).
void output_tiles(const float* M, I64 plane, I64 col0, I64 TW, I64 WO, bool two, float* out0, float* out1) {
  for (I64 tw0 = 0; tw0 < TW; tw0 += 8) {
    const float* m = M + col0 + tw0;
    __m256 x0[4], x1[4];  // Aᵀ m: rows 0 and 1, columns j
    for (int j = 0; j < 4; ++j) {
      const __m256 m0 = _mm256_loadu_ps(m + (0 * 4 + j) * plane), m1 = _mm256_loadu_ps(m + (1 * 4 + j) * plane);
      const __m256 m2 = _mm256_loadu_ps(m + (2 * 4 + j) * plane), m3 = _mm256_loadu_ps(m + (3 * 4 + j) * plane);
      x0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
      x1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    const I64 col = 2 * tw0, n = std::min<I64>(16, WO - col);
    for (int r = 0; r < (two ? 2 : 1); ++r) {
      const __m256* xr = r == 0 ? x0 : x1;
      const __m256 y0 = _mm256_add_ps(_mm256_add_ps(xr[0], xr[1]), xr[2]);  // (Aᵀ m) A
      const __m256 y1 = _mm256_sub_ps(_mm256_sub_ps(xr[1], xr[2]), xr[3]);
      const __m256 lo = _mm256_unpacklo_ps(y0, y1), hi = _mm256_unpackhi_ps(y0, y1);
      const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
      float* o = (r == 0 ? out0 : out1) + col;
      if (n == 16) {
        _mm256_storeu_ps(o, first);
        _mm256_storeu_ps(o + 8, second);
      } else {
        alignas(32) float tmp[16];
        _mm256_store_ps(tmp, first);
        _mm256_store_ps(tmp + 8, second);
        std::memcpy(o, tmp, static_cast<std::size_t>(n) * sizeof(float));
      }
    }
  }
}

#endif  // RELPROP_WINOGRAD_AVX2

}  // namespace

bool winograd_available() noexcept { return RELPROP_WINOGRAD_AVX2 != 0; }

#if RELPROP_WINOGRAD_AVX2
namespace {

// out[ξ] = (G g Gᵀ)[ξ] for the 3 x 3 kernels g held as g[a][b] (one lane per kernel).
inline void transform_kernels(const __m256 g[3][3], __m256 out[16]) {
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256 h[4][3];  // G g
  for (int b = 0; b < 3; ++b) {
    h[0][b] = g[0][b];
    h[1][b] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(g[0][b], g[1][b]), g[2][b]));
    h[2][b] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(g[0][b], g[1][b]), g[2][b]));
    h[3][b] = g[2][b];
  }
  for (int i = 0; i < 4; ++i) {  // (G g) Gᵀ
    out[i * 4 + 0] = h[i][0];
    out[i * 4 + 1] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(h[i][0], h[i][1]), h[i][2]));
    out[i * 4 + 2] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(h[i][0], h[i][1]), h[i][2]));
    out[i * 4 + 3] = h[i][2];
  }
}

}  // namespace
#endif

const float* winograd_kernels(const float* w, I64 R, I64 S, I64 rs_r, I64 rs_s, bool flip) {
  thread_local GrowingBuffer ubuf;
  const I64 Rp = packed_rows(R), plane = Rp * S;
  float* U = ubuf.get(16 * plane);
#if RELPROP_WINOGRAD_AVX2
  // One panel of MR rows r (lanes; those past R are zeros) and one s at a time: the
  // panel's 16 transforms for one s are MR consecutive floats of packed A. Whole vectors
  // are stored: the 2 floats past them belong to the next s, written after; the last s of
  // a chunk, or of a thread's share (whose next floats are another panel's or thread's),
  // is stored float by float.
  static_assert(kPackedMR <= 8);
  const I64 panels = Rp / kPackedMR;
  const auto put = [&](const __m256 g[3][3], I64 r0, I64 s, bool last) {
    __m256 u[16];
    transform_kernels(g, u);
    float* dst = U + packed_a_index(r0, s, R, S);
    for (int xi = 0; xi < 16; ++xi) {
      if (!last) {
        _mm256_storeu_ps(dst + xi * plane, u[xi]);
      } else {
        alignas(32) float v[8];
        _mm256_store_ps(v, u[xi]);
        std::memcpy(dst + xi * plane, v, sizeof(float) * kPackedMR);
      }
    }
  };
  const bool par = R * S > 4096 && !omp_in_parallel();
  // (The gather offsets are 32-bit: lane·rs_r must fit.)
  if (rs_s <= rs_r && 7 * rs_r <= std::numeric_limits<std::int32_t>::max()) {
    // w contiguous along s (a forward weight): panels dealt out, each running through every
    // s (long runs of stores per ξ), its MR kernels gathered rs_r floats apart.
    const __m256i offsets =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(rs_r)));
#pragma omp parallel for schedule(static) if (par)
    for (I64 ip = 0; ip < panels; ++ip) {
      const I64 r0 = ip * kPackedMR;
      const __m256 lanes = _mm256_castsi256_ps(first_lanes(std::min<I64>(kPackedMR, R - r0)));
      for (I64 s = 0; s < S; ++s) {
        __m256 g[3][3];
        for (int e = 0; e < 9; ++e)
          g[e / 3][e % 3] =
              _mm256_mask_i32gather_ps(_mm256_setzero_ps(), w + r0 * rs_r + s * rs_s + (flip ? 8 - e : e), offsets, lanes, 4);
        put(g, r0, s, (s + 1) % kPackedKC == 0 || s + 1 == S);
      }
    }
  } else {
    // w contiguous along r (the transposed weight): blocks of kSB s dealt out; each first
    // copied element-major, g[e][s][r] (r fastest, zeros past R), then read with plain loads.
    constexpr I64 kSB = 16;
    const I64 Rq = Rp + 2;  // + 2: the last panel's loads of 8
    const I64 blocks = (S + kSB - 1) / kSB;
#pragma omp parallel if (par)
    {
      std::unique_ptr<float[]> gbuf(new float[static_cast<std::size_t>(9 * kSB * Rq)]);
      float* gs = gbuf.get();
#pragma omp for schedule(static)
      for (I64 blk = 0; blk < blocks; ++blk) {
        const I64 s0 = blk * kSB, sn = std::min(kSB, S - s0);
        for (I64 j = 0; j < sn; ++j) {
          for (int e = 0; e < 9; ++e) std::fill(gs + (e * kSB + j) * Rq + R, gs + (e * kSB + j + 1) * Rq, 0.0f);
          for (I64 r = 0; r < R; ++r) {
            const float* k = w + r * rs_r + (s0 + j) * rs_s;
            for (int e = 0; e < 9; ++e) gs[(e * kSB + j) * Rq + r] = k[flip ? 8 - e : e];
          }
        }
        for (I64 ip = 0; ip < panels; ++ip)
          for (I64 j = 0; j < sn; ++j) {
            __m256 g[3][3];
            for (int e = 0; e < 9; ++e) g[e / 3][e % 3] = _mm256_loadu_ps(gs + (e * kSB + j) * Rq + ip * kPackedMR);
            const I64 s = s0 + j;
            put(g, ip * kPackedMR, s, (s + 1) % kPackedKC == 0 || j + 1 == sn);
          }
      }
    }
  }
#else
  (void)w, (void)R, (void)S, (void)rs_r, (void)rs_s, (void)flip, (void)U;
  throw std::logic_error("winograd_kernels: the AVX2 kernels are not compiled in (check winograd_available())");
#endif
  return U;
}

void winograd_conv3x3(const float* x, I64 S, I64 H, I64 W, const float* U, I64 R, I64 pt, I64 pl, I64 HO, I64 WO,
                      float* out) {
#if RELPROP_WINOGRAD_AVX2
  if (R <= 0 || HO <= 0 || WO <= 0) return;
  if (S <= 0) {
    std::fill(out, out + R * HO * WO, 0.0f);
    return;
  }
  const I64 TH = (HO + 1) / 2, TW = (WO + 1) / 2;
  const I64 RB = std::clamp<I64>(kBlockFloats / (std::max(R, S) * TW), 1, TH);
  // Per calling thread; V 64-byte aligned (the kernel loads B's panels with aligned loads).
  thread_local GrowingBuffer vbuf, mbuf;
  float* V = vbuf.get(16 * S * packed_cols(RB * TW));
  float* M = mbuf.get(16 * R * RB * TW + 8);  // + 8: output_tiles reads whole vectors
  std::fill(M + 16 * R * RB * TW, M + 16 * R * RB * TW + 8, 0.0f);  // never written otherwise
  const I64 Up = packed_rows(R) * S;                      // floats per transformed kernel set
  constexpr I64 kRowsPerItem = 96;                        // rows of one product per work item
  const I64 items_per_xi = (R + kRowsPerItem - 1) / kRowsPerItem;
  const bool par = !omp_in_parallel() && omp_get_max_threads() > 1;
  for (I64 th0 = 0; th0 < TH; th0 += RB) {
    const I64 rb = std::min(RB, TH - th0), TB = rb * TW, TBp = packed_cols(TB);
#pragma omp parallel if (par)
    {
      // Panel by panel (16 tiles), every channel: each channel's 16 floats per ξ go to
      // consecutive places of the packed operands.
      const I64 panels = TBp / kPackedNR;
#pragma omp for schedule(static)
      for (I64 p = 0; p < panels; ++p) {
        Run runs[kPackedNR];
        const int nruns = panel_runs(p * kPackedNR, std::min(TB, (p + 1) * kPackedNR), th0, TW, runs);
        alignas(32) float tv[16 * kTv];
        std::fill(tv, tv + 16 * kTv, 0.0f);  // the last panel's lanes past TB stay finite
        for (I64 s = 0; s < S; ++s) {
          const float* xs = x + s * H * W;
          for (int u = 0; u < nruns; ++u) run_tiles(xs, H, W, pt, pl, runs[u], tv);
          float* dst = V + packed_b_index(s, p * kPackedNR, TB, S);
          for (int xi = 0; xi < 16; ++xi) {
            _mm256_store_ps(dst + xi * S * TBp, _mm256_load_ps(tv + xi * kTv));
            _mm256_store_ps(dst + xi * S * TBp + 8, _mm256_load_ps(tv + xi * kTv + 8));
          }
        }
      }
      // The 16 products in pieces of kRowsPerItem rows, handed out as threads come free.
#pragma omp for schedule(dynamic, 1)
      for (I64 item = 0; item < 16 * items_per_xi; ++item) {
        const I64 xi = item / items_per_xi, i0 = item % items_per_xi * kRowsPerItem;
        sgemm_packed(R, TB, S, i0, std::min(R, i0 + kRowsPerItem), U + xi * Up, V + xi * S * TBp, M + xi * R * TB, TB);
      }
#pragma omp for schedule(static)
      for (I64 r = 0; r < R; ++r) {
        float* outr = out + r * HO * WO;
        for (I64 th = th0; th < th0 + rb; ++th) {
          const I64 oh = 2 * th;
          output_tiles(M, R * TB, r * TB + (th - th0) * TW, TW, WO, oh + 1 < HO, outr + oh * WO,
                       outr + std::min(oh + 1, HO - 1) * WO);
        }
      }
    }
  }
#else
  (void)x, (void)S, (void)H, (void)W, (void)U, (void)R, (void)pt, (void)pl, (void)HO, (void)WO, (void)out;
  throw std::logic_error("winograd_conv3x3: the AVX2 kernels are not compiled in (check winograd_available())");
#endif
}

}  // namespace relprop::detail
