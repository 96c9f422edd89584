#pragma once
// Tensor: shared storage + shape + strides + offset + dtype + device.
//
// Storage is either owned (64-byte aligned, zero-initialised on request) or borrowed from
// an owner that keeps it alive (a memory-mapped file, later device memory). Views
// (reshape, permute, transpose, slice, squeeze, unsqueeze, expand) share the storage and
// never copy; `contiguous()` copies only when the layout requires it. Strides count
// elements, and may be 0 (expand). Broadcasting follows NumPy.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.hpp"
#include "tensor/error.hpp"

namespace relprop {

using Shape = std::vector<std::int64_t>;

// "(2, 3, 4)"
std::string shape_str(std::span<const std::int64_t> shape);
// Product of the dimensions, overflow-checked (throws ShapeError on negative or overflow).
std::int64_t shape_numel(std::span<const std::int64_t> shape);
// NumPy broadcasting of two shapes; throws ShapeError naming both.
Shape broadcast_shapes(std::span<const std::int64_t> a, std::span<const std::int64_t> b);
// Row-major strides of a contiguous tensor of this shape.
Shape contiguous_strides(std::span<const std::int64_t> shape);

// A block of memory and whoever keeps it alive.
class Storage {
 public:
  // Owned, 64-byte aligned, `nbytes` rounded up internally; zeroed when `zero`.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device = Device::CPU,
                                           bool zero = true);
  // Borrowed memory: `owner` keeps `data` alive (e.g. an mmap region).
  static std::shared_ptr<Storage> borrow(void* data, std::size_t nbytes,
                                         std::shared_ptr<const void> owner,
                                         Device device = Device::CPU);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool owned() const { return owned_; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  std::size_t capacity_ = 0;  // bytes actually allocated (owned storage)
  Device device_ = Device::CPU;
  bool owned_ = false;
  std::shared_ptr<const void> owner_;
};

// Host memory cache. Freed CPU blocks of 256 KiB and more are kept (up to a cap) and
// handed out again, so repeated explanations of one model do not page-fault fresh memory
// in on every tensor. The cap is 512 MiB, or RELPROP_HOST_CACHE_MB (0 turns caching off);
// it is off under AddressSanitizer. `host_cache_release` frees every cached block.
std::size_t host_cache_bytes();
void host_cache_release();

// Opaque identity a recording tape stamps on the tensors it produced. The tensor layer
// only carries it; copies keep it, views and new tensors start without it.
struct TraceTag {
  std::uint64_t tape = 0;  // 0: not recorded
  std::int32_t value = -1;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  // ---- creation -------------------------------------------------------------------
  static Tensor empty(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(Shape shape, double value, DType dtype = DType::F32);
  static Tensor scalar(double value, DType dtype = DType::F32);
  // Copies `values` into a new tensor of `shape` (numel must match).
  static Tensor from_vector(std::span<const float> values, Shape shape);
  static Tensor from_vector(std::span<const double> values, Shape shape);
  static Tensor from_vector(std::span<const std::int64_t> values, Shape shape);
  static Tensor from_vector(std::initializer_list<float> values, Shape shape) {
    return from_vector(std::span<const float>(values.begin(), values.size()), std::move(shape));
  }
  // A view of existing storage (no copy). Throws if the view would run past the storage.
  static Tensor from_storage(std::shared_ptr<Storage> storage, Shape shape, DType dtype,
                             Shape strides = {}, std::int64_t offset = 0);

  // ---- properties -----------------------------------------------------------------
  bool defined() const { return storage_ != nullptr; }
  int dim() const { return static_cast<int>(shape_.size()); }
  const Shape& shape() const { return shape_; }
  std::int64_t size(int d) const;  // negative d counts from the end
  const Shape& strides() const { return strides_; }
  std::int64_t stride(int d) const;
  std::int64_t offset() const { return offset_; }
  std::int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * dtype_size(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  // True when both share storage (a view of one another or of a common base).
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  std::string str_shape() const { return shape_str(shape_); }

  // ---- typed access ---------------------------------------------------------------
  // Pointer to the first element (at `offset`); checks dtype and device.
  template <class T>
  T* data() const {
    check_access(dtype_of<T>::value);
    return static_cast<T*>(storage_->data()) + offset_;
  }
  void* raw_data() const;  // first element, any dtype
  // Element by index (bounds-checked); for tests and small work, not for kernels.
  template <class T>
  T& at(std::initializer_list<std::int64_t> index) const {
    return data<T>()[element_offset(index)];
  }
  // Any dtype read as double, by multi-index (bounds-checked).
  double get(std::initializer_list<std::int64_t> index) const;
  double get_flat(std::int64_t i) const;  // i-th element in row-major order
  void set_flat(std::int64_t i, double v) const;
  double item() const;  // single-element tensor's value
  // Every element, row-major, as double / float (copies).
  std::vector<double> to_vector_f64() const;
  std::vector<float> to_vector() const;

  // ---- views (share storage) --------------------------------------------------------
  Tensor reshape(Shape shape) const;  // -1 allowed once; copies only if not viewable
  Tensor view(Shape shape) const;     // like reshape, throws instead of copying
  Tensor flatten(int start_dim = 0, int end_dim = -1) const;
  Tensor permute(std::span<const int> dims) const;
  Tensor permute(std::initializer_list<int> dims) const {
    return permute(std::span<const int>(dims.begin(), dims.size()));
  }
  Tensor transpose(int d0, int d1) const;
  Tensor slice(int d, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(int d, std::int64_t index) const;  // drops dimension d
  Tensor squeeze() const;
  Tensor squeeze(int d) const;
  Tensor unsqueeze(int d) const;
  Tensor expand(Shape shape) const;  // NumPy broadcast to `shape`, stride 0 on new dims

  // ---- copies ---------------------------------------------------------------------
  Tensor contiguous() const;  // self when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;  // self when dtype already matches
  // Copies `src` (broadcast to this shape, converted to this dtype) into this tensor.
  void copy_from(const Tensor& src) const;
  void fill(double value) const;

  // ---- tracing --------------------------------------------------------------------
  const TraceTag& trace() const { return trace_; }
  void set_trace(TraceTag tag) { trace_ = tag; }

  // Calls fn(flat index into storage) for every element in row-major order.
  void for_each_offset(const std::function<void(std::int64_t)>& fn) const;

 private:
  void check_access(DType want) const;
  std::int64_t element_offset(std::initializer_list<std::int64_t> index) const;
  std::int64_t flat_offset(std::int64_t i) const;  // storage offset of the i-th row-major element
  int wrap_dim(int d, int rank_extra = 0) const;
  Tensor make_view(Shape shape, Shape strides, std::int64_t offset) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  std::int64_t offset_ = 0;
  std::int64_t numel_ = 0;
  DType dtype_ = DType::F32;
  TraceTag trace_;
};

// Max |a - b| over all elements of two same-shaped tensors (any dtypes).
double max_abs_diff(const Tensor& a, const Tensor& b);
// Sum of all elements, accumulated in double.
double sum_all(const Tensor& t);

}  // namespace relprop
