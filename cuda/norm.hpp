#pragma once
// The GPU twin of ops/norm.cpp, for float32 tensors on the GPU. Batch normalisation
// (inference): the per-channel affine map from the running statistics, its forward and
// its gradient; x, y, R: (N, C, S) contiguous, S the product of the spatial dimensions;
// parameters (C,). Layer / RMS norm over the last dimension D; rows = numel / D.

#include "relprop/ops/common.hpp"
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


// ---- layer norm / RMS norm ----------------------------------------------------------------

// y (rows, D) and inv (max(rows, 1),) = 1/std per row; w, b (D,) or undefined.
struct NormForward {
  Tensor y, inv;
};
NormForward norm_forward(bool rms, const Tensor& x, const Tensor& w, const Tensor& b, double eps, std::int64_t D);

// NormNode::relevance for R, x, y (rows, D), inv (rows,), w (D,) or undefined: the
// ε-rule through the centring (`gradient` false; q = R / stab(y)) or the true gradient.
Tensor norm_relevance(bool rms, bool gradient, detail::Stab stab, const Tensor& R, const Tensor& x,
                      const Tensor& inv, const Tensor& w, const Tensor& y, std::int64_t D);

}  // namespace relprop::cuda
