#pragma once
// Row reductions shared by the row kernels of cuda/attention.cu, cuda/norm.cu and
// cuda/token.cu: a warp per row (softmax, sums over the last dimension) or a block per
// row (the norms). Every sum is in double, in a fixed order (per-thread strides, then a
// butterfly over the warp, then the warps in order), so results do not vary from run to
// run.

#include <algorithm>
#include <cstdint>

namespace relprop::cuda::reduce {

inline constexpr unsigned kFull = 0xffffffffu;
inline constexpr int kRowThreads = 256;  // threads of a row kernel's block: 8 warps, 8 rows
inline constexpr int kRowWarps = kRowThreads / 32;
inline constexpr int kNormThreads = 256;  // one block per normalised row

// Blocks for `rows` rows of one warp each, capped (the kernels loop over rows).
inline unsigned row_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>((rows + kRowWarps - 1) / kRowWarps, 1 << 20)));
}
inline unsigned norm_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(rows, 1 << 20)));
}

// Sum over the warp: a butterfly, so every lane ends with the same value.
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Maximum over the warp as std::max(a, b) takes it; lane 0's result is broadcast so the
// lanes agree even with NaN.
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(kFull, v, o);
    v = v < u ? u : v;
  }
  return __shfl_sync(kFull, v, 0);
}

// Sum over a block of kNormThreads threads; every thread gets the same value. `shm`:
// kNormThreads / 32 doubles, reused by consecutive calls.
__device__ __forceinline__ double block_sum(double v, double* shm) {
  v = warp_sum(v);
  __syncthreads();  // the previous call's readers are done with shm
  if (threadIdx.x % 32 == 0) shm[threadIdx.x / 32] = v;
  __syncthreads();
  double t = 0;
  for (int w = 0; w < kNormThreads / 32; ++w) t += shm[w];
  return t;
}
}  // namespace relprop::cuda::reduce
