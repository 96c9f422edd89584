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

// y[i] = f(v)[i] for i < n, where f maps a fixed-size array v of 16 floats to an Eigen
// array expression: every element goes through Eigen's packet functions (the last < 16
// through a copy padded with zeros), so its bits depend neither on its address nor on n.
// (Assigned to a map of any length, Eigen takes the leading elements up to an aligned
// address and the trailing ones through the scalar functions, a few ulp from the packet
// ones: an element's result then moved with its place in a batch.)
template <class F>
inline void packet_map(const float* x, float* y, std::int64_t n, const F& f) {
  using A16 = Eigen::Array<float, 16, 1>;
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const A16 v = Eigen::Map<const A16>(x + i);
    const A16 r = f(v);
    Eigen::Map<A16>(y + i) = r;
  }
  if (i < n) {
    A16 v = A16::Zero();
    std::copy(x + i, x + n, v.data());
    const A16 r = f(v);
    std::copy(r.data(), r.data() + (n - i), y + i);
  }
}

// Y = A · B (Eigen matrices, maps, blocks or transposes of them; Y not aliasing A or B),
// on relprop's own SGEMM (ops/gemm.hpp), split over the OpenMP threads by whole register
// tiles: each element of Y is summed in one order whatever the thread count or the shape,
// so a row of a batch comes out the same alone or among others. (Eigen's own products
// chose their k-blocking by the matrix sizes and their GEMV for thin shapes, and its
// threading of one GEMM had reached half of a per-thread split on transformer layers.)
template <class Y, class A, class B>
void gemm(Y&& y, const A& a, const B& b) {
  static_assert(direct_access_v<Y> && direct_access_v<A> && direct_access_v<B>,
                "detail::gemm takes float matrices with direct access (maps, blocks, transposes)");
  sgemm(y.rows(), y.cols(), a.cols(), a.data(), a.rowStride(), a.colStride(), b.data(), b.rowStride(), b.colStride(),
        y.data(), y.rowStride(), y.colStride());
}

}  // namespace relprop::detail
