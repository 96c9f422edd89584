#pragma once
// Pooling over (N, C, H, W) inputs -> (N, C, HO, WO) ((N, C, L) -> (N, C, LO) for the 1-d
// pools), PyTorch's semantics. Relevance (the rules each takes: relevance/ops.def):
//   max_pool1d/2d: pass / backtrace -> winner-take-all (ties split equally); norm / epsilon /
//     zero -> proportional to x over the window (its sum stabilised); gradient -> the
//     first arg-max, as PyTorch's gradient.
//   avg_pool1d/2d, adaptive_avg_pool2d: norm / epsilon / zero (R_j = x_j sum_k R_k / (d_k
//     stab(y_k))), backtrace (R |x_j| / sum_window |x|), gradient (R_k / d_k).
//   every pool, uniform: R_k in equal shares over the window's positions inside the input.

#include <array>
#include <string_view>

#include "relprop/tensor/tensor.hpp"

namespace relprop {

// 2-d pooling geometry, (height, width) pairs as PyTorch's MaxPool2d / AvgPool2d.
// Padding may be at most half the kernel.
struct Pool2dParams {
  std::array<std::int64_t, 2> kernel{2, 2};
  // PyTorch's default is the kernel size; set it too when changing `kernel`.
  std::array<std::int64_t, 2> stride{2, 2};
  std::array<std::int64_t, 2> padding{0, 0};
  std::array<std::int64_t, 2> dilation{1, 1};  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only
};

// 1-d pooling over (N, C, L), PyTorch's MaxPool1d / AvgPool1d (stride 0: the kernel size).
struct Pool1dParams {
  std::int64_t kernel = 2, stride = 0, padding = 0, dilation = 1;
  bool ceil_mode = false;
  bool count_include_pad = true;
};

// Maximum over each window of x (N, C, L).
Tensor max_pool1d(const Tensor& x, const Pool1dParams& p, std::string_view name = {});
// Mean over each window of x (N, C, L).
Tensor avg_pool1d(const Tensor& x, const Pool1dParams& p, std::string_view name = {});
// Maximum over each window of x (N, C, H, W).
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p, std::string_view name = {});
// Mean over each window of x (N, C, H, W).
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p, std::string_view name = {});
// Average pooling of x (N, C, H, W) to (N, C, output_size), windows as PyTorch's
// AdaptiveAvgPool2d; output {1, 1} is global average pooling.
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> output_size, std::string_view name = {});

}  // namespace relprop
