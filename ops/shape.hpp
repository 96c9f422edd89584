#pragma once
// Shape ops: relevance moves exactly as the values move (the inverse mapping), whatever
// the rule.

#include <string_view>
#include <vector>

#include "relprop/relevance/op_kind.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop {

// Merges dimensions start_dim..end_dim (as torch.flatten; the default start_dim 1 is
// nn.Flatten's, keeping the batch dimension).
Tensor flatten(const Tensor& x, int start_dim = 1, int end_dim = -1, std::string_view name = {});
// y = x (a no-op at inference: identity, dropout, a folded batch norm), recorded as op
// `op` so the node keeps its kind; relevance passes through unchanged under every rule
// that op takes.
Tensor identity(const Tensor& x, std::string_view name = {}, OpKind op = OpKind::Identity);
// Any shape with the same element count; one -1 is inferred.
Tensor reshape(const Tensor& x, const Shape& shape, std::string_view name = {});

// Dimensions reordered; relevance permuted back.
Tensor permute(const Tensor& x, const std::vector<int>& dims, std::string_view name = {});
// Dimensions dim0 and dim1 swapped; relevance swapped back.
Tensor transpose(const Tensor& x, int dim0, int dim1, std::string_view name = {});
// x[..., start:end:step, ...] along `dim` (negative start / end count from the end, as
// Python); relevance is scattered back, zero elsewhere.
Tensor slice(const Tensor& x, int dim, std::int64_t start, std::int64_t end, std::int64_t step = 1,
             std::string_view name = {});
// Concatenation along `dim`; each input gets its part of the relevance.
Tensor cat(const std::vector<Tensor>& xs, int dim, std::string_view name = {});
// Constant padding, PyTorch's order: (last_lo, last_hi, second_last_lo, ...). The padded
// elements' relevance is dropped (it shows as absorbed in the node's conservation figures).
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value = 0.0, std::string_view name = {});
// Nearest-neighbour upsampling of (N, C, H, W) to (N, C, HO, WO) (PyTorch's "nearest":
// source index floor(o * in / out)); relevance of the copies summed back.
Tensor upsample_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w, std::string_view name = {});

}  // namespace relprop
