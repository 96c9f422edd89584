#pragma once
// Convolutions (cross-correlation, as PyTorch), linear-type: every rule of the shared
// skeleton applies. Shapes:
//   conv2d: x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,) -> (N, O, HO, WO)
//   conv1d: x (N, C, L),    weight (O, C/groups, K),      bias (O,) -> (N, O, LO)
// with HO = (H + 2 PH - DH (KH - 1) - 1) / SH + 1 (floor), the same for W.

#include <array>
#include <string_view>

#include "tensor/tensor.hpp"

namespace relprop {

struct Conv2dParams {
  std::array<std::int64_t, 2> stride{1, 1};
  std::array<std::int64_t, 2> padding{0, 0};  // zeros before (top, left), and after unless padding_end says
  std::array<std::int64_t, 2> dilation{1, 1};
  std::int64_t groups = 1;
  // Zeros after (bottom, right) when they differ from `padding` (TensorFlow's SAME, PyTorch's
  // "same" with an even kernel extent); -1: as `padding`.
  std::array<std::int64_t, 2> padding_end{-1, -1};
  std::int64_t pad_end(int i) const { return padding_end[i] < 0 ? padding[i] : padding_end[i]; }
};

// Output shape; ShapeError naming `name` when the arguments do not fit.
Shape conv2d_shape(const Shape& x, const Shape& weight, const Shape* bias, const Conv2dParams& p,
                   std::string_view name = {});

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Conv2dParams& p = {},
              std::string_view name = {});

struct Conv1dParams {
  std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  std::int64_t padding_end = -1;  // zeros after, when they differ from `padding`; -1: as padding
};

// conv1d is conv2d over a height of 1 (recorded as its own op, "conv1d").
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Conv1dParams& p = {},
              std::string_view name = {});

}  // namespace relprop
