#pragma once
// Normalisation layers (inference). Batch norm: x (N, C, ...) -> same, parameters (C,).
// Layer / RMS norm: over the last dimension (size D), parameters (D,). Relevance
// (docs/RULES.md, "Transformers"):
//   layer_norm      epsilon / zero: 1/std held constant, the ε-rule on (x - mean), the
//                   scale element-wise, the bias absorbing its share; pass / backtrace:
//                   identity; gradient (the true one, std included).
//   rms_norm        epsilon / zero / pass / backtrace: identity; gradient.

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

// y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension (size D);
// weight and bias (D,) may be undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5,
                  std::string_view name = {});

// y = x / sqrt(mean(x²) + eps) * weight over the last dimension; weight (D,) may be
// undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6, std::string_view name = {});

}  // namespace relprop
