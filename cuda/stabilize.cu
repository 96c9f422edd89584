// The stabilised division on the GPU (cuda/stabilize.hpp), ops/common.hpp's twin: each
// element through detail::stab_divide, the Scaled epsilon from each row's mean square.

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/stabilize.cuh"
#include "relprop/cuda/stabilize.hpp"

namespace relprop::cuda {

namespace {

// One block per row: the Scaled epsilon from the row's mean square (double, fixed
// reduction order), then the division.
__global__ void scaled_divide_kernel(const float* R, const float* z, float* s, std::int64_t group, double eps,
                                     bool clip) {
  const std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * group;
  const float e = block_row_epsilon(z + b, group, eps);
  for (std::int64_t i = threadIdx.x; i < group; i += blockDim.x)
    s[b + i] = detail::stab_divide(R[b + i], z[b + i], e, clip);
}

}  // namespace

Tensor stabilized_divide(const Tensor& R_in, const Tensor& z_in, std::int64_t group, detail::Stab stab) {
  const Tensor R = R_in.to(DType::F32).contiguous(), z = z_in.to(DType::F32).contiguous();
  RELPROP_ASSERT(R.numel() == z.numel(), "cuda::stabilized_divide: element counts differ");
  Tensor s = empty(z.shape());
  const std::int64_t n = z.numel();
  if (n == 0) return s;
  const bool clip = stab.kind == Stabilizer::Clip;
  const float* r = ptr<float>(R);
  const float* zz = ptr<float>(z);
  float* o = ptr<float>(s);
  if (stab.kind == Stabilizer::Scaled) {
    if (group <= 0) group = n;
    if (n / group == 0) return s;  // as the CPU: no whole row, nothing written
    scaled_divide_kernel<<<static_cast<unsigned>(n / group), 256, 0, stream()>>>(r, zz, o, group, stab.epsilon, clip);
    RELPROP_CUDA_CHECK(cudaGetLastError());
    return s;
  }
  const float e = static_cast<float>(stab.epsilon);
  launch(n, [=] __device__(std::int64_t i) { o[i] = detail::stab_divide(r[i], zz[i], e, clip); });
  return s;
}

}  // namespace relprop::cuda
