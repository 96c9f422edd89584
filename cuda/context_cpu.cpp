// The CUDA context in a build without the CUDA backend: no devices, and a clear error
// for anyone who asks for one.

#include "cuda/context.hpp"

#include <string>

namespace relprop::cuda {

bool built() { return false; }
int device_count() { return 0; }
std::string device_description(int device) {
  throw IndexError("CUDA device " + std::to_string(device) +
                   " does not exist: this relprop was built without the CUDA backend");
}

struct Context::Impl {};

Context::Context(int) {
  throw UnsupportedError(
      "this relprop was built without the CUDA backend (configure with -DRELPROP_CUDA=ON on a "
      "machine with nvcc, cuBLAS and cuDNN)");
}
Context::~Context() = default;
int Context::device() const { return -1; }
void* Context::stream() const { return nullptr; }
void* Context::cublas() const { return nullptr; }
void* Context::cudnn() const { return nullptr; }
void Context::synchronize() const {}

}  // namespace relprop::cuda
