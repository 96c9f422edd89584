#pragma once
// The linear-type LRP skeleton (ops/linear_type_skeleton.hpp) on the GPU: the same
// template as the CPU's, with the CUDA policy of cuda/linear_type.cu (element-wise
// kernels; F and T are the op's cuBLAS / cuDNN maps). Same equations, same results as the
// CPU to float rounding (docs/RULES.md).

#include <optional>
#include <utility>

#include "relprop/ops/linear_type.hpp"

namespace relprop::cuda {

// As detail::linear_type_relevance, for x, w, b, z, R contiguous float32 on the GPU.
std::optional<Tensor> linear_type_relevance(const Rule& rule, const detail::LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            detail::WeightCache& cache, const RelevanceContext& ctx);

// As detail::linear_type_contrastive for the backtrace-contrastive rule, on the GPU.
std::pair<Tensor, Tensor> linear_type_contrastive(const detail::LinearMaps& maps, const Tensor& x, const Tensor& w,
                                                  const Tensor& b, const Tensor& z, const Tensor& Rp,
                                                  const Tensor& Rn, detail::WeightCache& cache);

}  // namespace relprop::cuda
