#pragma once
// Element-wise activations. Shapes: x (any) -> y (same).

#include <string_view>

#include "tensor/tensor.hpp"

namespace relprop {

// y = max(x, 0). Relevance: pass (default), backtrace (pass), gradient (R where x > 0).
Tensor relu(const Tensor& x, std::string_view name = {});

}  // namespace relprop
