// CUDA context: device query, stream, cuBLAS and cuDNN handles, checked calls.

#include "cuda/context.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

namespace relprop::cuda {

namespace {

[[noreturn]] void fail(const char* call, const std::string& what, const char* file, int line) {
  throw CudaError(std::string(call) + " failed: " + what + " (" + file + ":" + std::to_string(line) + ")");
}

void check(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) fail(call, cudaGetErrorString(e), file, line);
}
void check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) fail(call, cublasGetStatusString(s), file, line);
}
void check(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) fail(call, cudnnGetErrorString(s), file, line);
}

}  // namespace

#define RELPROP_CUDA_CHECK(call) check((call), #call, __FILE__, __LINE__)

bool built() { return true; }

int device_count() {
  int n = 0;
  // No driver or no device is not an error here: the answer is zero GPUs.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

std::string device_description(int device) {
  if (device < 0 || device >= device_count())
    throw IndexError("CUDA device " + std::to_string(device) + " does not exist (" +
                     std::to_string(device_count()) + " devices)");
  cudaDeviceProp p{};
  RELPROP_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.totalGlobalMem >> 30) + " GiB)";
}

struct Context::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

Context::Context(int device) : impl_(std::make_unique<Impl>()) {
  if (device < 0 || device >= device_count())
    throw UnsupportedError("CUDA device " + std::to_string(device) + " is not available (" +
                           std::to_string(device_count()) + " GPUs found)");
  impl_->device = device;
  RELPROP_CUDA_CHECK(cudaSetDevice(device));
  RELPROP_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  RELPROP_CUDA_CHECK(cublasCreate(&impl_->cublas));
  RELPROP_CUDA_CHECK(cublasSetStream(impl_->cublas, impl_->stream));
  RELPROP_CUDA_CHECK(cudnnCreate(&impl_->cudnn));
  RELPROP_CUDA_CHECK(cudnnSetStream(impl_->cudnn, impl_->stream));
}

Context::~Context() {
  if (!impl_) return;
  // Destructors must not throw: release what exists, ignore errors of a dying context.
  if (impl_->cudnn) cudnnDestroy(impl_->cudnn);
  if (impl_->cublas) cublasDestroy(impl_->cublas);
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

int Context::device() const { return impl_->device; }
void* Context::stream() const { return impl_->stream; }
void* Context::cublas() const { return impl_->cublas; }
void* Context::cudnn() const { return impl_->cudnn; }
void Context::synchronize() const { RELPROP_CUDA_CHECK(cudaStreamSynchronize(impl_->stream)); }

}  // namespace relprop::cuda
