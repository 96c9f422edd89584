#pragma once
// Element-wise activations and softmax. Shapes: x (any) -> y (same).
// Relevance: pass (identity, the LRP default), backtrace (pass), gradient (R * f'(x);
// softmax: the vector-Jacobian product along `dim`).

#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// max(x, 0).
Tensor relu(const Tensor& x, std::string_view name = {});
// x for x > 0, else negative_slope * x.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01, std::string_view name = {});
// min(max(x, 0), 6).
Tensor relu6(const Tensor& x, std::string_view name = {});
// x for x > 0, else alpha * (exp(x) - 1).
Tensor elu(const Tensor& x, double alpha = 1.0, std::string_view name = {});
// x * Phi(x); approximate: "none" (erf form) or "tanh", as torch.nn.GELU.
Tensor gelu(const Tensor& x, std::string_view approximate = "none", std::string_view name = {});
// x * sigmoid(x) (swish).
Tensor silu(const Tensor& x, std::string_view name = {});
// x relu6(x + 3) / 6 (torch.nn.Hardswish, MobileNetV3's activation).
Tensor hardswish(const Tensor& x, std::string_view name = {});
// 1 / (1 + exp(-x)).
Tensor sigmoid(const Tensor& x, std::string_view name = {});
// Hyperbolic tangent.
Tensor tanh(const Tensor& x, std::string_view name = {});
// exp(x) / sum exp(x) along `dim` (negative counts from the end). Also takes epsilon /
// zero: AttnLRP's R_x = x (R - s sum R).
Tensor softmax(const Tensor& x, int dim, std::string_view name = {});
// log(softmax(x)) along `dim`.
Tensor log_softmax(const Tensor& x, int dim, std::string_view name = {});

}  // namespace relprop
