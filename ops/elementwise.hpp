#pragma once
// Element-wise binary ops with NumPy broadcasting. Shapes: a, b broadcastable -> y.

#include <string_view>

#include "tensor/tensor.hpp"

namespace relprop {

// y = a + b. Relevance: norm / epsilon / zero (R_a = a R / stab(a + b)), backtrace
// (R |a| / (|a| + |b|), or R/2 each with equal_split), gradient (R summed to each shape).
Tensor add(const Tensor& a, const Tensor& b, std::string_view name = {});

}  // namespace relprop
