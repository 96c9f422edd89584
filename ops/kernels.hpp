#pragma once
// Eigen views used by the CPU kernels. Internal: not installed, not for public headers.

// GCC 12 reports "__Y is used uninitialized" inside its own avx512fintrin.h when
// Eigen's AVX-512 packet transposes are inlined (a compiler bug, fixed in GCC 13); the
// warning is attributed to the intrinsics, so it is silenced for Eigen's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>  // erf on packets (ops/activation.cpp)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/tensor.hpp"

namespace relprop::detail {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatMap = Eigen::Map<const RowMat>;
using MutMatMap = Eigen::Map<RowMat>;

// A contiguous float32 tensor seen as a (rows, cols) row-major matrix.
inline ConstMatMap cmat(const Tensor& t, std::int64_t rows, std::int64_t cols) {
  return ConstMatMap(t.data<float>(), rows, cols);
}
// A contiguous float32 tensor of n elements as a row vector (bias terms).
inline Eigen::Map<const Eigen::RowVectorXf> crow(const Tensor& t, std::int64_t n) {
  return Eigen::Map<const Eigen::RowVectorXf>(t.data<float>(), n);
}
inline MutMatMap mmat(const Tensor& t, std::int64_t rows, std::int64_t cols) {
  return MutMatMap(t.data<float>(), rows, cols);
}

// Y = A · B (Eigen matrices or maps, Y not aliasing A or B). Outside a parallel region
// the larger of Y's dimensions is dealt out in contiguous chunks to the OpenMP threads,
// each running one single-threaded Eigen GEMM: on the 2-core machines Eigen's own
// threading of one GEMM reaches half of this on the shapes of transformer layers (128 x
// 384 x 1536: 33 against 70 GFLOP/s) and of batch-1 dense layers. Small products, and
// calls inside a parallel region, run as one Eigen product.
template <class Y, class A, class B>
void gemm(Y&& y, const A& a, const B& b) {
  const Eigen::Index M = y.rows(), N = y.cols(), K = a.cols();
#ifdef _OPENMP
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  const int threads = 1;
#endif
  if (threads <= 1 || static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < 262144.0) {
    y.noalias() = a * b;
    return;
  }
  const bool by_cols = N >= M;
  const Eigen::Index extent = by_cols ? N : M;
  // Chunks in multiples of 16 (whole AVX-512 vectors / Eigen's register blocks).
  const Eigen::Index chunk = ((extent + threads - 1) / threads + 15) / 16 * 16;
  // Chunks handed out by a worksharing loop: every chunk is computed even when the
  // runtime grants fewer threads than asked for (OMP_DYNAMIC, OMP_THREAD_LIMIT).
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const Eigen::Index lo = std::min(extent, t * chunk), len = std::min(extent, lo + chunk) - lo;
    if (len > 0) {
      if (by_cols) y.middleCols(lo, len).noalias() = a * b.middleCols(lo, len);
      else y.middleRows(lo, len).noalias() = a.middleRows(lo, len) * b;
    }
  }
}

}  // namespace relprop::detail
