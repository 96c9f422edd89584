#pragma once
// GPU twins of the element-wise binary ops of ops/elementwise.cpp (add, sub, mul with
// NumPy broadcasting), for contiguous float32 operands on the GPU (plain C++: called from
// ops/elementwise.cpp). The kernels read both operands through broadcast strides (no
// materialised expand); relevance is computed at y's shape and summed back to each
// operand's shape with cuda::reduce_to_shape, as the CPU does.

#include <utility>

#include "relprop/ops/common.hpp"
#include "relprop/ops/elementwise.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// ops/elementwise.cpp's Bin, same order.
enum class BinKind { Add, Sub, Mul };

// y = a op b at shape ys (broadcast_shapes(a, b)).
Tensor binary_forward(BinKind kind, const Tensor& a, const Tensor& b, const Shape& ys);

// How a binary node splits R (ops/elementwise.hpp).
using detail::BinarySplit;

// (R_a, R_b) of shapes a.shape() / b.shape(); R of shape ys. An input whose `need_*` is
// false gets an undefined tensor (its kernel work is skipped).
std::pair<Tensor, Tensor> binary_relevance(BinKind kind, const BinarySplit& split, const Tensor& R, const Tensor& a,
                                           const Tensor& b, bool need_a, bool need_b);

// Backtrace contrastive on a sum (add / sub): the summands a and +-b are the
// contributions, split as at a linear node (detail::contrastive_shares).
struct BinaryContrastive {
  Tensor pos_a, neg_a, pos_b, neg_b;  // shapes of a / b; undefined where not needed
};
BinaryContrastive binary_contrastive(BinKind kind, const Tensor& Rp, const Tensor& Rn, const Tensor& a,
                                     const Tensor& b, bool need_a, bool need_b);

}  // namespace relprop::cuda
