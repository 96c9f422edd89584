#pragma once
// Element-wise activations and softmax. Shapes: x (any) -> y (same).
// Relevance: pass (identity, the LRP default), backtrace (pass), gradient (R * f'(x);
// softmax: the vector-Jacobian product along `dim`).

#include <string_view>

#include "tensor/tensor.hpp"

namespace relprop {

Tensor relu(const Tensor& x, std::string_view name = {});
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01, std::string_view name = {});
Tensor relu6(const Tensor& x, std::string_view name = {});
Tensor elu(const Tensor& x, double alpha = 1.0, std::string_view name = {});
// approximate: "none" (erf form) or "tanh", as torch.nn.GELU.
Tensor gelu(const Tensor& x, std::string_view approximate = "none", std::string_view name = {});
Tensor silu(const Tensor& x, std::string_view name = {});
Tensor sigmoid(const Tensor& x, std::string_view name = {});
Tensor tanh(const Tensor& x, std::string_view name = {});
Tensor softmax(const Tensor& x, int dim, std::string_view name = {});
Tensor log_softmax(const Tensor& x, int dim, std::string_view name = {});

}  // namespace relprop
