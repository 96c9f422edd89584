// Device memory for the tensor layer (tensor/device.hpp): a caching allocator on the
// context's stream, copies between host and device, strided copies, dtype conversion
// and fills as kernels.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstring>
#include <map>
#include <mutex>

#include "relprop/cuda/common.cuh"
#include "relprop/tensor/device.hpp"
#include "relprop/tensor/memory.hpp"

namespace relprop::device {

namespace {

void require_cuda(Device d, const char* what) {
  if (d != Device::CUDA)
    throw UnsupportedError(std::string(what) + ": device '" + std::string(device_name(d)) + "' is not a GPU");
}

}  // namespace
}  // namespace relprop::device

namespace relprop::cuda {
// Memory of one captured CUDA Graph: while active on a thread, that thread's allocations
// come from (and return to) the pool only, so the addresses a captured graph reads and
// writes stay reserved for its replays until the pool is destroyed.
struct MemoryPool {
  std::multimap<std::size_t, void*> free;
  std::vector<void*> owned;
};
}  // namespace relprop::cuda

namespace relprop::device {
namespace {

thread_local cuda::MemoryPool* active_pool = nullptr;

// Blocks are rounded to 512 bytes (small) or 1 MiB (large) and kept after release; a
// request takes the smallest cached block that fits and is at most twice its size.
// cudaMalloc runs only on a miss, so repeated explanations of one model allocate nothing.
// Blocks of a MemoryPool go back to their pool, never to the shared cache.
class Cache {
 public:
  static Cache& get() {
    static Cache* c = new Cache();  // outlives every static tensor
    return *c;
  }
  static std::size_t round(std::size_t n) {
    return n < (std::size_t{1} << 20) ? (n + 511) / 512 * 512 : (n + (1 << 20) - 1) / (1 << 20) * (1 << 20);
  }
  void* take(std::size_t nbytes) {
    const std::size_t want = round(nbytes);
    cuda::MemoryPool* pool = active_pool;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (pool) {
        auto it = pool->free.lower_bound(want);
        if (it != pool->free.end() && it->first <= 2 * want) {
          void* p = it->second;
          sizes_[p] = {it->first, pool};
          pool->free.erase(it);
          return p;
        }
      }
      auto it = pool ? free_.end() : free_.lower_bound(want);
      if (it != free_.end() && it->first <= 2 * want) {
        void* p = it->second;
        sizes_[p] = {it->first, nullptr};
        cached_ -= it->first;
        in_use_ += it->first;
        free_.erase(it);
        return p;
      }
    }
    (void)cuda::context();  // selects the device, throws without one
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, want);
    // Not while a graph captures (pool set): release_all's stream wait would end the capture
    // and throw with the swapped-out blocks lost; the capture fails, the explainer goes eager.
    if (e == cudaErrorMemoryAllocation && !pool) {
      (void)cudaGetLastError();
      release_all();
      e = cudaMalloc(&p, want);
    }
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not left for the next launch check to report
      throw ResourceError("cannot allocate " + format_bytes(want) + " on the GPU: out of memory");
    }
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // not left for the next launch check to report
      cuda::fail("cudaMalloc", std::string(cudaGetErrorString(e)) + " (" + std::to_string(want) + " bytes)", __FILE__,
                 __LINE__);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[p] = {want, pool};
    if (pool) pool->owned.push_back(p);
    else in_use_ += want;
    return p;
  }
  void give(void* p) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    const auto [size, pool] = it->second;
    if (pool) {
      pool->free.emplace(size, p);
    } else {
      free_.emplace(size, p);
      cached_ += size;
      in_use_ -= size;
    }
    sizes_.erase(it);
  }
  // Frees the free blocks of `pool` (no graph that wrote them runs any more). A block still
  // handed out (a tensor outliving the pool) becomes a block of the shared cache, so that
  // tensor stays valid and its release cannot hit an address cudaMalloc handed out anew.
  void drop_pool(cuda::MemoryPool* pool) noexcept {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (void* p : pool->owned) {
        auto it = sizes_.find(p);
        if (it != sizes_.end() && it->second.second == pool) {
          it->second.second = nullptr;
          in_use_ += it->second.first;
        }
      }
      for (const auto& [n, p] : pool->free) blocks.push_back(p);
      pool->owned.clear();
      pool->free.clear();
    }
    if (blocks.empty()) return;
    cudaStreamSynchronize(cuda::stream());
    for (void* p : blocks) cudaFree(p);
  }
  void release_all() {
    std::multimap<std::size_t, void*> drop;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      drop.swap(free_);
      cached_ = 0;
    }
    if (drop.empty()) return;
    // Queued kernels may still read blocks that were handed back: wait for them.
    RELPROP_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
    for (auto& [n, p] : drop) cudaFree(p);
  }
  std::size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }
  std::size_t in_use() {
    std::lock_guard<std::mutex> lock(mutex_);
    return in_use_;
  }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;
  std::map<void*, std::pair<std::size_t, cuda::MemoryPool*>> sizes_;  // handed out: rounded size, pool
  std::size_t cached_ = 0, in_use_ = 0;
};

constexpr int kMaxDims = 12;
struct Strided {
  int rank = 0;
  std::int64_t shape[kMaxDims];
  std::int64_t src[kMaxDims];
  std::int64_t dst[kMaxDims];
};

template <class T>
__global__ void strided_kernel(T* dst, const T* src, Strided g, std::int64_t n) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t rem = i, so = 0, d0 = 0;
    for (int d = g.rank - 1; d >= 0; --d) {
      const std::int64_t k = rem % g.shape[d];
      rem /= g.shape[d];
      so += k * g.src[d];
      d0 += k * g.dst[d];
    }
    dst[d0] = src[so];
  }
}

template <class T>
__device__ double load(const T* p, std::int64_t i) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(p[i]);
  else if constexpr (std::is_same_v<T, bool>) return reinterpret_cast<const unsigned char*>(p)[i] != 0 ? 1.0 : 0.0;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(p[i]);
  else return static_cast<double>(p[i]);
}
// Half and bfloat16 through float, as tensor/tensor.cpp's write_elem (one rounding
// from double straight to half can differ from the CPU's two).
template <class T>
__device__ void store(T* p, std::int64_t i, double v) {
  if constexpr (std::is_same_v<T, __half>) p[i] = __float2half_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>) p[i] = v != 0.0;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) p[i] = __float2bfloat16_rn(static_cast<float>(v));
  else p[i] = static_cast<T>(v);
}

template <class S, class D>
__global__ void convert_kernel(D* dst, const S* src, std::int64_t n) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    store(dst, i, load(src, i));
}

template <class D>
__global__ void fill_kernel(D* dst, double v, std::int64_t n) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    store(dst, i, v);
}

template <class S>
void convert_from(void* dst, DType dd, const S* src, std::int64_t n) {
  const unsigned b = cuda::blocks_for(n);
  cudaStream_t st = cuda::stream();
  switch (dd) {
    case DType::F32: convert_kernel<<<b, 256, 0, st>>>(static_cast<float*>(dst), src, n); break;
    case DType::F64: convert_kernel<<<b, 256, 0, st>>>(static_cast<double*>(dst), src, n); break;
    case DType::F16: convert_kernel<<<b, 256, 0, st>>>(static_cast<__half*>(dst), src, n); break;
    case DType::BF16: convert_kernel<<<b, 256, 0, st>>>(static_cast<__nv_bfloat16*>(dst), src, n); break;
    case DType::I32: convert_kernel<<<b, 256, 0, st>>>(static_cast<std::int32_t*>(dst), src, n); break;
    case DType::I64: convert_kernel<<<b, 256, 0, st>>>(static_cast<std::int64_t*>(dst), src, n); break;
    case DType::U8: convert_kernel<<<b, 256, 0, st>>>(static_cast<std::uint8_t*>(dst), src, n); break;
    case DType::BOOL: convert_kernel<<<b, 256, 0, st>>>(static_cast<bool*>(dst), src, n); break;
  }
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void* allocate(std::size_t nbytes, Device d) {
  require_cuda(d, "device::allocate");
  return Cache::get().take(std::max<std::size_t>(nbytes, 1));
}

void release(void* p, std::size_t, Device) noexcept {
  if (p) Cache::get().give(p);
}

void zero(void* p, std::size_t nbytes, Device d) {
  require_cuda(d, "device::zero");
  if (nbytes) RELPROP_CUDA_CHECK(cudaMemsetAsync(p, 0, nbytes, cuda::stream()));
}

void copy_bytes(void* dst, Device dd, const void* src, Device sd, std::size_t nbytes) {
  if (nbytes == 0) return;
  if (dd == Device::CPU && sd == Device::CPU) {
    std::memcpy(dst, src, nbytes);
    return;
  }
  const cudaMemcpyKind kind = dd == Device::CPU ? cudaMemcpyDeviceToHost
                              : sd == Device::CPU ? cudaMemcpyHostToDevice
                                                  : cudaMemcpyDeviceToDevice;
  RELPROP_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, kind, cuda::stream()));
  // The host must see the bytes (device -> host), and a pageable host source may be
  // reused by the caller as soon as this returns (host -> device).
  if (kind != cudaMemcpyDeviceToDevice) RELPROP_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

void copy_strided(void* dst, const Shape& dst_strides, const void* src, const Shape& src_strides, const Shape& shape,
                  std::size_t elem_size) {
  // Size-1 dimensions dropped; neighbours merged where both layouts are row-major there.
  Strided g;
  std::int64_t n = 1;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    n *= shape[d];
    if (shape[d] == 1) continue;
    if (g.rank > 0 && g.src[g.rank - 1] == src_strides[d] * shape[d] && g.dst[g.rank - 1] == dst_strides[d] * shape[d]) {
      g.shape[g.rank - 1] *= shape[d];
      g.src[g.rank - 1] = src_strides[d];
      g.dst[g.rank - 1] = dst_strides[d];
      continue;
    }
    if (g.rank == kMaxDims) throw UnsupportedError("device copy of a tensor with more than 12 strided dimensions");
    g.shape[g.rank] = shape[d];
    g.src[g.rank] = src_strides[d];
    g.dst[g.rank] = dst_strides[d];
    ++g.rank;
  }
  if (n == 0) return;
  const unsigned blocks = cuda::blocks_for(n);
  switch (elem_size) {
    case 1: strided_kernel<<<blocks, 256, 0, cuda::stream()>>>(static_cast<std::uint8_t*>(dst), static_cast<const std::uint8_t*>(src), g, n); break;
    case 2: strided_kernel<<<blocks, 256, 0, cuda::stream()>>>(static_cast<std::uint16_t*>(dst), static_cast<const std::uint16_t*>(src), g, n); break;
    case 4: strided_kernel<<<blocks, 256, 0, cuda::stream()>>>(static_cast<std::uint32_t*>(dst), static_cast<const std::uint32_t*>(src), g, n); break;
    case 8: strided_kernel<<<blocks, 256, 0, cuda::stream()>>>(static_cast<std::uint64_t*>(dst), static_cast<const std::uint64_t*>(src), g, n); break;
    default: throw UnsupportedError("device copy of " + std::to_string(elem_size) + "-byte elements");
  }
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

void convert(void* dst, DType dd, const void* src, DType sd, std::int64_t n) {
  if (n <= 0) return;
  switch (sd) {
    case DType::F32: convert_from(dst, dd, static_cast<const float*>(src), n); return;
    case DType::F64: convert_from(dst, dd, static_cast<const double*>(src), n); return;
    case DType::F16: convert_from(dst, dd, static_cast<const __half*>(src), n); return;
    case DType::BF16: convert_from(dst, dd, static_cast<const __nv_bfloat16*>(src), n); return;
    case DType::I32: convert_from(dst, dd, static_cast<const std::int32_t*>(src), n); return;
    case DType::I64: convert_from(dst, dd, static_cast<const std::int64_t*>(src), n); return;
    case DType::U8: convert_from(dst, dd, static_cast<const std::uint8_t*>(src), n); return;
    case DType::BOOL: convert_from(dst, dd, static_cast<const bool*>(src), n); return;
  }
}

void fill(void* dst, DType dt, std::int64_t n, double value) {
  if (n <= 0) return;
  const unsigned b = cuda::blocks_for(n);
  cudaStream_t st = cuda::stream();
  switch (dt) {
    case DType::F32: fill_kernel<<<b, 256, 0, st>>>(static_cast<float*>(dst), value, n); break;
    case DType::F64: fill_kernel<<<b, 256, 0, st>>>(static_cast<double*>(dst), value, n); break;
    case DType::F16: fill_kernel<<<b, 256, 0, st>>>(static_cast<__half*>(dst), value, n); break;
    case DType::BF16: fill_kernel<<<b, 256, 0, st>>>(static_cast<__nv_bfloat16*>(dst), value, n); break;
    case DType::I32: fill_kernel<<<b, 256, 0, st>>>(static_cast<std::int32_t*>(dst), value, n); break;
    case DType::I64: fill_kernel<<<b, 256, 0, st>>>(static_cast<std::int64_t*>(dst), value, n); break;
    case DType::U8: fill_kernel<<<b, 256, 0, st>>>(static_cast<std::uint8_t*>(dst), value, n); break;
    case DType::BOOL: fill_kernel<<<b, 256, 0, st>>>(static_cast<bool*>(dst), value, n); break;
  }
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

}  // namespace relprop::device

namespace relprop::cuda {
MemoryPool* pool_create() { return new MemoryPool(); }
void pool_activate(MemoryPool* pool) { device::active_pool = pool; }
void pool_destroy(MemoryPool* pool) noexcept {
  if (!pool) return;
  if (device::active_pool == pool) device::active_pool = nullptr;
  device::Cache::get().drop_pool(pool);
  delete pool;
}
}  // namespace relprop::cuda

namespace relprop::device {

void synchronize() { RELPROP_CUDA_CHECK(cudaStreamSynchronize(cuda::stream())); }
std::size_t cached_bytes() { return Cache::get().cached(); }
std::size_t allocated_bytes() { return Cache::get().in_use(); }
std::size_t available_bytes() {
  (void)cuda::context();  // selects the device, throws without one
  std::size_t free = 0, total = 0;
  RELPROP_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return free + Cache::get().cached();
}
void release_cache() { Cache::get().release_all(); }

}  // namespace relprop::device
