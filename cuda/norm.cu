// Normalisation on the GPU (cuda/norm.hpp), the twin of ops/norm.cpp. Batch norm is
// element-wise: one thread per element, channel c = (i / S) % C (N batch, C channels, S
// the spatial size, the product of the dimensions after C). Layer / RMS norm give one block
// to a row of D elements (cuda/reduce.cuh: sums in double, in a fixed order).

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/norm.hpp"
#include "relprop/cuda/primitives.hpp"
#include "relprop/cuda/stabilize.hpp"
#include "relprop/cuda/reduce.cuh"

namespace relprop::cuda {

void batch_norm_affine(const Tensor& mean, const Tensor& var, const Tensor& w, const Tensor& b, double eps,
                       Tensor& scale, Tensor& shift) {
  const std::int64_t C = mean.numel();
  scale = empty({C});
  shift = empty({C});
  // mean, var, w, b, scale, shift: (C,); w, b may be null.
  const float* m = ptr<float>(mean);
  const float* v = ptr<float>(var);
  const float* wp = w.defined() ? ptr<float>(w) : nullptr;
  const float* bp = b.defined() ? ptr<float>(b) : nullptr;
  float* sc = ptr<float>(scale);
  float* sh = ptr<float>(shift);
  launch(C, [=] __device__(std::int64_t c) {
    const double inv = 1.0 / sqrt(static_cast<double>(v[c]) + eps);
    const double g = wp ? wp[c] : 1.0, be = bp ? bp[c] : 0.0;
    sc[c] = static_cast<float>(g * inv);
    sh[c] = static_cast<float>(be - m[c] * g * inv);
  });
}

namespace {

// x, y: (N, C, S); scale, shift: (C,); shift may be null (y = x * scale).
void channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift, const Tensor& y) {
  const std::int64_t n = x.numel();
  if (n == 0) return;
  const std::int64_t C = x.size(1), S = n / (x.size(0) * C);
  const float* xp = ptr<float>(x);
  const float* sc = ptr<float>(scale);
  const float* sh = shift.defined() ? ptr<float>(shift) : nullptr;
  float* yp = ptr<float>(y);
  launch(n, [=] __device__(std::int64_t i) {
    const std::int64_t c = (i / S) % C;
    // Product and sum rounded apart, as the CPU's x * scale + shift.
    yp[i] = sh ? __fadd_rn(__fmul_rn(xp[i], sc[c]), sh[c]) : __fmul_rn(xp[i], sc[c]);
  });
}

}  // namespace

Tensor batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift) {
  Tensor y = empty(x.shape());
  channel_affine(x, scale, shift, y);
  return y;
}

Tensor batch_norm_gradient(const Tensor& R, const Tensor& scale) {
  Tensor g = empty(R.shape());
  channel_affine(R, scale, Tensor(), g);
  return g;
}

namespace {

using namespace reduce;

// One block per row. x, y: (rows, D); w, b: (D,) or nullptr; inv: (rows,).
__global__ void norm_forward_kernel(const float* x, const float* w, const float* b, float* y, float* inv,
                                    std::int64_t rows, std::int64_t D, double eps, bool rms) {
  __shared__ double shm[kNormThreads / 32];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * D;
    double mean = 0;
    if (!rms) {
      double a = 0;
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) a += xr[d];
      mean = block_sum(a, shm) / static_cast<double>(D);
    }
    double v = 0;
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) v += (xr[d] - mean) * (xr[d] - mean);
    const double var = block_sum(v, shm) / static_cast<double>(D);
    const double iv = 1.0 / sqrt(var + eps);
    if (threadIdx.x == 0) inv[row] = static_cast<float>(iv);
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads)
      y[row * D + d] = static_cast<float>((xr[d] - mean) * iv * (w ? w[d] : 1.0f) + (b ? b[d] : 0.0f));
  }
}

// One block per row. Epsilon (`grad` false): q = R / stab(y), R_x = x ⊙ (q' - mean(q'))
// with q' = q γ inv. Gradient: g' = γ R; layer norm dx = inv (g' - mean(g') - x̂
// mean(g' x̂)) with x̂ = (x - mean) inv; RMS norm dx = inv (g' - x̂ mean(g' x̂)), x̂ = x inv.
__global__ void norm_relevance_kernel(const float* R, const float* q, const float* x, const float* inv, const float* w,
                                      float* o, std::int64_t rows, std::int64_t D, bool rms, bool grad) {
  __shared__ double shm[kNormThreads / 32];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t base = row * D;
    const double iv = inv[row];
    if (!grad) {
      double a = 0;
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads)
        a += static_cast<double>(q[base + d]) * (w ? w[d] : 1.0f) * iv;
      const double mq = block_sum(a, shm) / static_cast<double>(D);
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) {
        const double qd = static_cast<double>(q[base + d]) * (w ? w[d] : 1.0f) * iv;
        o[base + d] = static_cast<float>(x[base + d] * (qd - mq));
      }
      continue;
    }
    double mean_x = 0;
    if (!rms) {
      double a = 0;
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) a += x[base + d];
      mean_x = block_sum(a, shm) / static_cast<double>(D);
    }
    double sg = 0, sgx = 0;
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) {
      const double gp = static_cast<double>(R[base + d]) * (w ? w[d] : 1.0f);
      const double xh = (x[base + d] - mean_x) * iv;
      sg += gp;
      sgx += gp * xh;
    }
    const double mg = block_sum(sg, shm) / static_cast<double>(D);
    const double mgx = block_sum(sgx, shm) / static_cast<double>(D);
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) {
      const double gp = static_cast<double>(R[base + d]) * (w ? w[d] : 1.0f);
      const double xh = (x[base + d] - mean_x) * iv;
      o[base + d] = static_cast<float>(iv * (gp - (rms ? 0.0 : mg) - xh * mgx));
    }
  }
}

}  // namespace

// ---- layer norm / RMS norm ----------------------------------------------------------------

NormForward norm_forward(bool rms, const Tensor& x, const Tensor& w, const Tensor& b, double eps, std::int64_t D) {
  const std::int64_t rows = D > 0 ? x.numel() / D : 0;
  NormForward r{empty(x.shape()), empty({std::max<std::int64_t>(rows, 1)})};
  if (rows == 0) return r;
  norm_forward_kernel<<<norm_blocks(rows), kNormThreads, 0, stream()>>>(
      ptr<float>(x), w.defined() ? ptr<float>(w) : nullptr, b.defined() ? ptr<float>(b) : nullptr, ptr<float>(r.y),
      ptr<float>(r.inv), rows, D, eps, rms);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return r;
}

Tensor norm_relevance(bool rms, bool gradient, detail::Stab stab, const Tensor& R, const Tensor& x,
                      const Tensor& inv, const Tensor& w, const Tensor& y, std::int64_t D) {
  const std::int64_t n = R.numel(), rows = D > 0 ? n / D : 0;
  Tensor g = empty(R.shape());
  if (rows == 0) return g;
  // q = R / stab(y): the ε-rule at the output (the scale is applied in the kernel).
  const Tensor q = gradient ? Tensor() : stabilized_divide(R, y, n, stab);
  norm_relevance_kernel<<<norm_blocks(rows), kNormThreads, 0, stream()>>>(
      ptr<float>(R), gradient ? nullptr : ptr<float>(q), ptr<float>(x), ptr<float>(inv),
      w.defined() ? ptr<float>(w) : nullptr, ptr<float>(g), rows, D, rms, gradient);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return g;
}


}  // namespace relprop::cuda
