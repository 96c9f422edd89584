#pragma once
// Normalisation layers (inference). Shapes: x (N, C, ...) -> same; parameters (C,).

#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel (dim 1).
// weight / bias may be undefined (affine=False). Relevance: pass (default; the graph
// loader folds a batch norm that follows a linear or convolution into it instead),
// backtrace (pass), gradient.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5, std::string_view name = {});

// Per-channel scale and shift of an inference batch norm: y = x * scale + shift.
// scale = weight / sqrt(var + eps), shift = bias - mean * scale (weight 1 and bias 0 when
// undefined). Writes both into `scale` and `shift`.
void batch_norm_affine(const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double eps, Tensor& scale, Tensor& shift);

}  // namespace relprop
