#pragma once
// Memory on a device other than the CPU, as the tensor layer needs it: allocate, free,
// zero, fill, copy (between any two devices), strided copies and dtype conversion on the
// device. The CUDA backend implements these (cuda/memory.cu); a build without it throws
// UnsupportedError from each. All device work runs on the CUDA context's one stream, so
// a block freed here may be handed out again at once: later work is queued after the
// work that read it.

#include <cstddef>
#include <cstdint>

#include "relprop/tensor/dtype.hpp"
#include "relprop/tensor/tensor.hpp"

namespace relprop::device {

// `nbytes` (> 0) of memory on `d` (CUDA), from the caching allocator; never nullptr.
void* allocate(std::size_t nbytes, Device d);
// Returns a block from `allocate` (the same `nbytes`) to the cache.
void release(void* p, std::size_t nbytes, Device d) noexcept;
// Sets `nbytes` at `p` on `d` to zero.
void zero(void* p, std::size_t nbytes, Device d);
// Copies `nbytes` from `src` on `sd` to `dst` on `dd` (host <-> device or device <->
// device); returns once the destination holds the bytes when it is the host.
void copy_bytes(void* dst, Device dd, const void* src, Device sd, std::size_t nbytes);
// Same-dtype strided copy on the device: element i of `shape` (row-major) goes from
// src + sum(i_d * src_strides[d]) to dst + sum(i_d * dst_strides[d]), elements of
// `elem_size` bytes (1, 2, 4 or 8); at most 12 dimensions.
void copy_strided(void* dst, const Shape& dst_strides, const void* src, const Shape& src_strides,
                  const Shape& shape, std::size_t elem_size);
// Contiguous dtype conversion on the device, `n` elements.
void convert(void* dst, DType dd, const void* src, DType sd, std::int64_t n);
// Sets `n` contiguous elements of dtype `dt` at `dst` to `value` (converted).
void fill(void* dst, DType dt, std::int64_t n, double value);
// Waits until every queued device operation is done.
void synchronize();
// Bytes the device cache holds for reuse / has handed out now.
std::size_t cached_bytes();
std::size_t allocated_bytes();
// Bytes the GPU could still hand out: free device memory plus the cache (0 without the
// CUDA backend).
std::size_t available_bytes();
// Frees every cached block (memory handed out stays).
void release_cache();

}  // namespace relprop::device
