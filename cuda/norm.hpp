#pragma once
// The GPU twin of ops/norm.cpp (batch normalisation, inference): the per-channel affine
// map from the running statistics, its forward and its gradient, for float32 tensors on
// the GPU. x, y, R: (N, C, S) contiguous, S the product of the spatial dimensions;
// parameters (C,).

#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// As relprop::batch_norm_affine: scale = w / sqrt(var + eps), shift = b - mean * scale
// (in double, as the CPU), (C,) on the GPU. w, b may be undefined (1 and 0).
void batch_norm_affine(const Tensor& mean, const Tensor& var, const Tensor& w, const Tensor& b, double eps,
                       Tensor& scale, Tensor& shift);
// y = x * scale[c] + shift[c].
Tensor batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift);
// R * scale[c] (the gradient rule).
Tensor batch_norm_gradient(const Tensor& R, const Tensor& scale);

}  // namespace relprop::cuda
