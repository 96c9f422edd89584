#pragma once
// Helpers of the op tests (tests/ops/test_*.cpp): float64 views of tensors, the relevance
// a recorded node passes to each of its inputs under one rule.

#include <vector>

#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::optest {

inline std::vector<double> v64(const Tensor& t) { return t.to_vector_f64(); }

inline Tensor from64(const std::vector<double>& v, Shape s) {
  return Tensor::from_vector(std::span<const double>(v), std::move(s)).to(DType::F32);
}

// z + eps sgn0(z).
inline double stab(double z, double eps) { return z + eps * (z >= 0 ? 1.0 : -1.0); }

// Relevance of every recorded input of the tape's last node for `rule`, called on the node
// itself (no table check: the tests reach the node's own refusals too).
inline std::vector<Tensor> node_relevance(Tape& tape, const Rule& rule, const Tensor& R) {
  const Node& n = tape.node(tape.size() - 1);
  std::vector<std::uint8_t> needs;
  for (auto v : n.inputs) needs.push_back(v >= 0);
  RelevanceContext ctx{needs, std::nullopt};
  return n.relevance(rule, R, ctx);
}

}  // namespace relprop::optest
