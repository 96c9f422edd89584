#pragma once
// Element-wise binary ops with NumPy broadcasting. Shapes: a, b broadcastable -> y.

#include <string_view>

#include "relprop/ops/common.hpp"
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

namespace detail {

// How a binary node splits R between its operands, resolved from the rule once and
// computed by the CPU kernel or its GPU twin (cuda/elementwise.cu).
struct BinarySplit {
  enum class Kind {
    Gradient,   // add: R, +-R; mul: R b, R a
    Fixed,      // R_a = fa R, R_b = R - R_a or 0 (products: gates, constants, constant:I)
    Norm,       // s = R / stab(a +- b); R_a = a s, R_b = +-b s (norm / epsilon / zero)
    Backtrace,  // R_a = R |a| / (|a| + |b|) (R/2 when both are 0 or equal_split), R_b = R - R_a
  };
  Kind kind = Kind::Gradient;
  float fa = 0.5f;             // Fixed
  bool rest_to_b = true;       // Fixed: R_b = R - R_a (false: 0, the held b absorbs it)
  Stab stab;                   // Norm
  bool equal_split = false;    // Backtrace
};

}  // namespace detail

}  // namespace relprop
