// Winograd F(2x2, 3x3) (ops/winograd.hpp) and the packed-operand product it runs on
// (detail::sgemm_packed). On dyadic data (multiples of 1/16 in [-1, 1]) every transform,
// product and sum is exact in float32, so the results must equal a float64 direct
// convolution exactly: any misplaced tile, lane, panel, chunk or padding shows.

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "relprop/ops/conv.hpp"
#include "relprop/ops/gemm.hpp"
#include "relprop/ops/winograd.hpp"
#include "reference/gemm_kernels.hpp"
#include "reference/oracle.hpp"
#include "relprop/relevance/engine.hpp"

using namespace relprop;

namespace {

using I64 = std::int64_t;

std::vector<float> dyadic(I64 n, std::mt19937& g) {
  std::uniform_int_distribution<int> q(-16, 16);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = static_cast<float>(q(g)) / 16.0f;
  return v;
}

// Runs f with the OpenMP thread count set to `threads`.
template <class F>
void with_threads(int threads, F&& f) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  f();
  omp_set_num_threads(saved);
#else
  (void)threads;
  f();
#endif
}

}  // namespace

TEST_SUITE("ops.winograd") {
  TEST_CASE("sgemm_packed: operands in the kernel's panel layout give the float64 product exactly") {
    using detail::packed_a_index;
    using detail::packed_b_index;
    struct Case {
      I64 M, N, K, i0, i1;
    };
    // Partial register tiles both ways, K across two chunks (300 > 256), a row range that
    // starts at a later panel and ends inside one, more than one MC block of rows.
    const Case cases[] = {{6, 16, 8, 0, 6},     {13, 37, 300, 0, 13}, {20, 5, 1, 6, 17},
                          {200, 33, 64, 0, 200}, {31, 50, 257, 12, 31}};
    std::mt19937 gen(3);
    for (const Case& c : cases) {
      CAPTURE(c.M);
      CAPTURE(c.N);
      CAPTURE(c.K);
      const std::vector<float> a = dyadic(c.M * c.K, gen), b = dyadic(c.K * c.N, gen);
      std::vector<float> ap(static_cast<std::size_t>(detail::packed_rows(c.M) * c.K), 0.0f);
      std::vector<float> bp_store(static_cast<std::size_t>(detail::packed_cols(c.N) * c.K + 16), 0.0f);
      // The B panels are read with aligned loads: place them on a 32-byte boundary.
      float* bp = bp_store.data();
      while (reinterpret_cast<std::uintptr_t>(bp) % 32 != 0) ++bp;
      for (I64 i = 0; i < c.M; ++i)
        for (I64 k = 0; k < c.K; ++k) ap[static_cast<std::size_t>(packed_a_index(i, k, c.M, c.K))] = a[i * c.K + k];
      for (I64 k = 0; k < c.K; ++k)
        for (I64 j = 0; j < c.N; ++j) bp[packed_b_index(k, j, c.N, c.K)] = b[k * c.N + j];
      testing::each_gemm_kernel([&](detail::GemmKernel) {
        std::vector<float> out(static_cast<std::size_t>(c.M * c.N), 7.0f);
        detail::sgemm_packed(c.M, c.N, c.K, c.i0, c.i1, ap.data(), bp, out.data(), c.N);
        for (I64 i = 0; i < c.M; ++i)
          for (I64 j = 0; j < c.N; ++j) {
            double sum = 0.0;
            for (I64 k = 0; k < c.K; ++k) sum += double(a[i * c.K + k]) * b[k * c.N + j];
            // Rows outside [i0, i1) are left as they were.
            const float expected = i >= c.i0 && i < c.i1 ? static_cast<float>(sum) : 7.0f;
            if (out[static_cast<std::size_t>(i * c.N + j)] != expected) {
              CAPTURE(i);
              CAPTURE(j);
              CHECK(out[static_cast<std::size_t>(i * c.N + j)] == expected);
              return;
            }
          }
      });
    }
  }

  TEST_CASE("sgemm_packed refuses a row range that does not start at a panel or ends past M") {
    std::vector<float> a(64, 1.0f), c(16, 7.0f);
    alignas(32) float b[64] = {};
    CHECK_THROWS_AS(detail::sgemm_packed(12, 1, 2, 3, 12, a.data(), b, c.data(), 1), std::invalid_argument);
    CHECK_THROWS_AS(detail::sgemm_packed(12, 1, 2, 0, 13, a.data(), b, c.data(), 1), std::invalid_argument);
    CHECK(c == std::vector<float>(16, 7.0f));
  }

  TEST_CASE("winograd_conv3x3 equals the float64 direct convolution exactly on dyadic data") {
    if (!detail::winograd_available()) {
      MESSAGE("skipped: the AVX2 kernels are not compiled in");
      return;
    }
    struct G {
      I64 S, H, W, R, pt, pl, HO, WO;
    };
    const G geoms[] = {
        {3, 9, 20, 8, 1, 1, 9, 20},       // odd height: the last tile row's second row unused
        {8, 7, 7, 6, 0, 0, 5, 5},         // no padding, odd output
        {5, 1, 1, 7, 1, 1, 1, 1},         // a single pixel: one tile, mostly padding
        {4, 6, 13, 13, 2, 2, 8, 15},      // padding 2: rows and columns read wholly outside
        {6, 10, 12, 9, -1, -1, 6, 8},     // negative padding (a transpose with padding 3)
        {2, 5, 40, 5, 1, 0, 5, 38},       // wide rows: runs of 16 tiles inside a tile row
        {300, 11, 23, 16, 1, 1, 11, 23},  // K across two chunks; tiles straddle panels
        {17, 33, 35, 100, 1, 1, 33, 35},  // rows beyond one work item (96); several tile blocks
        {40, 30, 62, 20, 0, 1, 28, 61},   // asymmetric padding, trailing rows/columns unread
    };
    std::mt19937 gen(17);
    for (const G& s : geoms) {
      CAPTURE(s.S);
      CAPTURE(s.H);
      CAPTURE(s.W);
      CAPTURE(s.R);
      const std::vector<float> x = dyadic(s.S * s.H * s.W, gen), w = dyadic(s.R * s.S * 9, gen);
      for (const bool flip : {false, true}) {
        CAPTURE(flip);
        // flip: the kernels are stored as a transposed weight would be, (S, R, 3, 3),
        // and read rotated by 180 degrees.
        auto k = [&](I64 r, I64 c, I64 a, I64 b) {
          return flip ? w[static_cast<std::size_t>(((c * s.R + r) * 3 + (2 - a)) * 3 + (2 - b))]
                      : w[static_cast<std::size_t>(((r * s.S + c) * 3 + a) * 3 + b)];
        };
        std::vector<float> expected(static_cast<std::size_t>(s.R * s.HO * s.WO));
        for (I64 r = 0; r < s.R; ++r)
          for (I64 oh = 0; oh < s.HO; ++oh)
            for (I64 ow = 0; ow < s.WO; ++ow) {
              double sum = 0.0;
              for (I64 c = 0; c < s.S; ++c)
                for (I64 a = 0; a < 3; ++a)
                  for (I64 b = 0; b < 3; ++b) {
                    const I64 ih = oh - s.pt + a, iw = ow - s.pl + b;
                    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                    sum += double(x[static_cast<std::size_t>((c * s.H + ih) * s.W + iw)]) * k(r, c, a, b);
                  }
              expected[static_cast<std::size_t>((r * s.HO + oh) * s.WO + ow)] = static_cast<float>(sum);
            }
        for (int threads : {1, 2, 3}) {
          CAPTURE(threads);
          std::vector<float> out(expected.size(), 12345.0f);
          with_threads(threads, [&] {
            const float* U = flip ? detail::winograd_kernels(w.data(), s.R, s.S, 9, s.R * 9, true)
                                  : detail::winograd_kernels(w.data(), s.R, s.S, s.S * 9, 9, false);
            detail::winograd_conv3x3(x.data(), s.S, s.H, s.W, U, s.R, s.pt, s.pl, s.HO, s.WO, out.data());
          });
          CHECK(out == expected);
        }
      }
    }
    // No input channels: zeros.
    std::vector<float> none(1, 0.0f), out(2 * 3 * 4, 5.0f);
    detail::winograd_conv3x3(none.data(), 0, 3, 4, none.data(), 2, 1, 1, 3, 4, out.data());
    CHECK(out == std::vector<float>(2 * 3 * 4, 0.0f));
  }

  TEST_CASE("conv2d under ConvAlgorithm::Winograd: forward and every rule's backward-data pass") {
    if (!detail::winograd_available()) {
      MESSAGE("skipped: the AVX2 kernels are not compiled in");
      return;
    }
    struct Restore {
      ConvAlgorithm saved = conv_algorithm();
      ~Restore() { set_conv_algorithm(saved); }
    } restore;
    // 3 x 3, stride 1. At least 100 tiles of 2 x 2 in both passes (Winograd both ways):
    // padding 1, then 0 with TF-style trailing zeros (output 19 x 21) on a batch of two;
    // and a 14 x 14 output (49 tiles): Winograd forward, direct backward-data.
    struct Case {
      I64 N, C, H, W, O;
      Conv2dParams p;
      bool both;
    };
    Conv2dParams same;
    same.padding = {1, 1};
    Conv2dParams tf;
    tf.padding = {0, 1};
    tf.padding_end = {0, 2};
    const Case cases[] = {{1, 8, 20, 21, 10, same, true}, {2, 9, 21, 20, 8, tf, true}, {1, 12, 14, 14, 9, same, false}};
    for (const Case& c : cases) {
      CAPTURE(c.C);
      std::mt19937 gen(5);
      const auto xv = dyadic(c.N * c.C * c.H * c.W, gen), wv = dyadic(c.O * c.C * 9, gen), bv = dyadic(c.O, gen);
      const Tensor x = Tensor::from_vector(std::span<const float>(xv), {c.N, c.C, c.H, c.W});
      const Tensor w = Tensor::from_vector(std::span<const float>(wv), {c.O, c.C, 3, 3});
      const Tensor b = Tensor::from_vector(std::span<const float>(bv), {c.O});
      set_conv_algorithm(ConvAlgorithm::Direct);
      const Tensor zd = conv2d(x, w, b, c.p);
      set_conv_algorithm(ConvAlgorithm::Winograd);
      const Tensor zw = conv2d(x, w, b, c.p);
      // Dyadic data: both are exact, so they agree bit for bit.
      CHECK(zw.to_vector_f64() == zd.to_vector_f64());
      {  // On random data the forward is rounded differently: the Winograd path ran.
        const Tensor xq = oracle::random_tensor({c.N, c.C, c.H, c.W}, 6), wq = oracle::random_tensor({c.O, c.C, 3, 3}, 4);
        set_conv_algorithm(ConvAlgorithm::Direct);
        const Tensor qd = conv2d(xq, wq, {}, c.p);
        set_conv_algorithm(ConvAlgorithm::Winograd);
        const Tensor qw = conv2d(xq, wq, {}, c.p);
        CHECK(oracle::rel_err(qw, qd) > 0.0);
        CHECK(oracle::rel_err(qw, qd) < 1e-5);
      }
      // Every rule on random data: Winograd against Direct, to float rounding.
      const Tensor xr = oracle::random_tensor({c.N, c.C, c.H, c.W}, 7, 0.0, 1.0);
      const Tensor wr = oracle::random_tensor({c.O, c.C, 3, 3}, 8);
      const Tensor R = oracle::random_tensor(zd.shape(), 9);
      for (const Rule& rule : std::vector<Rule>{EpsilonRule{0.1}, ZPlusRule{0.1}, AlphaBetaRule{2.0, 1.0, 0.1},
                                                 GammaRule{0.25, 0.1}, WSquareRule{0.1}, FlatRule{0.1},
                                                 GradientRule{}, BacktraceRule{}}) {
        CAPTURE(rule_str(rule));
        auto explain = [&](ConvAlgorithm a) {
          set_conv_algorithm(a);
          Tape tape;
          Tensor y;
          {
            Recording rec(tape);
            y = conv2d(tape.input(xr, "x"), wr, b, c.p, "conv");
          }
          Composite comp("test");
          comp.set_fallback(rule);
          return propagate(tape, y, R, comp).input("x");
        };
        const Tensor direct = explain(ConvAlgorithm::Direct), wino = explain(ConvAlgorithm::Winograd);
        CHECK(oracle::rel_err(wino, direct) < 1e-5);
        // The gradient is one backward-data pass and nothing else: the Winograd path ran
        // where it should (its sums are rounded in another order), and only there.
        if (std::holds_alternative<GradientRule>(rule)) CHECK((oracle::rel_err(wino, direct) > 0.0) == c.both);
      }
    }
    // The setting is read back as set.
    set_conv_algorithm(ConvAlgorithm::Winograd);
    CHECK(conv_algorithm() == ConvAlgorithm::Winograd);
    set_conv_algorithm(ConvAlgorithm::Direct);
    CHECK(conv_algorithm() == ConvAlgorithm::Direct);
  }
}
