#pragma once
// Token ops of transformer models: embedding lookups, rotary position embedding, a
// learned token put first (ViT's class token) and mean pooling over real tokens.
// Relevance (docs/RULES.md, "Transformers"):
//   embedding         every rule: relevance summed over the hidden dimension onto the ids.
//   rotary_embedding  epsilon / zero: the ε-rule of the rotation; pass / backtrace; gradient.
//   prepend_token     every rule: x's part passes, the token's share is absorbed.
//   masked_mean       epsilon / zero / norm: the ε-rule of the mean; pass / backtrace: by
//                     |x_t|; gradient.

#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// Mean over dimension 1 of x (N, T, ...) counting only the positions where `mask` (N, T)
// is non-zero (sentence-transformers' mean pooling); all positions when `mask` is
// undefined. Relevance: epsilon / zero / norm: the ε-rule of the mean (each position its
// share x_t / (Σ_t' x_t')); backtrace / pass: by |x_t|; gradient.
Tensor masked_mean(const Tensor& x, const Tensor& mask = {}, std::string_view name = {});

// Rotary position embedding as Hugging Face's LLaMA applies it: x (N, H, T, d) with d
// even, position_ids (N, T); angle_j = p · theta^(-2j/d) for j < d/2, and with
// c = cos, s = sin: y_j = x_j c_j - x_{j+d/2} s_j, y_{j+d/2} = x_{j+d/2} c_j + x_j s_j.
// A linear map of x with constant coefficients: relevance by its ε-rule (epsilon / zero;
// LRP-0 as in LXT's gradient × input), pass / backtrace (identity), gradient.
Tensor rotary_embedding(const Tensor& x, const Tensor& position_ids, double theta = 10000.0, std::string_view name = {});

// A learned token put first along dimension 1: x (N, T, D), token (1, 1, D) or (D,) ->
// (N, T + 1, D) (ViT's class token). Relevance: x's part passes; the token's is dropped
// (reported as absorbed).
Tensor prepend_token(const Tensor& x, const Tensor& token, std::string_view name = {});

// Rows of `weight` (V, D) picked by integer `ids` (any shape) -> ids.shape + (D,).
// IndexError naming the bad id.
Tensor embedding(const Tensor& ids, const Tensor& weight, std::string_view name = {});

}  // namespace relprop
