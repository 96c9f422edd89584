#pragma once
// The Scaled stabiliser's epsilon on the GPU, for kernels that give one block of 256
// threads to a row: eps * sqrt(mean(z^2)) over the row's `group` elements, the squares
// summed in double in a fixed order (per-thread strides, then a tree over the block), the
// same on every run. Used by cuda/stabilize.cu and the linear-type skeleton's CUDA policy.

#include <cstdint>

namespace relprop::cuda {

// Every thread of the block gets the row's epsilon. z: the row's first element.
__device__ inline float block_row_epsilon(const float* z, std::int64_t group, double eps) {
  __shared__ double part[256];
  double sq = 0;
  for (std::int64_t i = threadIdx.x; i < group; i += blockDim.x) sq += static_cast<double>(z[i]) * z[i];
  part[threadIdx.x] = sq;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  return static_cast<float>(eps * sqrt(part[0] / static_cast<double>(group)));
}

}  // namespace relprop::cuda
