#pragma once
// Element-wise device helpers below the engine (broadcast sums, products, scaling, the
// conservation sums, the classification seed, values as float64), for contiguous float32
// tensors on the GPU (plain C++: callable from any .cpp file). Results are new contiguous
// GPU tensors unless the name says "in place". The stabilised division, which needs the
// rules' stabilisers, is the ops' (cuda/stabilize.hpp).

#include <cstdint>

#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// Sum of `t` over the dimensions broadcast from `target` (NumPy rules), shape `target`.
Tensor reduce_to_shape(const Tensor& t, const Shape& target);
// a * b (same element count).
Tensor mul(const Tensor& a, const Tensor& b);
// acc += scale * t, in place (same element count).
void axpy(const Tensor& acc, const Tensor& t, float scale = 1.0f);
// acc += scale * a * b, in place.
void add_mul(const Tensor& acc, const Tensor& a, const Tensor& b, float scale = 1.0f);
// scale * a.
Tensor scale(const Tensor& a, float s);
// out[slot] = sum of t's elements, accumulated in double in a fixed order (the same
// result run after run); `out` is a contiguous float64 GPU tensor. Nothing is read back to
// the host: the engine collects its conservation sums this way and downloads them once.
void sum_into(const Tensor& t, const Tensor& out, std::int64_t slot);

// The classification seed on the GPU (relevance/seed.hpp's classification_seed without
// reading the output back): y (..., C) float32; each row gets `multiplier` x (its target's
// value, or 1 when `one_hot`) at its target (`target` >= 0, else the row's first
// arg-max), 0 elsewhere. Returns the seed; `targets` becomes an I64 GPU tensor with each
// row's target.
Tensor classification_seed(const Tensor& y, std::int64_t target, bool one_hot, double multiplier, Tensor& targets);

// `t` (any dtype, CPU or GPU) as contiguous float64 on the GPU, values as
// Tensor::to_vector_f64 reads them (ids, position ids and masks). A CPU tensor is copied
// up once (the stream waits for the copy).
Tensor f64_on_gpu(const Tensor& t);

}  // namespace relprop::cuda
