// GPU twins of ops/token.cpp (cuda/token.hpp): embedding lookups, rotary position
// embedding, the prepended token and masked mean pooling. Letters: N batch, T tokens, H
// heads, d head size (h = d / 2), D hidden size.

#include <cmath>

#include "relprop/cuda/common.cuh"
#include "relprop/ops/common.hpp"  // absorb_overflow
#include "relprop/cuda/primitives.hpp"
#include "relprop/cuda/reduce.cuh"
#include "relprop/cuda/token.hpp"

namespace relprop::cuda {

namespace {

using namespace reduce;

// One warp per row: out[row] = Σ_d R[row, d] in double.
__global__ void sum_last_kernel(const float* R, float* out, std::int64_t rows, std::int64_t D) {
  const int lane = threadIdx.x % 32;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * kRowWarps;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowWarps + threadIdx.x / 32; row < rows;
       row += step) {
    double acc = 0;
    for (std::int64_t d = lane; d < D; d += 32) acc += R[row * D + d];
    acc = warp_sum(acc);
    if (lane == 0) out[row] = static_cast<float>(acc);
  }
}

__device__ __forceinline__ bool bad_id(double id, std::int64_t V) {
  return !(id >= 0 && id < static_cast<double>(V)) || id != floor(id);
}

// Rotary inverse frequencies, passed by value (d / 2 of them).
constexpr int kMaxRotaryHalf = 512;
struct InvFreq {
  float v[kMaxRotaryHalf];
};

}  // namespace

// ---- embedding ----------------------------------------------------------------------------

Tensor embedding_forward(const Tensor& ids64, const Tensor& w, const Shape& out, const std::string& who) {
  const std::int64_t V = w.size(0), D = w.size(1), n = ids64.numel();
  Tensor y = empty(out);
  const double* id = ptr<double>(ids64);
  // While a CUDA Graph is being captured nothing can be read back: the check is skipped
  // and a bad id gives a zero row (GraphExplainer's eager first call has checked the shape's
  // ids; later replays are not checked).
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  RELPROP_CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
  if (n > 0 && capturing == cudaStreamCaptureStatusNone) {
    // The first bad position (atomicMin: the same answer whatever the order), n if none.
    const Tensor first = Tensor::full({1}, static_cast<double>(n), DType::I64, Device::CUDA);
    auto* fp = reinterpret_cast<unsigned long long*>(first.device_data<std::int64_t>());
    launch(n, [=] __device__(std::int64_t i) {
      if (bad_id(id[i], V)) atomicMin(fp, static_cast<unsigned long long>(i));
    });
    const auto pos = static_cast<std::int64_t>(first.to(Device::CPU).get_flat(0));
    if (pos < n) {
      const double bad = ids64.reshape({n}).slice(0, pos, pos + 1).to(Device::CPU).get_flat(0);
      throw IndexError(who + ": id " + std::to_string(static_cast<long long>(bad)) + " at position " +
                       std::to_string(pos) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
    }
  }
  if (y.numel() == 0) return y;
  const float* wp = ptr<float>(w);
  float* yp = ptr<float>(y);
  launch(n * D, [=] __device__(std::int64_t i) {
    const std::int64_t r = i / D, c = i % D;
    const double v = id[r];
    yp[i] = bad_id(v, V) ? 0.0f : wp[static_cast<std::int64_t>(v) * D + c];  // (bad ids have thrown)
  });
  return y;
}

Tensor sum_last(const Tensor& R, const Shape& out) {
  Tensor r = zeros(out);
  const std::int64_t rows = r.numel(), D = rows > 0 ? R.numel() / rows : 0;
  if (rows == 0 || D == 0) return r;
  sum_last_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(ptr<float>(R), ptr<float>(r), rows, D);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return r;
}

// ---- rotary position embedding ------------------------------------------------------------

RotaryTables rotary_tables(const Tensor& position_ids, double theta, std::int64_t N, std::int64_t T,
                           std::int64_t d) {
  const std::int64_t h = d / 2;
  if (h > kMaxRotaryHalf)
    throw UnsupportedError("rotary_embedding on the GPU: head size " + std::to_string(d) + " above " +
                           std::to_string(2 * kMaxRotaryHalf));
  // As Hugging Face computes it (and the CPU code, on the host here, bit for bit):
  // inv_freq in float32, angle = position x inv_freq in float32.
  InvFreq inv{};
  for (std::int64_t j = 0; j < h; ++j)
    inv.v[j] = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * j) / static_cast<float>(d));
  RotaryTables t{empty({N, T, h}), empty({N, T, h})};
  if (N * T * h == 0) return t;
  const Tensor pos = f64_on_gpu(position_ids);
  const double* p = ptr<double>(pos);
  float* c = ptr<float>(t.cos);
  float* s = ptr<float>(t.sin);
  launch(N * T * h, [=] __device__(std::int64_t i) {
    const float angle = static_cast<float>(p[i / h]) * inv.v[i % h];
    c[i] = cosf(angle);
    s[i] = sinf(angle);
  });
  return t;
}

Tensor rotary_forward(const Tensor& x, const RotaryTables& t, std::int64_t H, std::int64_t T, std::int64_t d) {
  Tensor y = empty(x.shape());
  const std::int64_t h = d / 2, pairs = x.numel() / 2;
  if (pairs == 0) return y;
  const float* xp = ptr<float>(x);
  const float* cp = ptr<float>(t.cos);
  const float* sp = ptr<float>(t.sin);
  float* yp = ptr<float>(y);
  launch(pairs, [=] __device__(std::int64_t i) {
    const std::int64_t r = i / h, j = i % h, b = r / (H * T), tt = r % T;
    const std::int64_t ci = (b * T + tt) * h + j, base = r * d;
    const float c = cp[ci], s = sp[ci], x1 = xp[base + j], x2 = xp[base + j + h];
    yp[base + j] = x1 * c - x2 * s;
    yp[base + j + h] = x2 * c + x1 * s;
  });
  return y;
}

Tensor rotary_relevance(const Tensor& S, const Tensor& x, const RotaryTables& t, bool gradient, std::int64_t H,
                        std::int64_t T, std::int64_t d) {
  Tensor g = empty(S.shape());
  const std::int64_t h = d / 2, pairs = S.numel() / 2;
  if (pairs == 0) return g;
  const float* gp = ptr<float>(S);
  const float* xp = ptr<float>(x);
  const float* cp = ptr<float>(t.cos);
  const float* sp = ptr<float>(t.sin);
  float* o = ptr<float>(g);
  // Transposed map: dx_j = c_j g_j + s_j g_{j+h}, dx_{j+h} = -s_j g_j + c_j g_{j+h}; the
  // ε-rule multiplies by x.
  launch(pairs, [=] __device__(std::int64_t i) {
    const std::int64_t r = i / h, j = i % h, b = r / (H * T), tt = r % T;
    const std::int64_t ci = (b * T + tt) * h + j, base = r * d;
    const float c = cp[ci], s = sp[ci], g1 = gp[base + j], g2 = gp[base + j + h];
    const float a = c * g1 + s * g2, bb = -s * g1 + c * g2;
    o[base + j] = gradient ? a : detail::absorb_overflow(xp[base + j] * a, xp[base + j]);
    o[base + j + h] = gradient ? bb : detail::absorb_overflow(xp[base + j + h] * bb, xp[base + j + h]);
  });
  return g;
}

// ---- prepend_token / masked_mean ----------------------------------------------------------

Tensor prepend_token(const Tensor& x, const Tensor& token, std::int64_t N, std::int64_t T, std::int64_t D) {
  Tensor y = empty({N, T + 1, D});
  if (y.numel() == 0) return y;
  const float* xp = ptr<float>(x);
  const float* tp = ptr<float>(token);
  float* yp = ptr<float>(y);
  launch(y.numel(), [=] __device__(std::int64_t i) {
    const std::int64_t b = i / ((T + 1) * D), p = (i / D) % (T + 1), c = i % D;
    yp[i] = p == 0 ? tp[c] : xp[(b * T + p - 1) * D + c];
  });
  return y;
}

Tensor masked_mean_weights(const Tensor& mask, std::int64_t N, std::int64_t T) {
  Tensor w = empty({N, T});
  if (N * T == 0) return w;
  const Tensor m = mask.defined() ? f64_on_gpu(mask) : Tensor();
  const double* mp = mask.defined() ? ptr<double>(m) : nullptr;
  float* wp = ptr<float>(w);
  // One thread per sample: mask_t / Σ mask, the count in double as on the CPU.
  launch(N, [=] __device__(std::int64_t b) {
    double c = 0;
    for (std::int64_t t = 0; t < T; ++t) c += !mp || mp[b * T + t] != 0 ? 1.0f : 0.0f;
    for (std::int64_t t = 0; t < T; ++t) {
      const float v = !mp || mp[b * T + t] != 0 ? 1.0f : 0.0f;
      wp[b * T + t] = c > 0 ? static_cast<float>(v / c) : 0.0f;
    }
  });
  return w;
}

Tensor masked_mean_forward(const Tensor& x, const Tensor& w, std::int64_t N, std::int64_t T, std::int64_t inner,
                           const Shape& out) {
  Tensor y = zeros(out);
  if (N * inner == 0) return y;
  const float* xp = ptr<float>(x);
  const float* wp = ptr<float>(w);
  float* yp = ptr<float>(y);
  launch(N * inner, [=] __device__(std::int64_t i) {
    const std::int64_t b = i / inner, j = i % inner;
    double acc = 0;
    for (std::int64_t t = 0; t < T; ++t) acc += static_cast<double>(wp[b * T + t]) * xp[(b * T + t) * inner + j];
    yp[i] = static_cast<float>(acc);
  });
  return y;
}

Tensor masked_mean_relevance(const Tensor& S, const Tensor& x, const Tensor& w, MeanMode mode, std::int64_t N,
                             std::int64_t T, std::int64_t inner) {
  Tensor g = empty(x.shape());
  if (N * inner == 0 || T == 0) return g;
  const float* sp = ptr<float>(S);
  const float* xp = ptr<float>(x);
  const float* wp = ptr<float>(w);
  float* o = ptr<float>(g);
  const int md = static_cast<int>(mode);
  constexpr int kGrad = static_cast<int>(MeanMode::Gradient), kEps = static_cast<int>(MeanMode::Epsilon);
  launch(N * inner, [=] __device__(std::int64_t i) {
    const std::int64_t b = i / inner, j = i % inner;
    double total = 0;  // absolute: Σ_t w_t |x_t| (each product in float, as on the CPU)
    if (md != kGrad && md != kEps)
      for (std::int64_t t = 0; t < T; ++t) total += wp[b * T + t] * fabsf(xp[(b * T + t) * inner + j]);
    const double r = sp[i];
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t k = (b * T + t) * inner + j;
      const double wt = wp[b * T + t];
      o[k] = md == kGrad  ? static_cast<float>(wt * r)
             : md == kEps ? static_cast<float>(wt * xp[k] * r)
                          : static_cast<float>(total > 0 ? r * wt * fabsf(xp[k]) / total : 0.0);
    }
  });
  return g;
}

}  // namespace relprop::cuda
