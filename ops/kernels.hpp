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
#include <type_traits>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "relprop/ops/gemm.hpp"
#include "relprop/tensor/tensor.hpp"

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

template <class E>
inline constexpr bool direct_access_v =
    (Eigen::internal::traits<std::decay_t<E>>::Flags & Eigen::DirectAccessBit) != 0 &&
    std::is_same_v<typename std::decay_t<E>::Scalar, float>;

// Y = A · B (Eigen matrices, maps, blocks or transposes of them; Y not aliasing A or B).
// Where relprop's own kernel is compiled in (ops/gemm.hpp) and all three have direct
// access with Y's rows contiguous, the product runs there, split over the OpenMP threads
// by whole register tiles (ops/gemm.cpp). Eigen's own threading of one GEMM had reached
// half of a per-thread split on transformer layers (128 x 384 x 1536: 33 against 70
// GFLOP/s, on the 2-core machines). Matrix-vector shapes (fewer than 4 rows or columns) stay with Eigen's GEMV.
// Without the kernel the same split runs single-threaded Eigen products per chunk.
template <class Y, class A, class B>
void gemm(Y&& y, const A& a, const B& b) {
  const Eigen::Index M = y.rows(), N = y.cols(), K = a.cols();
  if constexpr (direct_access_v<Y> && direct_access_v<A> && direct_access_v<B>) {
    if (sgemm_available() && M >= 4 && N >= 4 && y.colStride() == 1) {
      sgemm(M, N, K, a.data(), a.rowStride(), a.colStride(), b.data(), b.rowStride(), b.colStride(), y.data(),
            y.rowStride());
      return;
    }
  }
  const int threads = gemm_threads(M, N, K);
  if (threads <= 1) {
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
