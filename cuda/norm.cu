// Batch normalisation on the GPU (cuda/norm.hpp), the twin of ops/norm.cpp. Element-wise:
// one thread per element, channel c = (i / S) % C. Letters: N batch, C channels, S the
// spatial size (product of the dimensions after C).

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/norm.hpp"

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

}  // namespace relprop::cuda
