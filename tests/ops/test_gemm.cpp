// relprop's own SGEMM (ops/gemm.hpp) against a float64 product: every layout the kernels
// pass (plain, transposed A, transposed B, strided C), shapes with partial register tiles
// and more than one cache block in each dimension, one and two threads, and calls from
// inside a parallel region. Sums are of dyadic values so float32 must be exact unless
// the product's own rounding is at stake; the random rows check the rounding bound.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops/gemm.hpp"
#include "ops/kernels.hpp"

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
    {1, 1, 1},     {5, 7, 3},      {6, 16, 1},    {7, 17, 9},     {12, 32, 256}, {13, 33, 257},
    {64, 49, 576}, {145, 20, 300}, {37, 2100, 40}, {300, 70, 530}, {4, 4, 0},
};

}  // namespace

TEST_CASE("sgemm: exact on dyadic data in every layout, shape and thread count") {
  for (const Case& s : kShapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int threads : {1, 2}) {
          CAPTURE(s.M);
          CAPTURE(s.N);
          CAPTURE(s.K);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(threads);
          CHECK(check(s, ta, tb, 3, true, threads) == 0.0);
        }
}

TEST_CASE("sgemm: float32 rounding bounded on random data") {
  for (const Case& s : {Case{70, 90, 1000}, Case{200, 33, 700}})
    for (int tb = 0; tb < 2; ++tb) {
      const double d = check(s, false, tb, 0, false, 2);
      // |fl(Σ) - Σ| ≤ γ_k Σ|a b| with k ≤ KC per block plus the block adds: far below.
      CHECK(d < 1e-5);
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
