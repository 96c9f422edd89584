// CUDA context: device query, stream, cuBLAS and cuDNN handles, checked calls.

#include "relprop/cuda/context.hpp"

#include <cstdlib>
#include <mutex>
#include <string>

#include "relprop/cuda/common.cuh"

namespace relprop::cuda {

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

DeviceInfo device_info(int device) {
  if (device < 0 || device >= device_count())
    throw IndexError("CUDA device " + std::to_string(device) + " does not exist (" +
                     std::to_string(device_count()) + " devices)");
  cudaDeviceProp p{};
  RELPROP_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  DeviceInfo d;
  d.name = p.name;
  d.major = p.major;
  d.minor = p.minor;
  d.sms = p.multiProcessorCount;
  d.memory_gib = static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
  int clock_khz = 0, mem_khz = 0, bus_bits = 0;
  RELPROP_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device));
  RELPROP_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, device));
  RELPROP_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device));
  d.clock_ghz = clock_khz / 1e6;
  // FP32 lanes per SM: 64 on sm_60 / sm_70 / sm_80, 128 on sm_86 / sm_89 / sm_90 and later.
  const int lanes = (p.major > 8 || (p.major == 8 && p.minor >= 6)) ? 128 : 64;
  d.fp32_tflops = d.sms * lanes * 2.0 * d.clock_ghz / 1e3;
  d.bandwidth_gbs = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  return d;
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

Context& context() {
  // Created once, on first use, and kept for the life of the process (a static would be
  // destroyed after the driver may have shut down; the handles then leak harmlessly).
  static Context* ctx = [] {
    int dev = 0;
    if (const char* env = std::getenv("RELPROP_CUDA_DEVICE")) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end == env || *end != '\0' || v < 0)
        throw ValueError(std::string("RELPROP_CUDA_DEVICE must be a GPU index, got '") + env + "'");
      dev = static_cast<int>(v);
    }
    return new Context(dev);
  }();
  return *ctx;
}

}  // namespace relprop::cuda
