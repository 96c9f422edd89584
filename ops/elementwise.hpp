#pragma once
// Element-wise binary ops with NumPy broadcasting. Shapes: a, b broadcastable -> y.

#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// y = a + b. Relevance: norm / epsilon / zero (R_a = a R / stab(a + b)), backtrace
// (R |a| / (|a| + |b|), or R/2 each with equal_split), gradient (R summed to each shape).
Tensor add(const Tensor& a, const Tensor& b, std::string_view name = {});
// y = a - b, relevance as add of a and -b.
Tensor sub(const Tensor& a, const Tensor& b, std::string_view name = {});
// y = a * b. Relevance: of two computed tensors R/2 to each (norm, epsilon, zero, pass,
// backtrace); with a constant all of R goes to the computed side; gradient: R b and R a.
Tensor mul(const Tensor& a, const Tensor& b, std::string_view name = {});

}  // namespace relprop
