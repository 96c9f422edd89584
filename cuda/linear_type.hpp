#pragma once
// The GPU twin of the LRP skeleton of ops/linear_type.hpp: every linear-type rule written
// with the op's own forward F(x, W) and transpose T(s, W) (which, for GPU tensors, the op
// supplies as cuBLAS / cuDNN calls), the element-wise parts as fused kernels. Same
// equations, same results as the CPU skeleton to float rounding (shared/RULES.md).

#include <optional>
#include <utility>

#include "relprop/ops/linear_type.hpp"

namespace relprop::cuda {

// As detail::linear_type_relevance, for x, w, b, z, R contiguous float32 on the GPU.
std::optional<Tensor> linear_type_relevance(const Rule& rule, const detail::LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            detail::WeightCache& cache, const RelevanceContext& ctx);

// As detail::linear_type_contrastive, on the GPU.
std::optional<std::pair<Tensor, Tensor>> linear_type_contrastive(const Rule& rule, const detail::LinearMaps& maps,
                                                                 const Tensor& x, const Tensor& w, const Tensor& b,
                                                                 const Tensor& z, const Tensor& Rp, const Tensor& Rn,
                                                                 detail::WeightCache& cache);

}  // namespace relprop::cuda
