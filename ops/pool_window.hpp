#pragma once
// The windows of 2-d pooling, written once for the CPU (ops/pool.cpp) and the GPU
// (cuda/pool.cu): the geometry as plain numbers, the valid taps of one output's window
// along one dimension, and the running maximum of a max window with its position.
// Letters: N C H W input, HO WO output.

#include <cstdint>
#include <limits>

#include "relprop/ops/host_device.hpp"

namespace relprop::detail {

enum class PoolWindows : std::int32_t { Max, Avg, Adaptive };

// How relevance leaves a window (PoolNode::relevance in ops/pool.cpp, cuda/pool.cu).
enum class PoolMode : std::int32_t {
  WinnerTakeAll,  // max: to the maximum, ties sharing equally
  FirstMax,       // max, gradient: to the first maximum in scan order
  Proportional,   // max, norm-ish: x_j R / stab(sum_window x)
  Norm,           // avg: x_j R / (d stab(y))
  AbsShare,       // avg, backtrace: R |x_j| / sum_window |x| (uniform when the sum is 0)
  MeanGradient,   // avg, gradient: R / d
  Uniform,        // uniform: R / (the window's positions inside the input)
};

// The geometry as plain numbers (a kernel takes it by value). Avg: dilation 1.
struct PoolGeom {
  PoolWindows kind = PoolWindows::Max;
  std::int64_t N = 0, C = 0, H = 0, W = 0, HO = 0, WO = 0;
  std::int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, padding[2] = {0, 0}, dilation[2] = {1, 1};
  bool count_include_pad = true;
};

// One dimension of a window: valid input indices b, b + step, ... < e, and the divisor's
// factor (the padded or the valid count) for average pooling.
struct PoolSpan {
  std::int64_t b, e, step;
  double count;
};

// The window of output o along dimension d (0: rows, 1: columns). Adaptive windows as
// PyTorch's AdaptiveAvgPool2d; max windows dilated, clipped to the input; average
// windows counting the padding up to the padded edge unless told not to.
RELPROP_HOST_DEVICE inline PoolSpan pool_span(const PoolGeom& g, std::int64_t o, int d) {
  const std::int64_t in = d == 0 ? g.H : g.W, out = d == 0 ? g.HO : g.WO;
  PoolSpan s{};
  if (g.kind == PoolWindows::Adaptive) {
    s.b = o * in / out;
    s.e = ((o + 1) * in + out - 1) / out;
    s.step = 1;
    s.count = static_cast<double>(s.e - s.b);
    return s;
  }
  const std::int64_t start = o * g.stride[d] - g.padding[d];
  if (g.kind == PoolWindows::Max) {  // the valid taps of a dilated window
    const std::int64_t k = g.kernel[d], dil = g.dilation[d];
    const std::int64_t kmin = start < 0 ? (-start + dil - 1) / dil : 0;
    std::int64_t kmax = (in - 1 - start) >= 0 ? (in - 1 - start) / dil : -1;
    if (k - 1 < kmax) kmax = k - 1;
    s.b = start + kmin * dil;
    s.e = kmax >= kmin ? start + kmax * dil + 1 : s.b;
    s.step = dil;
    s.count = 1.0;
    return s;
  }
  std::int64_t end = start + g.kernel[d];
  if (in + g.padding[d] < end) end = in + g.padding[d];
  s.b = start > 0 ? start : 0;
  s.e = end < in ? end : in;
  s.step = 1;
  s.count = static_cast<double>(g.count_include_pad ? end - start : s.e - s.b);
  return s;
}

// The argmax code of an empty window (see PoolMaxScan::code).
inline constexpr std::int32_t kPoolEmptyWindow = std::numeric_limits<std::int32_t>::min();

// A max window scanned in order (rows, then columns): its maximum, the position of the
// first element holding it, and whether another element equals it.
struct PoolMaxScan {
  float m = -std::numeric_limits<float>::infinity();
  std::int64_t at = -1;
  bool tied = false;
  RELPROP_HOST_DEVICE void add(float v, std::int64_t pos) {
    if (v > m || at < 0) {
      m = v;
      at = pos;
      tied = false;
    } else if (v == m) {
      tied = true;
    }
  }
  // The position (h * W + w inside the plane), negated minus one when tied;
  // kPoolEmptyWindow for an empty window.
  RELPROP_HOST_DEVICE std::int32_t code() const {
    return at < 0 ? kPoolEmptyWindow : static_cast<std::int32_t>(tied ? -at - 1 : at);
  }
};

}  // namespace relprop::detail
