#pragma once
// Transformer ops: products of two computed tensors (q·kᵀ, attention·v), the attention
// softmax with padding and causal masks, layer and RMS normalisation over the last
// dimension, and token embeddings. Relevance (RULES.md, "Transformers"):
//   matmul          epsilon / zero / backtrace: AttnLRP's bilinear rule, each factor
//                   A_ji V_ip R_jp / stab(2 O_jp); constant:I (CP-LRP): input I held
//                   constant, all relevance to the other by the epsilon rule; gradient.
//   attention_softmax, softmax
//                   epsilon / zero: AttnLRP's x (R - s ΣR), masked entries 0;
//                   pass / backtrace: R unchanged; constant: nothing passes; gradient.
//   layer_norm      epsilon / zero: 1/std held constant, the ε-rule on (x - mean), the
//                   scale element-wise, the bias absorbing its share; pass / backtrace:
//                   identity; gradient (the true one, std included).
//   rms_norm        epsilon / zero / pass / backtrace: identity; gradient.
//   embedding       every rule: relevance summed over the hidden dimension onto the ids.

#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// O = A · B over the last two dimensions: A (..., M, K), B (..., K, N) -> (..., M, N);
// the leading (batch) dimensions broadcast as NumPy's do (grouped-query attention shares
// K/V heads this way).
Tensor matmul(const Tensor& a, const Tensor& b, std::string_view name = {});

// Softmax over the last dimension of attention scores (..., Tq, Tk), of `scale` x scores
// (1/sqrt(head size) in attention). `key_mask` (may be undefined): (N, Tk) with 0 for
// padding keys (any dtype), scores (N, ..., Tq, Tk); `causal`: query i sees keys
// j <= i + Tk - Tq. Masked entries get probability 0 (a row with no visible key is all
// 0). The constant scale passes relevance unchanged: the rules see the scaled scores.
Tensor attention_softmax(const Tensor& scores, const Tensor& key_mask = {}, bool causal = false, double scale = 1.0,
                         std::string_view name = {});

// softmax(scale · q·kᵀ) · v, PyTorch's F.scaled_dot_product_attention: q (..., Tq, d),
// k (..., Tk, d), v (..., Tk, dv) with broadcasting batch dimensions (grouped-query
// attention: K/V heads of size 1 in a group dimension) -> (..., Tq, dv). `scale` 0 means
// 1/sqrt(d); `key_mask` and `causal` as attention_softmax's. Recorded as its parts —
// transpose `<name>.key_t`, matmul `<name>.scores`, attention_softmax `<name>.softmax`,
// matmul `<name>` — so its relevance is the composition's under every rule, and
// composites address the parts by op (matmul, attention_softmax).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask = {},
                                    bool causal = false, double scale = 0.0, std::string_view name = {});
// Mean over dimension 1 of x (N, T, ...) counting only the positions where `mask` (N, T)
// is non-zero (sentence-transformers' mean pooling); all positions when `mask` is
// undefined. Relevance: epsilon / zero / norm: the ε-rule of the mean (each position its
// share x_t / (Σ_t' x_t')); backtrace / pass: by |x_t|; gradient.
Tensor masked_mean(const Tensor& x, const Tensor& mask = {}, std::string_view name = {});

// y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension (size D);
// weight and bias (D,) may be undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5,
                  std::string_view name = {});

// y = x / sqrt(mean(x²) + eps) * weight over the last dimension; weight (D,) may be
// undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6, std::string_view name = {});

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
