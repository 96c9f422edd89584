#pragma once
// The stabilised division on the GPU: the twin of ops/common.hpp's stabilized_divide, for
// contiguous float32 tensors on the GPU (plain C++: callable from the ops' .cpp files).

#include <cstdint>

#include "relprop/ops/common.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// s = R / stab(z) element-wise (ops/common.hpp's stabilized_divide): rows of `group`
// elements share the Scaled epsilon; group <= 0: one row of all.
Tensor stabilized_divide(const Tensor& R, const Tensor& z, std::int64_t group, detail::Stab stab);

}  // namespace relprop::cuda
