#pragma once
// The LRP skeleton shared by every linear-type op (linear, conv1d, conv2d):
// modify the weights / inputs, forward, stabilise the denominator, transpose, multiply.
// An op supplies its two linear maps and the skeleton implements every rule of
// docs/RULES.md on top of them, so a new linear-type op gets all rules at once.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "relprop/relevance/rules.hpp"
#include "relprop/relevance/tape.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::detail {

// z = forward(x, W) + b, linear in x and in W.
struct LinearMaps {
  // forward(x', W') -> z-shaped, without bias. x': x's shape, W': W's shape.
  std::function<Tensor(const Tensor& x, const Tensor& w)> forward;
  // transpose(s, W') -> x-shaped: the adjoint in x (GEMM^T, convolution backward-data).
  std::function<Tensor(const Tensor& s, const Tensor& w)> transpose;
  // Dimension of x that holds channels (per-channel z^B bounds).
  int channel_dim = 1;
  // Dimension of z that holds the outputs (O).
  int out_dim = 1;
  // forward/transpose accept weights stacked along dimension 0 ((2O, ...): two weights in
  // one pass, outputs stacked along out_dim). False for grouped convolutions.
  bool stackable = false;
};

// Modified weights (W+, W-, |W|, W^2, W + gamma W+, ...) computed once per node and rule
// and kept until the node is released; never written into the model. Thread-safe.
class WeightCache {
 public:
  // The tensor cached under `key`, made by `make` on first use.
  const Tensor& get(const std::string& key, const std::function<Tensor()>& make);
  void clear();  // drops every cached tensor

 private:
  std::mutex mutex_;
  std::map<std::string, Tensor> tensors_;
};

// Relevance of x for a linear-type node under `rule`. z is the forward output (bias
// included); b may be undefined. Returns nullopt when the rule is not a linear-type rule
// (the node then reports it as unsupported).
// `ctx` carries the saturation-gate bounds for Backtrace with `gate`.
std::optional<Tensor> linear_type_relevance(const Rule& rule, const LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            WeightCache& cache, const RelevanceContext& ctx);

// Backtrace contrastive mode: the positive and negative maps of x from those of z (`Rp`,
// `Rn`, both contiguous float32 of z's shape). nullopt for any other rule (the caller then
// moves each map on its own).
std::optional<std::pair<Tensor, Tensor>> linear_type_contrastive(const Rule& rule, const LinearMaps& maps,
                                                                 const Tensor& x, const Tensor& w, const Tensor& b,
                                                                 const Tensor& z, const Tensor& Rp, const Tensor& Rn,
                                                                 WeightCache& cache);

}  // namespace relprop::detail
