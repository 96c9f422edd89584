#pragma once
// linear: y = x W^T + b, the first linear-type op.
// Shapes: x (..., I), weight (O, I), bias (O,) -> y (..., O).

#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// Checks the shapes of linear's arguments and returns y's; ShapeError naming `name`
// otherwise.
Shape linear_shape(const Shape& x, const Shape& weight, const Shape* bias, std::string_view name = {});

// y = x W^T + b (bias optional). Records a node when any argument is being recorded.
// Relevance: every linear-type rule of the skeleton (zero, epsilon, zplus, alpha-beta,
// gamma, zbox, wsquare, flat, gradient, backtrace), and pass when I == O.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              std::string_view name = {});

}  // namespace relprop
