// relprop's own SGEMM (ops/gemm.hpp) against a float64 product: every layout the kernels
// pass (plain, transposed A, transposed B, strided C), shapes with partial register tiles,
// matrix-vector shapes and more than one cache block in each dimension, one to three
// threads, every compiled kernel, and calls from inside a parallel region. Sums are of
// dyadic values so float32 must be exact unless the product's own rounding is at stake;
// the random rows check the rounding bound, and that every kernel, thread count and row
// count gives the same bits.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "relprop/ops/gemm.hpp"
#include "relprop/ops/kernels.hpp"
#include "reference/gemm_kernels.hpp"

using relprop::detail::sgemm;

namespace {

struct Case {
  std::int64_t M, N, K;
};

// A(i,k) = a[i*rsa + k*csa] stored in a buffer of rows*cols, either layout.
struct Operand {
  std::vector<float> v;
  std::int64_t rs, cs;
  float at(std::int64_t i, std::int64_t k) const { return v[static_cast<std::size_t>(i * rs + k * cs)]; }
};

Operand make(std::int64_t rows, std::int64_t cols, bool transposed, std::mt19937& g, bool dyadic) {
  Operand o;
  o.v.resize(static_cast<std::size_t>(rows * cols));
  std::uniform_int_distribution<int> q(-16, 16);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& x : o.v) x = dyadic ? static_cast<float>(q(g)) / 16.0f : u(g);
  o.rs = transposed ? 1 : cols;
  o.cs = transposed ? rows : 1;
  return o;
}

// max |C - A·B| / (Σ_k |A||B|) over the elements, in float64; exact products give 0.
double check(const Case& s, bool ta, bool tb, std::int64_t ldc_pad, bool dyadic, int threads) {
  std::mt19937 g(static_cast<unsigned>(s.M * 131 + s.N * 17 + s.K + ta * 7 + tb * 3));
  const Operand A = make(s.M, s.K, ta, g, dyadic), B = make(s.K, s.N, tb, g, dyadic);
  const std::int64_t ldc = s.N + ldc_pad;
  std::vector<float> C(static_cast<std::size_t>(s.M * ldc), 12345.0f);
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  sgemm(s.M, s.N, s.K, A.v.data(), A.rs, A.cs, B.v.data(), B.rs, B.cs, C.data(), ldc);
#ifdef _OPENMP
  omp_set_num_threads(saved);
#endif
  double worst = 0.0;
  for (std::int64_t i = 0; i < s.M; ++i) {
    for (std::int64_t j = 0; j < s.N; ++j) {
      double ref = 0.0, mag = 0.0;
      for (std::int64_t k = 0; k < s.K; ++k) {
        ref += static_cast<double>(A.at(i, k)) * B.at(k, j);
        mag += std::abs(static_cast<double>(A.at(i, k)) * B.at(k, j));
      }
      const double d = std::abs(C[static_cast<std::size_t>(i * ldc + j)] - ref) / (mag > 0 ? mag : 1.0);
      if (!(d <= worst)) worst = d;  // NaN sticks
    }
    // Padding between rows is never written.
    for (std::int64_t j = s.N; j < ldc; ++j) REQUIRE(C[static_cast<std::size_t>(i * ldc + j)] == 12345.0f);
  }
  return worst;
}

const Case kShapes[] = {
    {1, 1, 1},     {5, 7, 3},      {6, 16, 1},     {7, 17, 9},     {12, 32, 256}, {13, 33, 257},
    {64, 49, 576}, {145, 20, 300}, {37, 2100, 40}, {300, 70, 530}, {4, 4, 0},     {25, 47, 70},
    // Matrix-vector shapes (at most 4 rows or columns), one and several chunks of k.
    {1, 100, 600}, {3, 40, 7},     {4, 17, 300},   {90, 2, 513},   {70, 4, 33},   {2, 3, 1000},
};

}  // namespace

TEST_CASE("sgemm: exact on dyadic data in every layout, shape, thread count and kernel") {
  relprop::testing::each_gemm_kernel([](relprop::detail::GemmKernel) {
    for (const Case& s : kShapes)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (int threads : {1, 2, 3}) {
            CAPTURE(s.M);
            CAPTURE(s.N);
            CAPTURE(s.K);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(threads);
            CHECK(check(s, ta, tb, 3, true, threads) == 0.0);
          }
  });
}

TEST_CASE("sgemm: float32 rounding bounded on random data") {
  relprop::testing::each_gemm_kernel([](relprop::detail::GemmKernel) {
    for (const Case& s : {Case{70, 90, 1000}, Case{200, 33, 700}, Case{1, 300, 2000}})
      for (int tb = 0; tb < 2; ++tb) {
        const double d = check(s, false, tb, 0, false, 2);
        // |fl(Σ) - Σ| ≤ γ_k Σ|a b| with k ≤ KC per block plus the block adds: far below.
        CHECK(d < 1e-5);
      }
  });
}

// The promise the explanations rest on: an output's bits depend only on its row of A and
// its column of B. Random data (every rounding at stake); the product of all rows with one
// thread on the portable kernel is the reference, against every kernel at 1-3 threads,
// each row alone (a batch of one), rows in groups of 3 and 5, and the transposed
// orientation (C's rows as columns of a narrow product).
TEST_CASE("sgemm: the same bits for every kernel, thread count and number of rows") {
  using relprop::detail::GemmKernel;
  for (const Case& s : {Case{23, 70, 600}, Case{9, 3, 1000}, Case{40, 130, 37}}) {
    CAPTURE(s.M);
    CAPTURE(s.N);
    CAPTURE(s.K);
    for (int tb = 0; tb < 2; ++tb) {
      std::mt19937 g(static_cast<unsigned>(s.M + s.N + tb));
      const Operand A = make(s.M, s.K, false, g, false), B = make(s.K, s.N, tb != 0, g, false);
      const auto product = [&](std::int64_t r0, std::int64_t rows, int threads) {
        std::vector<float> C(static_cast<std::size_t>(rows * s.N), 12345.0f);
#ifdef _OPENMP
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
#else
        (void)threads;
#endif
        sgemm(rows, s.N, s.K, A.v.data() + r0 * A.rs, A.rs, A.cs, B.v.data(), B.rs, B.cs, C.data(), s.N);
#ifdef _OPENMP
        omp_set_num_threads(saved);
#endif
        return C;
      };
      std::vector<float> ref;
      {
        const GemmKernel saved = relprop::detail::gemm_kernel();
        relprop::detail::set_gemm_kernel(GemmKernel::Portable);
        ref = product(0, s.M, 1);
        relprop::detail::set_gemm_kernel(saved);
      }
      relprop::testing::each_gemm_kernel([&](GemmKernel) {
        for (int threads : {1, 2, 3}) {
          CAPTURE(threads);
          CHECK(product(0, s.M, threads) == ref);
          for (std::int64_t group : {1, 3, 5}) {
            CAPTURE(group);
            for (std::int64_t r0 = 0; r0 < s.M; r0 += group) {
              const std::int64_t rows = std::min(group, s.M - r0);
              const auto part = product(r0, rows, threads);
              const std::vector<float> want(ref.begin() + r0 * s.N, ref.begin() + (r0 + rows) * s.N);
              CHECK(part == want);
            }
          }
          // Cᵀ = Bᵀ Aᵀ through the same entry point, written into C's transpose.
          std::vector<float> T(static_cast<std::size_t>(s.N * s.M));
#ifdef _OPENMP
          const int saved = omp_get_max_threads();
          omp_set_num_threads(threads);
#endif
          sgemm(s.N, s.M, s.K, B.v.data(), B.cs, B.rs, A.v.data(), A.cs, A.rs, T.data(), 1, s.N);
#ifdef _OPENMP
          omp_set_num_threads(saved);
#endif
          CHECK(T == ref);
        }
      });
    }
  }
}

TEST_CASE("sgemm: the same bits for one and two threads and inside a parallel region") {
  const std::int64_t M = 130, N = 150, K = 600;
  std::mt19937 g(7);
  const Operand A = make(M, K, false, g, false), B = make(K, N, true, g, false);
  auto run = [&](int threads, bool nested) {
    std::vector<float> C(static_cast<std::size_t>(M * N));
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    if (nested) {
#pragma omp parallel num_threads(2)
      {
#pragma omp single
        sgemm(M, N, K, A.v.data(), A.rs, A.cs, B.v.data(), B.rs, B.cs, C.data(), N);
      }
    } else {
      sgemm(M, N, K, A.v.data(), A.rs, A.cs, B.v.data(), B.rs, B.cs, C.data(), N);
    }
    omp_set_num_threads(saved);
#else
    (void)threads;
    (void)nested;
    sgemm(M, N, K, A.v.data(), A.rs, A.cs, B.v.data(), B.rs, B.cs, C.data(), N);
#endif
    return C;
  };
  const auto one = run(1, false), two = run(2, false), inside = run(2, true);
  CHECK(one == two);
  CHECK(one == inside);
}

TEST_CASE("detail::gemm: Eigen views (transposes, column blocks, strided rows) give the product") {
  using namespace relprop::detail;
  std::mt19937 g(3);
  std::uniform_int_distribution<int> q(-8, 8);
  RowMat W(40, 70), X(70, 90), Y(40, 90), Yref(40, 90);
  for (auto* m : {&W, &X})
    for (Eigen::Index i = 0; i < m->size(); ++i) m->data()[i] = static_cast<float>(q(g)) / 8.0f;
  // Y = W · X
  gemm(Y, W, X);
  Yref = (W.cast<double>() * X.cast<double>()).cast<float>();
  CHECK(Y == Yref);
  // Z = Wᵀ · Y  (transposed A)
  RowMat Z(70, 90);
  gemm(Z, W.transpose(), Y);
  CHECK(Z == (W.transpose().cast<double>() * Y.cast<double>()).cast<float>().eval());
  // A column block written through a strided map (the convolutions' output tiles).
  RowMat big = RowMat::Constant(40, 200, -1.0f);
  Eigen::Map<RowMat, 0, Eigen::OuterStride<>> tile(big.data() + 50, 40, 90, Eigen::OuterStride<>(200));
  gemm(tile, W, X);
  CHECK(big.middleCols(50, 90) == Yref);
  CHECK((big.leftCols(50).array() == -1.0f).all());
  CHECK((big.rightCols(60).array() == -1.0f).all());
}

// sgemm_conv (B packed straight from a convolution's input) against the column matrix
// written out by hand and multiplied in float64. Geometries: panels crossing output rows
// (WO 20, 7, 1), K spanning several cache blocks with channels cut mid-block (40 x 3 x 3 =
// 360 > 256), height stride and dilation, padding wider than the kernel's reach, width
// dilation, trailing zeros (TF SAME), a small image where the panels' reach crosses
// the start and end of x, and the same kinds with a width stride of 2. Dyadic data: every sum is exact, so equality is required, for
// one and two threads.
TEST_CASE("sgemm_conv: the implicit column matrix gives the im2col product exactly") {
  using relprop::detail::ConvB;
  if (!relprop::detail::sgemm_conv_available()) {
    MESSAGE("skipped: the AVX2 packer is not compiled in");
    return;
  }
  struct G {
    std::int64_t M, C, H, W, KH, KW, sh, ph, pw, dh, dw, HO, WO, sw = 1;
  };
  // HO, WO as the convolution's output size for these pads (leading pads ph, pw; trailing
  // ones only lengthen the output, so HO / WO may exceed what the leading pads give).
  const G geoms[] = {
      {8, 3, 9, 20, 3, 3, 1, 1, 1, 1, 1, 9, 20},   {16, 40, 12, 12, 3, 3, 1, 1, 1, 1, 1, 12, 12},
      {6, 5, 11, 7, 3, 5, 2, 2, 3, 2, 1, 6, 9},     {12, 4, 10, 5, 3, 3, 1, 0, 0, 1, 2, 8, 1},
      {6, 3, 8, 7, 3, 3, 1, 0, 1, 1, 1, 7, 9},      {5, 2, 4, 3, 1, 5, 1, 0, 4, 1, 1, 4, 7},
      {7, 2, 3, 37, 3, 3, 1, 1, 1, 1, 1, 3, 37},    {9, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 2, 2},
      // Width stride 2: 3 x 3 with padding, a 1 x 1 downsample, a 7 x 7 stem, width
      // dilation, and an image small enough for the reach to cross both ends of x.
      {8, 3, 9, 21, 3, 3, 2, 1, 1, 1, 1, 5, 11, 2}, {6, 4, 14, 14, 1, 1, 2, 0, 0, 1, 1, 7, 7, 2},
      {5, 3, 16, 40, 7, 7, 2, 3, 3, 1, 1, 8, 20, 2}, {9, 2, 5, 9, 3, 3, 1, 1, 1, 1, 2, 5, 4, 2},
      {4, 1, 3, 5, 3, 3, 2, 1, 1, 1, 1, 2, 3, 2},   {6, 40, 12, 12, 3, 3, 2, 1, 1, 1, 1, 6, 6, 2},
      // Large enough to be split over two threads, past one 2048-column block.
      {8, 4, 70, 70, 3, 3, 1, 1, 1, 1, 1, 70, 70},  {8, 4, 130, 130, 3, 3, 2, 1, 1, 1, 1, 65, 65, 2},
  };
  std::mt19937 gen(11);
  std::uniform_int_distribution<int> q(-16, 16);
  for (const G& s : geoms) {
    CAPTURE(s.C);
    CAPTURE(s.H);
    CAPTURE(s.W);
    CAPTURE(s.WO);
    const std::int64_t K = s.C * s.KH * s.KW, N = s.HO * s.WO;
    std::vector<float> x(static_cast<std::size_t>(s.C * s.H * s.W)), a(static_cast<std::size_t>(s.M * K));
    for (auto& v : x) v = static_cast<float>(q(gen)) / 16.0f;
    for (auto& v : a) v = static_cast<float>(q(gen)) / 16.0f;
    // The column matrix, written out.
    std::vector<double> cols(static_cast<std::size_t>(K * N), 0.0);
    for (std::int64_t c = 0; c < s.C; ++c)
      for (std::int64_t kh = 0; kh < s.KH; ++kh)
        for (std::int64_t kw = 0; kw < s.KW; ++kw)
          for (std::int64_t oh = 0; oh < s.HO; ++oh)
            for (std::int64_t ow = 0; ow < s.WO; ++ow) {
              const std::int64_t ih = oh * s.sh - s.ph + kh * s.dh, iw = ow * s.sw - s.pw + kw * s.dw;
              if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
              cols[static_cast<std::size_t>(((c * s.KH + kh) * s.KW + kw) * N + oh * s.WO + ow)] =
                  x[static_cast<std::size_t>((c * s.H + ih) * s.W + iw)];
            }
    std::vector<float> expected(static_cast<std::size_t>(s.M * N));
    for (std::int64_t i = 0; i < s.M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        double sum = 0.0;
        for (std::int64_t k = 0; k < K; ++k) sum += a[static_cast<std::size_t>(i * K + k)] * cols[static_cast<std::size_t>(k * N + j)];
        expected[static_cast<std::size_t>(i * N + j)] = static_cast<float>(sum);
      }
    const ConvB b{x.data(), s.C, s.H, s.W, s.KH, s.KW, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.WO};
    relprop::testing::each_gemm_kernel([&](relprop::detail::GemmKernel) {
      for (int threads : {1, 2}) {
        CAPTURE(threads);
        std::vector<float> out(static_cast<std::size_t>(s.M * N), 12345.0f);
#ifdef _OPENMP
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
#endif
        relprop::detail::sgemm_conv(s.M, N, K, a.data(), K, 1, b, out.data(), N);
#ifdef _OPENMP
        omp_set_num_threads(saved);
#endif
        CHECK(out == expected);
      }
    });
  }
  // No input channels: every sum is empty, the output is zeros (not left as it was).
  {
    std::vector<float> none(1, 5.0f), out(6 * 20, 7.0f);
    const ConvB empty{none.data(), 0, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5};
    relprop::detail::sgemm_conv(6, 20, 0, none.data(), 0, 1, empty, out.data(), 20);
    CHECK(out == std::vector<float>(6 * 20, 0.0f));
  }
  // A width stride of 3 is not packed this way: refused, nothing written.
  std::vector<float> x(16, 1.0f), a(9 * 4, 1.0f), out(4, 7.0f);
  const ConvB strided{x.data(), 1, 4, 4, 3, 3, 1, 3, 1, 1, 1, 1, 2};
  CHECK_THROWS_AS(relprop::detail::sgemm_conv(4, 1 * 2, 9, a.data(), 9, 1, strided, out.data(), 2), std::invalid_argument);
  CHECK(out == std::vector<float>(4, 7.0f));
}
