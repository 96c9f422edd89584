#pragma once
// Convolutions (cross-correlation, as PyTorch), linear-type: every rule of the shared
// skeleton applies. Shapes:
//   conv2d: x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,) -> (N, O, HO, WO)
//   conv1d: x (N, C, L),    weight (O, C/groups, K),      bias (O,) -> (N, O, LO)
// with HO = (H + PH + PH_end - DH (KH - 1) - 1) / SH + 1 (floor; PH_end = PH unless
// padding_end says otherwise), the same for W.

#include <array>
#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// conv2d's geometry, (height, width) pairs as PyTorch's Conv2d.
struct Conv2dParams {
  std::array<std::int64_t, 2> stride{1, 1};
  std::array<std::int64_t, 2> padding{0, 0};  // zeros before (top, left), and after unless padding_end says
  std::array<std::int64_t, 2> dilation{1, 1};
  std::int64_t groups = 1;
  // Zeros after (bottom, right) when they differ from `padding` (TensorFlow's SAME, PyTorch's
  // "same" with an even kernel extent); -1: as `padding`.
  std::array<std::int64_t, 2> padding_end{-1, -1};
  // The zeros after dimension i (0: height, 1: width), `padding_end` resolved.
  std::int64_t pad_end(int i) const { return padding_end[i] < 0 ? padding[i] : padding_end[i]; }
};

// Output shape; ShapeError naming `name` when the arguments do not fit.
Shape conv2d_shape(const Shape& x, const Shape& weight, const Shape* bias, const Conv2dParams& p,
                   std::string_view name = {});

// 2-d cross-correlation of x with weight, plus bias (optional). Records a node when any
// argument is being recorded. Relevance: every linear-type rule of the skeleton (zero,
// epsilon, zplus, alpha-beta, gamma, zbox, wsquare, flat, gradient, backtrace), and pass
// when the output has the input's shape.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Conv2dParams& p = {},
              std::string_view name = {});

// How the CPU computes 3 x 3, stride-1, undilated, ungrouped convolutions: the forward and
// the backward-data (transposed) passes of every rule.
//   Direct: GEMMs over the receptive fields, each sum in a fixed order (the default).
//   Winograd: F(2x2, 3x3), 2.25 times fewer multiply-adds; results agree with Direct to
//     float rounding, not bit for bit. A sum that is exactly 0 directly (a z+ output whose
//     positive products are all 0) comes out rounding-sized, and one within rounding of 0
//     may change sign, and with it the side its stabiliser pushes (epsilon, gamma). Used
//     where relprop's AVX2 kernels are compiled in, both channel counts are at least 8 and
//     the pass writes at least 40 tiles of 2 x 2 (forward, e.g. 14 x 14) or 100
//     (backward-data, 20 x 20); elsewhere Direct.
// Process-wide; RELPROP_CONV_ALGORITHM=winograd in the environment (read at the first
// call) sets the initial value.
enum class ConvAlgorithm { Direct, Winograd };
void set_conv_algorithm(ConvAlgorithm algorithm) noexcept;
ConvAlgorithm conv_algorithm() noexcept;

// conv1d's geometry, as PyTorch's Conv1d.
struct Conv1dParams {
  std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  std::int64_t padding_end = -1;  // zeros after, when they differ from `padding`; -1: as padding
};

// conv1d is conv2d over a height of 1 (recorded as its own op, "conv1d").
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Conv1dParams& p = {},
              std::string_view name = {});

}  // namespace relprop
