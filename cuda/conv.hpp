#pragma once
// The GPU twin of ops/conv.cpp's kernels: the convolution forward and its adjoint in x
// (backward-data) through cuDNN, and the linear maps the LRP skeleton runs every rule
// with (ops/linear_type.hpp). Tensors are contiguous float32 on the GPU, 4-d (conv1d is
// a convolution over a height of 1).

#include <cstdint>

#include "relprop/ops/linear_type.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// One convolution's geometry, as ops/conv.cpp's Geom: x (N, C, H, W), weight
// (O, C / G, KH, KW), output (N, O, HO, WO). Zeros before: (ph, pw); after: (pe_h, pe_w),
// which may differ from the leading ones (TensorFlow's SAME).
struct ConvGeometry {
  std::int64_t N = 0, C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, HO = 0, WO = 0, G = 1;
  std::int64_t sh = 1, sw = 1, ph = 0, pw = 0, pe_h = 0, pe_w = 0, dh = 1, dw = 1;
};

// z (N, O', HO, WO) = conv(x, w) + b, O' = w.size(0) (weights stacked along dimension 0
// give stacked outputs); b (O',) optional.
Tensor conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& b = {});

// c (N, C, H, W) = conv^T(s, w), the adjoint of the forward in x, for s (N, O', HO, WO)
// with O' = w.size(0): exactly x's shape whatever the stride leaves over.
Tensor conv2d_backward_data(const ConvGeometry& g, const Tensor& s, const Tensor& w);

// ops/conv.cpp's conv_maps for GPU tensors: forward / transpose above, bias viewed
// (O, 1, 1), channels and outputs on dimension 1, stackable when ungrouped.
detail::LinearMaps conv_maps(const ConvGeometry& g);

}  // namespace relprop::cuda
