#pragma once
// Attention: products of two computed tensors (q·kᵀ, attention·v), the attention softmax
// with padding and causal masks, and PyTorch's scaled_dot_product_attention recorded as
// those parts. Layer / RMS norm live in ops/norm.hpp, embeddings and the other token ops
// in ops/token.hpp. Relevance (docs/RULES.md, "Transformers"):
//   matmul          epsilon / zero / backtrace: AttnLRP's bilinear rule, each factor
//                   A_ji V_ip R_jp / stab(2 O_jp); constant:I (CP-LRP): input I held
//                   constant, all relevance to the other by the epsilon rule; gradient.
//   attention_softmax, softmax
//                   epsilon / zero: AttnLRP's x (R - s ΣR), masked entries 0;
//                   pass / backtrace: R unchanged; constant: nothing passes; gradient.

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
}  // namespace relprop
