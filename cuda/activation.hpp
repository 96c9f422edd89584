#pragma once
// GPU twins of the activation kernels of ops/activation.cpp, for contiguous float32
// tensors on the GPU (plain C++: called from ops/activation.cpp). Same formulas as the
// CPU: f and f' element-wise, softmax / log_softmax along one dimension seen as
// (outer, D, inner) with the max subtracted and the sums in double.

#include <cstdint>
#include <utility>

#include "relprop/ops/activation_fn.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

using detail::Act;  // the element-wise activation kinds (ops/activation_fn.hpp)

// y = f(x). `a`: LeakyReLU slope, ELU alpha (ignored by the others).
Tensor activation_forward(Act kind, float a, const Tensor& x);
// g = R * f'(x) (the gradient rule), R and x of one element count; shape of R.
Tensor activation_gradient(Act kind, float a, const Tensor& x, const Tensor& R);

// softmax (log = false): returns (s, s); log_softmax: (log s, s). x seen as
// (outer, D, inner), the softmax taken along D.
std::pair<Tensor, Tensor> softmax_forward(const Tensor& x, std::int64_t outer, std::int64_t D, std::int64_t inner,
                                          bool log);

// The relevance kernels of the softmax node, along D of (outer, D, inner):
enum class SoftmaxRel {
  Gradient,     // softmax VJP: s (R - sum(R s))
  LogGradient,  // log_softmax VJP: R - s sum(R)
  AttnLRP,      // AttnLRP (epsilon / zero on softmax): x (R - s sum(R))
};
// R, s (and x for AttnLRP; may be undefined otherwise) of one element count; shape of R.
Tensor softmax_relevance(SoftmaxRel mode, const Tensor& R, const Tensor& s, const Tensor& x, std::int64_t outer,
                         std::int64_t D, std::int64_t inner);

}  // namespace relprop::cuda
