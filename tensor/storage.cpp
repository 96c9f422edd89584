// Tensor storage: host blocks (small ones from malloc, aligned by hand; large ones from an
// aligned new, recycled through a size-keyed cache), device blocks through
// tensor/device.hpp, and borrowed memory kept alive by its owner.

#include "relprop/tensor/tensor.hpp"

#include "relprop/tensor/device.hpp"
#include "relprop/tensor/memory.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>

namespace relprop {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheAllowed = false;  // cached blocks would hide use-after-free from ASan
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kCacheAllowed = false;
#else
constexpr bool kCacheAllowed = true;
#endif
#else
constexpr bool kCacheAllowed = true;
#endif

constexpr std::size_t kCacheMin = std::size_t{256} << 10;  // blocks below this go to the heap
constexpr std::size_t kCacheGrain = std::size_t{64} << 10;
constexpr std::size_t kSmallBlock = std::size_t{32} << 10;  // up to this: malloc, aligned by hand

class HostCache {
 public:
  static HostCache& get() {
    static HostCache* cache = new HostCache();  // never destroyed: storages may outlive statics
    return *cache;
  }
  // A cached block of at least `bytes` and at most 5/4 of it, or nullptr.
  void* take(std::size_t bytes, std::size_t& capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
    capacity = it->first;
    void* p = it->second;
    cached_ -= it->first;
    free_.erase(it);
    return p;
  }
  // Keeps the block unless that would pass the cap; false: the caller frees it.
  bool give(void* p, std::size_t capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + capacity > cap_) return false;
    free_.emplace(capacity, p);
    cached_ += capacity;
    return true;
  }
  void release() {
    std::multimap<std::size_t, void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto& [n, p] : blocks) ::operator delete(p, std::align_val_t{64});
  }
  std::size_t bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }
  bool enabled() const { return cap_ > 0; }

 private:
  HostCache() {
    cap_ = kCacheAllowed ? std::size_t{512} << 20 : 0;
    if (const char* env = std::getenv("RELPROP_HOST_CACHE_MB"); env && kCacheAllowed) {
      char* end = nullptr;
      const unsigned long long mb = std::strtoull(env, &end, 10);
      if (end != env && *end == '\0') cap_ = static_cast<std::size_t>(mb) << 20;
    }
  }
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;
  std::size_t cached_ = 0;
  std::size_t cap_ = 0;
};

}  // namespace

std::size_t host_cache_bytes() { return HostCache::get().bytes(); }
void host_cache_release() { HostCache::get().release(); }

namespace {
// memset, in 64 KiB pieces over the threads for large blocks (a ResNet's relevance
// buffers: one thread alone spent ~5% of an explanation clearing them).
void zero_bytes(void* p, std::size_t n) {
  constexpr std::size_t kPiece = std::size_t{1} << 16;
  if (n < 8 * kPiece) {
    std::memset(p, 0, n);
    return;
  }
  const auto pieces = static_cast<std::int64_t>((n + kPiece - 1) / kPiece);
  auto* bytes = static_cast<unsigned char*>(p);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < pieces; ++i) {
    const std::size_t lo = static_cast<std::size_t>(i) * kPiece;
    std::memset(bytes + lo, 0, std::min(kPiece, n - lo));
  }
}
}  // namespace

namespace {
[[noreturn]] void refuse_allocation(std::size_t nbytes, Device device, const std::string& why) {
  throw ResourceError("cannot allocate " + format_bytes(nbytes) + (device == Device::CPU ? "" : " on the GPU") + ": " +
                      why);
}
}  // namespace

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Device device, bool zero) {
  // One block larger than the whole limit cannot fit whatever else is freed (checked for
  // large blocks only: the limit's default reads the clock).
  if (device == Device::CPU && nbytes >= kCacheMin) {
    const std::uint64_t limit = max_memory();
    if (nbytes > limit)
      refuse_allocation(nbytes, device,
                        ("more than the " + format_bytes(limit) +
                         (max_memory_set() ? " the memory limit (--max-memory) allows" : " of memory available"))
                            );
  }
  if (nbytes > std::numeric_limits<std::size_t>::max() / 2) refuse_allocation(nbytes, device, "more than an address space");
  try {
    return allocate_unchecked(nbytes, device, zero);
  } catch (const std::bad_alloc&) {
    refuse_allocation(nbytes, device, "out of memory");
  }
}

std::shared_ptr<Storage> Storage::allocate_unchecked(std::size_t nbytes, Device device, bool zero) {
  auto s = std::shared_ptr<Storage>(new Storage());
  if (device != Device::CPU) {
    s->data_ = device::allocate(nbytes, device);
    s->nbytes_ = nbytes;
    s->capacity_ = nbytes;
    s->device_ = device;
    s->owned_ = true;
    if (zero) device::zero(s->data_, nbytes, device);
    return s;
  }
  std::size_t rounded = (std::max<std::size_t>(nbytes, 1) + 63) / 64 * 64;
  HostCache& cache = HostCache::get();
  if (rounded >= kCacheMin && cache.enabled()) {
    rounded = (rounded + kCacheGrain - 1) / kCacheGrain * kCacheGrain;
    std::size_t capacity = 0;
    if (void* p = cache.take(rounded, capacity)) {
      s->data_ = p;
      rounded = capacity;
    }
  }
  if (!s->data_) {
    if (rounded <= kSmallBlock) {
      // Small blocks: malloc's thread cache and bins, aligned by hand. An aligned new
      // (memalign) carves every block out of a larger chunk and frees the pieces, which
      // made allocation a third of a small model's per-explanation cost. (Larger blocks
      // stay with the aligned new: through plain malloc, blocks of 64-256 KiB made glibc
      // trim and regrow its heap, 2.5x the page faults of a MiniLM explanation.)
      void* base = std::malloc(rounded + 63);
      if (!base) throw std::bad_alloc();
      const auto addr = reinterpret_cast<std::uintptr_t>(base);
      s->data_ = reinterpret_cast<void*>((addr + 63) & ~std::uintptr_t{63});
      s->base_ = base;
    } else {
      s->data_ = ::operator new(rounded, std::align_val_t{64});
    }
  }
  if (zero) zero_bytes(s->data_, rounded);
  s->nbytes_ = nbytes;
  s->capacity_ = rounded;
  s->device_ = device;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t nbytes,
                                         std::shared_ptr<const void> owner, Device device) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->data_ = data;
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owned_ = false;
  s->owner_ = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (!owned_ || !data_) return;
  if (device_ != Device::CPU) {
    device::release(data_, capacity_, device_);
    return;
  }
  if (base_) {
    std::free(base_);
    return;
  }
  if (capacity_ >= kCacheMin && HostCache::get().enabled() && HostCache::get().give(data_, capacity_)) return;
  ::operator delete(data_, std::align_val_t{64});
}

}  // namespace relprop
