#pragma once
// CUDA context: device query, one stream per context, cuBLAS and cuDNN handles. Every
// CUDA / cuBLAS / cuDNN call is checked; a failure throws CudaError naming the call, file
// and line. In a build without the CUDA backend, device_count() is 0 and CudaContext
// throws UnsupportedError.

#include <memory>
#include <string>

#include "relprop/tensor/error.hpp"

namespace relprop {

// A CUDA, cuBLAS or cuDNN call failed.
class CudaError : public Error {
 public:
  using Error::Error;
};

namespace cuda {

// Whether this build contains the CUDA backend.
bool built();
// Number of usable GPUs (0 without the backend, a driver or a device).
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)"; IndexError for a bad index.
std::string device_description(int device);

// A GPU's figures for benchmark reports.
struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;   // compute capability
  int sms = 0;                // streaming multiprocessors
  double clock_ghz = 0;       // boost clock
  double memory_gib = 0;
  double fp32_tflops = 0;     // FP32 FMA peak: SMs x FP32 lanes per SM x 2 x clock
  double bandwidth_gbs = 0;   // DRAM: memory clock x bus width x 2 (DDR)
};
// IndexError for a bad index.
DeviceInfo device_info(int device);

// The stream and library handles kernels run with, bound to one device.
class Context {
 public:
  // Creates the stream and handles on GPU `device`; UnsupportedError when there is no
  // such device or no CUDA backend, CudaError when a call fails.
  explicit Context(int device = 0);
  ~Context();  // destroys the handles and the stream
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const;           // the GPU index
  void* stream() const;         // the context's stream, a cudaStream_t
  void* cublas() const;         // cuBLAS handle bound to the stream, a cublasHandle_t
  void* cudnn() const;          // cuDNN handle bound to the stream, a cudnnHandle_t
  void synchronize() const;     // waits until the stream's work is done

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace relprop
