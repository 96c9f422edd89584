#pragma once
// The GPU twin of the loops in ops/shape.cpp (the other shape ops are views and copies,
// which tensors already run on their own device). Float32 tensors on the GPU.

#include <cstdint>

#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// y (N, C, OH, OW) from x (N, C, H, W) contiguous: y[oh, ow] = x[oh H / OH, ow W / OW]
// (PyTorch's nearest: floor(o * in / out)).
Tensor upsample_nearest2d(const Tensor& x, std::int64_t OH, std::int64_t OW);
// Relevance of x (shape `in`, (N, C, H, W)) from R (N, C, OH, OW) contiguous: every input
// element sums the relevance of its copies, rows then columns in output order.
Tensor upsample_nearest2d_relevance(const Tensor& R, const Shape& in);

}  // namespace relprop::cuda
