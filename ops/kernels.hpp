#pragma once
// Eigen views used by the CPU kernels. Internal: not installed, not for public headers.

#include <Eigen/Core>

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
