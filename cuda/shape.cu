// Nearest-neighbour upsampling on the GPU (cuda/shape.hpp), the twin of the loops in
// ops/shape.cpp. Letters: P = N * C planes, H W input, OH OW output.

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/shape.hpp"

namespace relprop::cuda {

namespace {

// The output indices o in [0, out) whose source o * in / out is i: [lo, hi], exact
// (i out <= o in < (i + 1) out).
__device__ __forceinline__ void copies_of(std::int64_t i, std::int64_t in, std::int64_t out, std::int64_t& lo,
                                          std::int64_t& hi) {
  lo = (i * out + in - 1) / in;
  hi = ((i + 1) * out - 1) / in;
  if (hi > out - 1) hi = out - 1;
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, std::int64_t OH, std::int64_t OW) {
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = empty({N, C, OH, OW});
  // x: (P, H, W); y: (P, OH, OW).
  const float* xp = ptr<float>(x);
  float* yp = ptr<float>(y);
  launch(y.numel(), [=] __device__(std::int64_t i) {
    const std::int64_t ow = i % OW, oh = (i / OW) % OH, p = i / (OW * OH);
    yp[i] = xp[(p * H + oh * H / OH) * W + ow * W / OW];
  });
  return y;
}

Tensor upsample_nearest2d_relevance(const Tensor& R, const Shape& in) {
  const std::int64_t H = in[2], W = in[3], OH = R.size(2), OW = R.size(3);
  Tensor r = empty(in);  // every element written
  // R: (P, OH, OW); r: (P, H, W). A gather: the additions of the CPU's scatter, in its
  // order (oh, then ow), without atomics.
  const float* rp = ptr<float>(R);
  float* o = ptr<float>(r);
  launch(r.numel(), [=] __device__(std::int64_t i) {
    const std::int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
    std::int64_t oh0, oh1, ow0, ow1;
    copies_of(h, H, OH, oh0, oh1);
    copies_of(w, W, OW, ow0, ow1);
    float acc = 0.0f;
    for (std::int64_t oh = oh0; oh <= oh1; ++oh)
      for (std::int64_t ow = ow0; ow <= ow1; ++ow) acc = __fadd_rn(acc, rp[(p * OH + oh) * OW + ow]);
    o[i] = acc;
  });
  return r;
}

}  // namespace relprop::cuda
