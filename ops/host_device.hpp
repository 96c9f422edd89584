#pragma once
// RELPROP_HOST_DEVICE marks a function that CUDA kernels call as well as host code:
// __host__ __device__ under nvcc, nothing for the host compiler. Element-wise bodies are
// written once with it and serve the CPU loops and the GPU kernels alike
// (ops/linear_type_kernels.hpp, ops/activation_fn.hpp, ops/common.hpp's contrastive shares).

#ifdef __CUDACC__
#define RELPROP_HOST_DEVICE __host__ __device__
#else
#define RELPROP_HOST_DEVICE
#endif
