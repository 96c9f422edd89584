// Pooling on the GPU (cuda/pool.hpp), the twin of ops/pool.cpp.
// Forward: one thread per output element, its window scanned in the CPU's order (rows,
// then columns), sums in double. Relevance, two passes:
//   1. one thread per output element (window): what the window passes on — a coefficient
//      and who receives it (one element, the tied maxima, or all of the window);
//   2. one thread per input element: the sum, over the windows holding it in output order
//      (oh, then ow), of its share — the same additions in the same order as the CPU's
//      scatter, with no atomics.
// Letters: N C H W input, HO WO output; a plane is one (n, c).

#include <limits>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/pool.hpp"

namespace relprop::cuda {

namespace {

constexpr std::int32_t kEmptyWindow = detail::kPoolEmptyWindow;  // as ops/pool.cpp's argmax

// Who receives a window's coefficient (pass 1 -> pass 2): an index h * W + w inside the
// plane (>= 0), or one of these.
constexpr std::int32_t kNobody = -1;  // R = 0 (the CPU skips such windows) or an empty window
constexpr std::int32_t kTied = -2;    // every element equal to the window's maximum y
constexpr std::int32_t kEvery = -3;   // every element of the window

// One dimension of a window: detail::pool_span (ops/pool_window.hpp), as the CPU's.
using Span = detail::PoolSpan;

__device__ __forceinline__ bool holds(const Span& s, std::int64_t i) {
  return i >= s.b && i < s.e && (i - s.b) % s.step == 0;
}

__device__ __forceinline__ std::int64_t taps(const Span& s) { return s.e > s.b ? (s.e - s.b + s.step - 1) / s.step : 0; }

// Output indices [lo, hi] along dimension d whose windows may hold input index i (a
// superset: callers test holds()).
__device__ __forceinline__ void candidates(const PoolGeom& g, std::int64_t i, int d, std::int64_t& lo,
                                           std::int64_t& hi) {
  const std::int64_t in = d == 0 ? g.H : g.W, out = d == 0 ? g.HO : g.WO;
  if (g.kind == PoolWindows::Adaptive) {  // floor(i out / in) .. floor(((i + 1) out - 1) / in), widened
    lo = i * out / in - 1;
    hi = ((i + 1) * out - 1) / in + 1;
  } else {  // start = o s - p <= i <= start + (k - 1) dil
    const std::int64_t s = g.stride[d], pos = i + g.padding[d];
    const std::int64_t first = pos - (g.kernel[d] - 1) * g.dilation[d];
    lo = first <= 0 ? 0 : (first + s - 1) / s;
    hi = pos / s;
  }
  if (lo < 0) lo = 0;
  if (hi > out - 1) hi = out - 1;
}

// Decomposes a flat output index o into plane, oh, ow.
struct OutAt {
  std::int64_t plane, oh, ow;
};
__device__ __forceinline__ OutAt out_at(const PoolGeom& g, std::int64_t o) {
  const std::int64_t per = g.HO * g.WO, k = o % per;
  return OutAt{o / per, k / g.WO, k % g.WO};
}

// x: (N, C, H, W); y, argmax: (N, C, HO, WO); argmax may be null.
__global__ void pool_forward_kernel(PoolGeom g, const float* __restrict__ x, float* __restrict__ y,
                                    std::int32_t* __restrict__ argmax, std::int64_t n_out) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out; o += step) {
    const OutAt q = out_at(g, o);
    const Span r = detail::pool_span(g, q.oh, 0), c = detail::pool_span(g, q.ow, 1);
    const float* xi = x + q.plane * g.H * g.W;
    if (g.kind == PoolWindows::Max) {
      float m = -std::numeric_limits<float>::infinity();
      if (argmax) {  // the first maximum in scan order, and whether another equals it
        detail::PoolMaxScan scan;
        for (std::int64_t h = r.b; h < r.e; h += r.step)
          for (std::int64_t w = c.b; w < c.e; w += c.step) scan.add(xi[h * g.W + w], h * g.W + w);
        m = scan.m;
        argmax[o] = scan.code();
      } else {
        for (std::int64_t h = r.b; h < r.e; h += r.step)
          for (std::int64_t w = c.b; w < c.e; w += c.step) {
            const float v = xi[h * g.W + w];
            m = m < v ? v : m;  // std::max(m, v)
          }
      }
      y[o] = m;
    } else {
      double s = 0;
      for (std::int64_t h = r.b; h < r.e; h += r.step)
        for (std::int64_t w = c.b; w < c.e; w += c.step) s += xi[h * g.W + w];
      y[o] = static_cast<float>(s / (r.count * c.count));
    }
  }
}

// Pass 1: per window o, the coefficient coef[o] and its receivers who[o]; abs_sum[o]
// (AbsShare only) the window's sum of |x|. x: (N, C, H, W); y, R, argmax, coef, who,
// abs_sum: (N, C, HO, WO); argmax may be null, abs_sum null unless AbsShare.
__global__ void window_share_kernel(PoolGeom g, PoolMode mode, detail::Stab stab, const float* __restrict__ x,
                                    const float* __restrict__ y, const float* __restrict__ R,
                                    const std::int32_t* __restrict__ argmax, float* __restrict__ coef,
                                    std::int32_t* __restrict__ who, double* __restrict__ abs_sum, std::int64_t n_out) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out; o += step) {
    const float r = R[o];
    float k = 0.0f;
    std::int32_t to = kNobody;
    if (r != 0.0f) {
      const OutAt q = out_at(g, o);
      const Span rs = detail::pool_span(g, q.oh, 0), cs = detail::pool_span(g, q.ow, 1);
      const float* xi = x + q.plane * g.H * g.W;
      switch (mode) {
        case PoolMode::WinnerTakeAll:
        case PoolMode::FirstMax: {
          const std::int32_t a = argmax ? argmax[o] : kEmptyWindow;
          if (argmax && a == kEmptyWindow) break;
          if (argmax && (a >= 0 || mode == PoolMode::FirstMax)) {  // a unique maximum, or the first tied one
            to = a >= 0 ? a : -a - 1;
            k = r;
            break;
          }
          const float m = y[o];
          if (mode == PoolMode::FirstMax) {  // no argmax: the first element equal to the maximum
            for (std::int64_t h = rs.b; h < rs.e && to == kNobody; h += rs.step)
              for (std::int64_t w = cs.b; w < cs.e; w += cs.step)
                if (xi[h * g.W + w] == m) {
                  to = static_cast<std::int32_t>(h * g.W + w);
                  break;
                }
            k = r;
            break;
          }
          int ties = 0;  // winner-take-all, ties share equally
          for (std::int64_t h = rs.b; h < rs.e; h += rs.step)
            for (std::int64_t w = cs.b; w < cs.e; w += cs.step) ties += xi[h * g.W + w] == m;
          if (ties == 0) break;
          to = kTied;
          k = r / static_cast<float>(ties);
          break;
        }
        case PoolMode::Proportional:
        case PoolMode::Norm: {
          // Proportional: x_j R / stab(sum x). Norm: x_j R / (d stab(y)), y = sum x / d.
          double sum = 0;
          if (mode == PoolMode::Proportional)
            for (std::int64_t h = rs.b; h < rs.e; h += rs.step)
              for (std::int64_t w = cs.b; w < cs.e; w += cs.step) sum += xi[h * g.W + w];
          const float den = mode == PoolMode::Norm ? y[o] : static_cast<float>(sum);
          // Scaled: the root mean square of a one-element group is |den|.
          const float e = static_cast<float>(stab.kind == Stabilizer::Scaled
                                                 ? stab.epsilon * static_cast<double>(fabsf(den))
                                                 : stab.epsilon);
          float s = detail::stab_divide(r, den, e, stab.kind == Stabilizer::Clip);
          if (mode == PoolMode::Norm) s /= static_cast<float>(rs.count * cs.count);
          to = kEvery;
          k = s;
          break;
        }
        case PoolMode::AbsShare: {
          double sum = 0;
          for (std::int64_t h = rs.b; h < rs.e; h += rs.step)
            for (std::int64_t w = cs.b; w < cs.e; w += cs.step) sum += fabsf(xi[h * g.W + w]);
          abs_sum[o] = sum;
          to = kEvery;
          k = r;
          break;
        }
        case PoolMode::MeanGradient:
          to = kEvery;
          k = r / static_cast<float>(rs.count * cs.count);
          break;
        case PoolMode::Uniform:  // the window's positions inside the input
          to = kEvery;
          k = r / static_cast<float>(taps(rs) * taps(cs));
          break;
      }
    }
    coef[o] = k;
    who[o] = to;
  }
}

// Pass 2: r_in[i] = sum over the windows k holding input i (in output order) of its share
// of window k. x, r_in: (N, C, H, W); y, coef, who, abs_sum: (N, C, HO, WO).
template <PoolMode M>
__global__ void gather_kernel(PoolGeom g, const float* __restrict__ x, const float* __restrict__ y,
                              const float* __restrict__ coef, const std::int32_t* __restrict__ who,
                              const double* __restrict__ abs_sum, float* __restrict__ r_in, std::int64_t n_in) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  const std::int64_t plane_size = g.H * g.W, out_size = g.HO * g.WO;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_in; i += step) {
    const std::int64_t plane = i / plane_size, hw = i % plane_size, h = hw / g.W, w = hw % g.W;
    const float xv = x[i];
    std::int64_t oh0, oh1, ow0, ow1;
    candidates(g, h, 0, oh0, oh1);
    candidates(g, w, 1, ow0, ow1);
    float acc = 0.0f;  // the CPU's r_in starts at zero and adds window by window
    for (std::int64_t oh = oh0; oh <= oh1; ++oh) {
      const Span rs = detail::pool_span(g, oh, 0);
      if (!holds(rs, h)) continue;
      for (std::int64_t ow = ow0; ow <= ow1; ++ow) {
        const Span cs = detail::pool_span(g, ow, 1);
        if (!holds(cs, w)) continue;
        const std::int64_t k = plane * out_size + oh * g.WO + ow;
        const std::int32_t to = who[k];
        if (to == kNobody) continue;
        const float c = coef[k];
        if constexpr (M == PoolMode::WinnerTakeAll) {
          if (to >= 0 ? to == hw : xv == y[k]) acc = __fadd_rn(acc, c);
        } else if constexpr (M == PoolMode::FirstMax) {
          if (to == hw) acc = __fadd_rn(acc, c);
        } else if constexpr (M == PoolMode::Proportional || M == PoolMode::Norm) {
          acc = __fadd_rn(acc, __fmul_rn(xv, c));
        } else if constexpr (M == PoolMode::AbsShare) {
          const double sum = abs_sum[k];
          const double share = sum > 0 ? static_cast<double>(fabsf(xv)) / sum
                                       : 1.0 / static_cast<double>(taps(rs) * taps(cs));
          acc = __fadd_rn(acc, static_cast<float>(static_cast<double>(c) * share));
        } else {
          acc = __fadd_rn(acc, c);
        }
      }
    }
    r_in[i] = acc;
  }
}

template <PoolMode M>
void gather(const PoolGeom& g, const Tensor& x, const Tensor& y, const Tensor& coef, const Tensor& who,
            const Tensor& abs_sum, const Tensor& r_in) {
  const std::int64_t n = r_in.numel();
  gather_kernel<M><<<blocks_for(n), 256, 0, stream()>>>(g, ptr<float>(x), ptr<float>(y), ptr<float>(coef),
                                                        ptr<std::int32_t>(who),
                                                        abs_sum.defined() ? ptr<double>(abs_sum) : nullptr,
                                                        ptr<float>(r_in), n);
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

Tensor pool_forward(const PoolGeom& g, const Tensor& x, const Tensor& argmax) {
  Tensor y = empty({g.N, g.C, g.HO, g.WO});
  const std::int64_t n = y.numel();
  if (n == 0) return y;
  pool_forward_kernel<<<blocks_for(n), 256, 0, stream()>>>(
      g, ptr<float>(x), ptr<float>(y), argmax.defined() ? ptr<std::int32_t>(argmax) : nullptr, n);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return y;
}

Tensor pool_relevance(const PoolGeom& g, PoolMode mode, detail::Stab stab, const Tensor& x, const Tensor& y,
                      const Tensor& R, const Tensor& argmax) {
  const std::int64_t n_out = g.N * g.C * g.HO * g.WO;
  if (x.numel() == 0 || n_out == 0) return zeros(x.shape());
  // Receivers are int32 plane indices: only the first-max scan without an argmax (planes the
  // forward could not index in int32) would overflow them.
  if (mode == PoolMode::FirstMax && !argmax.defined() && g.H * g.W > std::numeric_limits<std::int32_t>::max())
    throw UnsupportedError("max pooling gradient on the GPU: an (H, W) plane of more than 2^31 - 1 elements");
  const Tensor coef = empty({n_out});
  const Tensor who = Tensor::empty({n_out}, DType::I32, Device::CUDA);
  const Tensor abs_sum = mode == PoolMode::AbsShare ? Tensor::empty({n_out}, DType::F64, Device::CUDA) : Tensor();
  window_share_kernel<<<blocks_for(n_out), 256, 0, stream()>>>(
      g, mode, stab, ptr<float>(x), ptr<float>(y), ptr<float>(R),
      argmax.defined() ? ptr<std::int32_t>(argmax) : nullptr, ptr<float>(coef), ptr<std::int32_t>(who),
      abs_sum.defined() ? ptr<double>(abs_sum) : nullptr, n_out);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  Tensor r_in = empty(x.shape());  // every element written by the gather
  switch (mode) {
    case PoolMode::WinnerTakeAll: gather<PoolMode::WinnerTakeAll>(g, x, y, coef, who, abs_sum, r_in); break;
    case PoolMode::FirstMax: gather<PoolMode::FirstMax>(g, x, y, coef, who, abs_sum, r_in); break;
    case PoolMode::Proportional: gather<PoolMode::Proportional>(g, x, y, coef, who, abs_sum, r_in); break;
    case PoolMode::Norm: gather<PoolMode::Norm>(g, x, y, coef, who, abs_sum, r_in); break;
    case PoolMode::AbsShare: gather<PoolMode::AbsShare>(g, x, y, coef, who, abs_sum, r_in); break;
    case PoolMode::MeanGradient: gather<PoolMode::MeanGradient>(g, x, y, coef, who, abs_sum, r_in); break;
    case PoolMode::Uniform: gather<PoolMode::Uniform>(g, x, y, coef, who, abs_sum, r_in); break;
  }
  return r_in;
}

}  // namespace relprop::cuda
