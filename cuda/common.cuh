#pragma once
// What every CUDA source of relprop shares: the checked-call macro, the process's
// context (stream and library handles) and a grid-stride launcher for element-wise
// kernels written as device lambdas.

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "relprop/cuda/context.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

[[noreturn]] void fail(const char* call, const std::string& what, const char* file, int line);
void check(cudaError_t e, const char* call, const char* file, int line);
void check(cublasStatus_t s, const char* call, const char* file, int line);
void check(cudnnStatus_t s, const char* call, const char* file, int line);

// Throws CudaError naming the call, file and line when `call` fails.
#define RELPROP_CUDA_CHECK(call) ::relprop::cuda::check((call), #call, __FILE__, __LINE__)

// The context every tensor operation runs on: GPU 0, or RELPROP_CUDA_DEVICE; created on
// first use. Throws UnsupportedError when there is no GPU.
Context& context();
inline cudaStream_t stream() { return static_cast<cudaStream_t>(context().stream()); }
inline cublasHandle_t cublas() { return static_cast<cublasHandle_t>(context().cublas()); }
inline cudnnHandle_t cudnn() { return static_cast<cudnnHandle_t>(context().cudnn()); }

template <class F>
__global__ void map_kernel(std::int64_t n, F f) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

// Runs f(i) for i in [0, n) on the context's stream (grid-stride, 256 threads a block).
template <class F>
void launch(std::int64_t n, F f) {
  if (n <= 0) return;
  const std::int64_t blocks = std::min<std::int64_t>((n + 255) / 256, 65536);
  map_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream()>>>(n, f);
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

// Blocks of 256 threads for `n` elements, capped for grid-stride loops.
inline unsigned blocks_for(std::int64_t n, int threads = 256) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>((n + threads - 1) / threads, 65536)));
}

// The device pointer of a CUDA tensor's first element (dtype and device checked).
template <class T>
T* ptr(const Tensor& t) {
  return t.device_data<T>();
}

// A contiguous float32 tensor on the GPU: empty / zeros.
inline Tensor empty(const Shape& s) { return Tensor::empty(s, DType::F32, Device::CUDA); }
inline Tensor zeros(const Shape& s) { return Tensor::zeros(s, DType::F32, Device::CUDA); }

}  // namespace relprop::cuda
