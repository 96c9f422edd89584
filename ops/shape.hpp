#pragma once
// Shape ops: relevance moves exactly as the values move (the inverse mapping), whatever
// the rule.

#include <string_view>

#include "tensor/tensor.hpp"

namespace relprop {

// Merges dimensions start_dim..end_dim (as torch.flatten).
Tensor flatten(const Tensor& x, int start_dim = 1, int end_dim = -1, std::string_view name = {});
// y = x (a no-op at inference: identity, dropout, a folded batch norm), recorded as `op`
// so the node keeps its name; relevance passes through unchanged.
Tensor identity(const Tensor& x, std::string_view name = {}, std::string_view op = "identity");
// Any shape with the same element count; one -1 is inferred.
Tensor reshape(const Tensor& x, const Shape& shape, std::string_view name = {});

}  // namespace relprop
