// relprop's own SGEMM (see ops/gemm.hpp). Loop structure after BLIS (Van Zee & van de
// Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", 2015):
// columns of C in blocks of NC, k in blocks of KC (B's KC × NC panel packed once), rows
// in blocks of MC (A's MC × KC block packed), then register tiles (ops/gemm_kernels.hpp).
// Products with at most 4 rows (or columns) skip A's packing and run one B panel at a time.
// Every path sums each output in the one order of ops/gemm_kernels.hpp.
#include "relprop/ops/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "relprop/ops/gemm_kernels.hpp"

namespace relprop::detail {

namespace {

using I64 = std::int64_t;
using gk::KC;
using gk::MR;
using gk::NR;

static_assert(MR == kPackedMR && NR == kPackedNR && KC == kPackedKC, "gemm.hpp's packed layout is the kernels'");

// MC × KC floats of A (144 KiB) stay in L2 while B's KC × NC panel (2 MiB) sits in L3; a
// KC × NR (or 2 NR) panel of B stays in L1 while a row of tiles passes. MC is a multiple of
// the AVX-512 kernel's 12 rows.
constexpr I64 MC = 144, NC = 2048;
// Products with at most this many rows (or columns) take the matrix-vector path.
constexpr I64 kSkinny = 4;

GemmKernel best_compiled() {
#if RELPROP_GEMM_AVX512
  return GemmKernel::Avx512;
#elif RELPROP_GEMM_AVX2
  return GemmKernel::Avx2;
#else
  return GemmKernel::Portable;
#endif
}

// The kernel in use: the widest compiled in, or RELPROP_GEMM_KERNEL (portable, avx2,
// avx512) when that one is compiled in; set_gemm_kernel changes it.
std::atomic<int>& kernel_setting() {
  static std::atomic<int> k{[] {
    GemmKernel chosen = best_compiled();
    if (const char* v = std::getenv("RELPROP_GEMM_KERNEL")) {
      const std::string s(v);
      const GemmKernel asked = s == "portable" ? GemmKernel::Portable
                               : s == "avx2"   ? GemmKernel::Avx2
                               : s == "avx512" ? GemmKernel::Avx512
                                               : chosen;
      if (gemm_kernel_compiled(asked)) chosen = asked;
    }
    return static_cast<int>(chosen);
  }()};
  return k;
}

// A per-thread scratch of at least n floats, kept between calls (64-byte aligned).
class GrowingRows {
 public:
  float* get(I64 n) {
    if (n > capacity_) {
      std::free(data_);
      data_ = static_cast<float*>(std::aligned_alloc(64, static_cast<std::size_t>((n + 15) / 16 * 16) * sizeof(float)));
      capacity_ = data_ ? n : 0;
      if (!data_) throw std::bad_alloc();
    }
    return data_;
  }
  GrowingRows() = default;
  GrowingRows(const GrowingRows&) = delete;
  GrowingRows& operator=(const GrowingRows&) = delete;
  ~GrowingRows() { std::free(data_); }

 private:
  float* data_ = nullptr;
  I64 capacity_ = 0;
};

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

// Packing copies values, so any packer serves any kernel.
void pack_b(I64 kc, I64 nc, const float* b, I64 rsb, I64 csb, float* dst) {
#if RELPROP_GEMM_AVX2
  gk::pack_b_avx2(kc, nc, b, rsb, csb, dst);
#else
  gk::pack_b_generic(kc, nc, b, rsb, csb, dst);
#endif
}

void pack_a(I64 mc, I64 kc, const float* a, I64 rsa, I64 csa, float* dst) {
#if RELPROP_GEMM_AVX2
  gk::pack_a_avx2(mc, kc, a, rsa, csa, dst);
#else
  gk::pack_a_generic(mc, kc, a, rsa, csa, dst);
#endif
}

// C[0..mc, 0..nc) (C(i, j) = c[i·rsc + j·csc]) = (accumulate ? C : 0) + A · B for one chunk
// of kc steps, A packed (ceil(mc / MR) panels from pa), B packed (ceil(nc / NR) panels
// from pb). B's panels outer, so one stays in L1 while A's pass.
void block(GemmKernel kernel, I64 mc, I64 nc, I64 kc, const float* pa, const float* pb, float* c, I64 rsc, I64 csc,
           bool accumulate) {
  switch (kernel) {
#if RELPROP_GEMM_AVX512
    case GemmKernel::Avx512: {
      alignas(64) float tile[2 * MR * 2 * NR];
      for (I64 jr = 0; jr < nc; jr += 2 * NR) {
        const I64 nr = std::min(2 * NR, nc - jr);
        const int cp = nr > NR ? 2 : 1;
        const float* bp = pb + jr * kc;
        for (I64 ir = 0; ir < mc; ir += 2 * MR) {
          const I64 mr = std::min(2 * MR, mc - ir);
          const int rp = mr > MR ? 2 : 1;
          const float* ap = pa + ir * kc;
          float* cp_ = c + ir * rsc + jr * csc;
          const bool whole = mr == rp * MR && nr == cp * NR && csc == 1;
          float* out = whole ? cp_ : tile;
          const I64 ld = whole ? rsc : 2 * NR;
          const bool acc = whole && accumulate;
          if (rp == 2 && cp == 2) gk::kernel_avx512<2, 2>(kc, ap, bp, out, ld, acc);
          else if (rp == 2) gk::kernel_avx512<2, 1>(kc, ap, bp, out, ld, acc);
          else if (cp == 2) gk::kernel_avx512<1, 2>(kc, ap, bp, out, ld, acc);
          else gk::kernel_avx512<1, 1>(kc, ap, bp, out, ld, acc);
          if (!whole)
            for (I64 i = 0; i < mr; ++i)
              for (I64 j = 0; j < nr; ++j) {
                float& o = cp_[i * rsc + j * csc];
                o = accumulate ? o + tile[i * 2 * NR + j] : tile[i * 2 * NR + j];
              }
        }
      }
      return;
    }
#endif
#if RELPROP_GEMM_AVX2
    case GemmKernel::Avx2: {
      alignas(32) float tile[MR * NR];
      for (I64 jr = 0; jr < nc; jr += NR) {
        const I64 nr = std::min(NR, nc - jr);
        const float* bp = pb + jr * kc;
        for (I64 ir = 0; ir < mc; ir += MR) {
          const I64 mr = std::min(MR, mc - ir);
          const float* ap = pa + ir * kc;
          float* cp_ = c + ir * rsc + jr * csc;
          if (mr == MR && nr == NR && csc == 1) {
            gk::kernel_avx2(kc, ap, bp, cp_, rsc, accumulate);
          } else {
            gk::kernel_avx2(kc, ap, bp, tile, NR, false);
            for (I64 i = 0; i < mr; ++i)
              for (I64 j = 0; j < nr; ++j) {
                float& o = cp_[i * rsc + j * csc];
                o = accumulate ? o + tile[i * NR + j] : tile[i * NR + j];
              }
          }
        }
      }
      return;
    }
#endif
    default:
      for (I64 jr = 0; jr < nc; jr += NR)
        for (I64 ir = 0; ir < mc; ir += MR)
          gk::kernel_generic(kc, pa + ir * kc, pb + jr * kc, c + ir * rsc + jr * csc, rsc, csc, std::min(MR, mc - ir),
                             std::min(NR, nc - jr), accumulate);
      return;
  }
}

#if RELPROP_GEMM_AVX2

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

#endif  // RELPROP_GEMM_AVX2

// B as a strided matrix, B(k, j) = b[k·rsb + j·csb]: packs rows [pc, pc + kc) and
// columns [jc, jc + nc) into NR-column panels.
struct StridedB {
  const float* b;
  I64 rsb, csb;
  void operator()(I64 pc, I64 kc, I64 jc, I64 nc, float* dst) const {
    pack_b(kc, nc, b + pc * rsb + jc * csb, rsb, csb, dst);
  }
};

// C(i, j) = c[i·rsc + j·csc] for columns [j0, j0 + N) of B (the packer is handed absolute
// column indices), on the calling thread.
template <class PackB>
void sgemm_serial(GemmKernel kernel, I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const PackB& packer,
                  I64 j0, float* c, I64 rsc, I64 csc) {
  Buffers& buf = buffers();
  for (I64 jc = 0; jc < N; jc += NC) {
    const I64 nc = std::min(NC, N - jc);
    for (I64 pc = 0; pc < K; pc += KC) {
      const I64 kc = std::min(KC, K - pc);
      packer(pc, kc, j0 + jc, nc, buf.b);
      for (I64 ic = 0; ic < M; ic += MC) {
        const I64 mc = std::min(MC, M - ic);
        pack_a(mc, kc, a + ic * rsa + pc * csa, rsa, csa, buf.a);
        block(kernel, mc, nc, kc, buf.a, buf.b, c + ic * rsc + jc * csc, rsc, csc, pc > 0);
      }
    }
  }
}

// The rows and columns of a kernel's register tile.
I64 tile_rows(GemmKernel k) { return k == GemmKernel::Avx512 ? 2 * MR : MR; }
I64 tile_cols(GemmKernel k) { return k == GemmKernel::Avx512 ? 2 * NR : NR; }

// The share of a tiling's multiply-adds that are not padding (partial edge tiles).
double tile_use(GemmKernel k, I64 m, I64 n) {
  const I64 tr = tile_rows(k), tc = tile_cols(k);
  const double rows = static_cast<double>(m) / static_cast<double>(tr * ((m + tr - 1) / tr));
  const double cols = static_cast<double>(n) / static_cast<double>(tc * ((n + tc - 1) / tc));
  return rows * cols;
}

// Runs chunk(t, threads) for t < threads as a worksharing loop (every chunk is computed
// even when the runtime grants fewer threads than asked for: OMP_DYNAMIC,
// OMP_THREAD_LIMIT), the first exception rethrown after the loop.
template <class Chunk>
void for_chunks(int threads, const Chunk& chunk) {
  std::exception_ptr failure;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    try {
      chunk(t);
    } catch (...) {
#pragma omp critical(relprop_sgemm_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
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
  const GemmKernel kernel = gemm_kernel();
  const int threads = gemm_threads(M, N, K);
  if (threads <= 1) {
    sgemm_serial(kernel, M, N, K, a, rsa, csa, packer, 0, c, rsc, csc);
    return;
  }
  const I64 row_unit = tile_rows(kernel), col_unit = tile_cols(kernel);
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
  for_chunks(threads, [&](int t) {
    const I64 lo = start(t), len = start(t + 1) - lo;
    if (len <= 0) return;
    if (by_cols) sgemm_serial(kernel, M, len, K, a, rsa, csa, packer, lo, c + lo * csc, rsc, csc);
    else sgemm_serial(kernel, len, N, K, a + lo * rsa, rsa, csa, packer, 0, c + lo * rsc, rsc, csc);
  });
}

// C = A · B for M <= kSkinny rows (matrix-vector shapes), A read in place, no packing of
// A: B's rows contiguous (a transposed map): gk::skinny_rows; B's columns contiguous (a
// linear layer's forward): columns transposed in registers (gk::skinny_cols_avx2);
// otherwise one packed panel of NR columns at a time. The columns are dealt out to the
// threads.
void skinny(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
            I64 rsc, I64 csc) {
  const GemmKernel kernel = gemm_kernel();
  enum class Form { Rows, Cols, Panels } form = Form::Panels;
  if (csb == 1) form = Form::Rows;
#if RELPROP_GEMM_AVX2
  else if (rsb == 1 && kernel != GemmKernel::Portable) form = Form::Cols;
#endif
  const I64 unit = form == Form::Rows ? 64 : form == Form::Cols ? 8 : NR;  // columns a thread's share is made of
  const I64 units = (N + unit - 1) / unit;
  const int threads = static_cast<int>(std::min<I64>(gemm_threads(M, N, K), units));
  // Columns [j0, j1) of C.
  const auto columns = [&](I64 j0, I64 j1) {
    if (j1 <= j0) return;
    const float* bj = b + j0 * csb;
    float* cj = c + j0 * csc;
    const I64 n = j1 - j0;
    if (form == Form::Rows) {
      // Up to 16384 columns' sums per row (256 KiB for 4 rows, in L2): B's rows are then
      // read in long runs (runs of 2 KiB left wide matrices at 0.6x of the memory's rate).
      constexpr I64 NB = 16384;
      thread_local GrowingRows sums;
      gk::skinny_rows(M, n, K, a, rsa, csa, bj, rsb, cj, rsc, csc, sums.get(4 * std::min(NB, n)), std::min(NB, n));
      return;
    }
#if RELPROP_GEMM_AVX2
    if (form == Form::Cols) {
      I64 j = 0;
      const auto run8 = [&](auto m, auto g) {
        constexpr int Mc = decltype(m)::value, G = decltype(g)::value;
        for (; j + 8 * G <= n; j += 8 * G)
          gk::skinny_cols_avx2<Mc, G>(K, a, rsa, csa, bj + j * csb, csb, cj + j * csc, rsc, csc);
      };
      using std::integral_constant;
      // Two groups of 8 columns for one or two rows: more sums in flight (the FMA latency)
      // at 16 rows of B read at once (more streams were slower).
      switch (M) {
        case 1: run8(integral_constant<int, 1>{}, integral_constant<int, 2>{}); run8(integral_constant<int, 1>{}, integral_constant<int, 1>{}); break;
        case 2: run8(integral_constant<int, 2>{}, integral_constant<int, 2>{}); run8(integral_constant<int, 2>{}, integral_constant<int, 1>{}); break;
        case 3: run8(integral_constant<int, 3>{}, integral_constant<int, 1>{}); break;
        default: run8(integral_constant<int, 4>{}, integral_constant<int, 1>{}); break;
      }
      gk::skinny_cols_generic(M, n - j, K, a, rsa, csa, bj + j * csb, csb, cj + j * csc, rsc, csc);
      return;
    }
#endif
    alignas(64) float buf[KC * NR];
    for (I64 j = 0; j < n; j += NR) {
      const I64 nr = std::min(NR, n - j);
      for (I64 pc = 0; pc < K; pc += KC) {
        const I64 kc = std::min(KC, K - pc);
        pack_b(kc, nr, bj + pc * rsb + j * csb, rsb, csb, buf);
        const float* ap = a + pc * csa;
        float* cp = cj + j * csc;
        const bool acc = pc > 0;
#if RELPROP_GEMM_AVX2
        if (kernel != GemmKernel::Portable) {
          switch (M) {
            case 1: gk::skinny_avx2<1>(kc, ap, rsa, csa, buf, NR, cp, rsc, csc, nr, acc); break;
            case 2: gk::skinny_avx2<2>(kc, ap, rsa, csa, buf, NR, cp, rsc, csc, nr, acc); break;
            case 3: gk::skinny_avx2<3>(kc, ap, rsa, csa, buf, NR, cp, rsc, csc, nr, acc); break;
            default: gk::skinny_avx2<4>(kc, ap, rsa, csa, buf, NR, cp, rsc, csc, nr, acc); break;
          }
          continue;
        }
#endif
        gk::skinny_generic(M, kc, ap, rsa, csa, buf, NR, cp, rsc, csc, nr, acc);
      }
    }
  };
  if (threads <= 1) {
    columns(0, N);
    return;
  }
  for_chunks(threads, [&](int t) {
    columns(std::min(N, t * units / threads * unit), std::min(N, (t + 1) * units / threads * unit));
  });
}

}  // namespace

bool gemm_kernel_compiled(GemmKernel k) noexcept {
  switch (k) {
    case GemmKernel::Portable: return true;
    case GemmKernel::Avx2: return RELPROP_GEMM_AVX2 != 0;
    case GemmKernel::Avx512: return RELPROP_GEMM_AVX512 != 0;
  }
  return false;
}

GemmKernel gemm_kernel() noexcept { return static_cast<GemmKernel>(kernel_setting().load(std::memory_order_relaxed)); }

void set_gemm_kernel(GemmKernel k) {
  if (!gemm_kernel_compiled(k)) throw std::invalid_argument("set_gemm_kernel: that kernel is not compiled into this build");
  kernel_setting().store(static_cast<int>(k), std::memory_order_relaxed);
}

bool sgemm_conv_available() noexcept { return RELPROP_GEMM_AVX2 != 0; }

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

void sgemm(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
           I64 rsc, I64 csc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (I64 i = 0; i < M; ++i)
      for (I64 j = 0; j < N; ++j) c[i * rsc + j * csc] = 0.0f;
    return;
  }
  // Cᵀ = Bᵀ · Aᵀ where that suits the kernels better (few rows; or a narrow C such as the
  // 7 × 7 = 49 columns of a late convolution: 49 of 64 used one way, 49 of 54 the other).
  // Each element's sum runs over k in the same order either way.
  if (M <= kSkinny && M <= N) skinny(M, N, K, a, rsa, csa, b, rsb, csb, c, rsc, csc);
  else if (N <= kSkinny) skinny(N, M, K, b, csb, rsb, a, csa, rsa, c, csc, rsc);
  else if (sgemm_transposes(M, N)) run(N, M, K, b, csb, rsb, StridedB{a, csa, rsa}, c, csc, rsc);
  else run(M, N, K, a, rsa, csa, StridedB{b, rsb, csb}, c, rsc, csc);
}

void sgemm(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const float* b, I64 rsb, I64 csb, float* c,
           I64 ldc) {
  sgemm(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, 1);
}

bool sgemm_transposes(I64 M, I64 N) noexcept {
  const GemmKernel k = gemm_kernel();
  return tile_use(k, N, M) > 1.08 * tile_use(k, M, N);
}

void sgemm_packed(I64 M, I64 N, I64 K, I64 i0, I64 i1, const float* ap, const float* bp, float* c, I64 ldc) {
  if (i0 < 0 || i0 % MR != 0 || i1 > M)
    throw std::invalid_argument("sgemm_packed: rows [i0, i1) must start at a panel (a multiple of 6) and end by M");
  if (i1 <= i0 || N <= 0) return;
  if (K <= 0) {
    for (I64 i = i0; i < i1; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  const GemmKernel kernel = gemm_kernel();
  const I64 Mp = packed_rows(M), Np = packed_cols(N);
  for (I64 pc = 0; pc < K; pc += KC) {
    const I64 kc = std::min(KC, K - pc);
    const float* A = ap + pc * Mp;
    const float* B = bp + pc * Np;
    for (I64 ic = i0; ic < i1; ic += MC) {  // MC rows of A (L2) against every panel of B
      const I64 ie = std::min(i1, ic + MC);
      block(kernel, ie - ic, N, kc, A + ic * kc, B, c + ic * ldc, ldc, 1, pc > 0);
    }
  }
}

void sgemm_conv(I64 M, I64 N, I64 K, const float* a, I64 rsa, I64 csa, const ConvB& b, float* c, I64 ldc) {
#if RELPROP_GEMM_AVX2
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
  throw std::logic_error("sgemm_conv: the AVX2 packer is not compiled in (check sgemm_conv_available())");
#endif
}

}  // namespace relprop::detail
