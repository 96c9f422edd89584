#pragma once
// The GPU twin of ops/pool.cpp: pooling forward and relevance for contiguous float32
// (N, C, H, W) tensors on the GPU (the 1-d pools arrive as (N, C, 1, L)). Same windows,
// same equations, same order of accumulation as the CPU kernels: relevance is a gather
// (each input element sums, in output order, over the windows that hold it), so results
// are deterministic and match the CPU to float rounding.
// Letters: N C H W input, HO WO output.

#include <cstdint>

#include "relprop/ops/common.hpp"
#include "relprop/ops/pool_window.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// ops/pool.cpp's geometry as plain numbers, and its window kinds (ops/pool_window.hpp).
using detail::PoolGeom;
using detail::PoolWindows;

// How relevance leaves a window (ops/pool_window.hpp).
using detail::PoolMode;

// y (N, C, HO, WO) from x (N, C, H, W). `argmax`: undefined, or I32 (N, C, HO, WO) on the
// GPU, filled as the CPU's (h * W + w of the first maximum, -it - 1 when tied, INT32_MIN
// for an empty window); max pooling only.
Tensor pool_forward(const PoolGeom& g, const Tensor& x, const Tensor& argmax);

// Relevance of x (N, C, H, W) given R (N, C, HO, WO) and the forward's y and argmax
// (argmax may be undefined: the windows are scanned again).
Tensor pool_relevance(const PoolGeom& g, PoolMode mode, detail::Stab stab, const Tensor& x, const Tensor& y,
                      const Tensor& R, const Tensor& argmax);

}  // namespace relprop::cuda
