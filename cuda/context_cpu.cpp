// The CUDA context in a build without the CUDA backend: no devices, and a clear error
// for anyone who asks for one.

#include "relprop/cuda/context.hpp"

#include <string>

namespace relprop::cuda {

bool built() { return false; }
int device_count() { return 0; }
std::string device_description(int device) {
  throw IndexError("CUDA device " + std::to_string(device) +
                   " does not exist: this relprop was built without the CUDA backend");
}

DeviceInfo device_info(int device) {
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

// ---- device memory (tensor/device.hpp) without the backend ------------------------------

#include "relprop/tensor/device.hpp"

namespace relprop::device {

namespace {
[[noreturn]] void no_backend(const char* what) {
  throw UnsupportedError(std::string(what) +
                         ": this relprop was built without the CUDA backend, so tensors live on the CPU only");
}
}  // namespace

void* allocate(std::size_t, Device) { no_backend("device::allocate"); }
void release(void*, std::size_t, Device) noexcept {}
void zero(void*, std::size_t, Device) { no_backend("device::zero"); }
void copy_bytes(void*, Device, const void*, Device, std::size_t) { no_backend("device::copy_bytes"); }
void copy_strided(void*, const Shape&, const void*, const Shape&, const Shape&, std::size_t) {
  no_backend("device::copy_strided");
}
void convert(void*, DType, const void*, DType, std::int64_t) { no_backend("device::convert"); }
void fill(void*, DType, std::int64_t, double) { no_backend("device::fill"); }
void synchronize() {}
std::size_t cached_bytes() { return 0; }
std::size_t allocated_bytes() { return 0; }
std::size_t available_bytes() { return 0; }
void release_cache() {}

}  // namespace relprop::device

// ---- CUDA Graphs without the backend ------------------------------------------------------

#include "relprop/cuda/graph.hpp"

namespace relprop::cuda {

struct MemoryPool {};
MemoryPool* pool_create() { return nullptr; }
void pool_activate(MemoryPool*) {}
void pool_destroy(MemoryPool*) noexcept {}

struct CapturedGraph::Impl {};
CapturedGraph::CapturedGraph() = default;
CapturedGraph::~CapturedGraph() = default;
void CapturedGraph::begin() { throw UnsupportedError("CUDA Graphs need the CUDA backend"); }
void CapturedGraph::end() { throw UnsupportedError("CUDA Graphs need the CUDA backend"); }
void CapturedGraph::abort() noexcept {}
void CapturedGraph::replay() { throw UnsupportedError("CUDA Graphs need the CUDA backend"); }
bool CapturedGraph::ready() const { return false; }

}  // namespace relprop::cuda
