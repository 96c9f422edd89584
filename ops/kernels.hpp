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
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
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

}  // namespace relprop::detail
