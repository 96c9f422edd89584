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

#include "relprop/tensor/dtype.hpp"
#include "relprop/tensor/error.hpp"

namespace relprop {

// A tensor's dimensions, outermost first (also used for strides).
using Shape = std::vector<std::int64_t>;

// The shape as text: "(2, 3, 4)", or "(5,)" for one dimension.
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
  // ResourceError (tensor/error.hpp) when the memory cannot be had: the system refused it,
  // or a host block larger than max_memory() (tensor/memory.hpp).
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device = Device::CPU,
                                           bool zero = true);
  // Borrowed memory: `owner` keeps `data` alive (e.g. an mmap region).
  static std::shared_ptr<Storage> borrow(void* data, std::size_t nbytes,
                                         std::shared_ptr<const void> owner,
                                         Device device = Device::CPU);
  // Frees owned memory (large CPU blocks go back to the host cache); a borrowed block
  // only drops its reference to the owner.
  ~Storage();
  // Not copyable: share it through the shared_ptr.
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }           // start of the block
  std::size_t nbytes() const { return nbytes_; }  // size as requested (not rounded up)
  Device device() const { return device_; }       // where the memory lives
  bool owned() const { return owned_; }           // allocated here (true) or borrowed (false)

 private:
  Storage() = default;
  static std::shared_ptr<Storage> allocate_unchecked(std::size_t nbytes, Device device, bool zero);
  void* data_ = nullptr;
  void* base_ = nullptr;  // small CPU blocks: what malloc returned (data_ is aligned within it)
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
std::size_t host_cache_bytes();  // bytes held in the cache now
void host_cache_release();       // frees every cached block

// Opaque identity a recording tape stamps on the tensors it produced. The tensor layer
// only carries it; copies keep it, views and new tensors start without it.
struct TraceTag {
  std::uint64_t tape = 0;  // 0: not recorded
  std::int32_t value = -1;
};

// An n-dimensional array viewing a Storage (see the top of this file). Copying a Tensor
// is cheap: the copy shares the storage.
class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  // ---- creation -------------------------------------------------------------------
  // New contiguous tensor, contents uninitialised (CUDA: needs the CUDA backend and a GPU).
  static Tensor empty(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);
  // New contiguous tensor filled with zeros.
  static Tensor zeros(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);
  // New tensor with every element set to `value` (converted to `dtype`).
  static Tensor full(Shape shape, double value, DType dtype = DType::F32, Device device = Device::CPU);
  // New 0-dimensional CPU tensor holding `value`.
  static Tensor scalar(double value, DType dtype = DType::F32);
  // Copies `values` into a new tensor of `shape` (numel must match, else ShapeError); the
  // dtype follows the values: float -> F32, double -> F64, int64 -> I64.
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
  bool defined() const { return storage_ != nullptr; }  // false for Tensor()
  int dim() const { return static_cast<int>(shape_.size()); }  // rank (0 for a scalar)
  const Shape& shape() const { return shape_; }
  std::int64_t size(int d) const;  // negative d counts from the end
  const Shape& strides() const { return strides_; }  // in elements, one per dimension
  std::int64_t stride(int d) const;  // negative d counts from the end
  std::int64_t offset() const { return offset_; }  // first element's index into the storage
  std::int64_t numel() const { return numel_; }    // number of elements
  DType dtype() const { return dtype_; }
  Device device() const;  // the storage's device (CPU when undefined)
  // Bytes the elements take (numel x element size), not the storage's size.
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * dtype_size(dtype_); }
  bool is_contiguous() const;  // row-major without gaps (size-1 dimensions ignored)
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  // True when both share storage (a view of one another or of a common base).
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  std::string str_shape() const { return shape_str(shape_); }  // shape as text, "(2, 3)"

  // ---- typed access ---------------------------------------------------------------
  // Pointer to the first element (at `offset`); checks dtype and device.
  template <class T>
  T* data() const {
    check_access(dtype_of<T>::value);
    return static_cast<T*>(storage_->data()) + offset_;
  }
  // Device pointer to the first element of a tensor on a GPU, for kernels (checks dtype
  // and that the tensor is on a GPU).
  template <class T>
  T* device_data() const {
    check_device_access(dtype_of<T>::value);
    return static_cast<T*>(storage_->data()) + offset_;
  }
  void* raw_data() const;  // first element, any dtype (host or device address)
  // Element by index (bounds-checked); for tests and small work, not for kernels.
  template <class T>
  T& at(std::initializer_list<std::int64_t> index) const {
    return data<T>()[element_offset(index)];
  }
  // Any dtype read as double, by multi-index (bounds-checked).
  double get(std::initializer_list<std::int64_t> index) const;
  double get_flat(std::int64_t i) const;  // i-th element in row-major order
  void set_flat(std::int64_t i, double v) const;  // writes the i-th element (converted)
  double item() const;  // single-element tensor's value
  // Every element, row-major, as double / float (copies).
  std::vector<double> to_vector_f64() const;
  std::vector<float> to_vector() const;

  // ---- views (share storage) --------------------------------------------------------
  Tensor reshape(Shape shape) const;  // -1 allowed once; copies only if not viewable
  Tensor view(Shape shape) const;     // like reshape, throws instead of copying
  // Merges dimensions start_dim..end_dim into one (a 0-d tensor becomes (1,)).
  Tensor flatten(int start_dim = 0, int end_dim = -1) const;
  // Dimensions reordered: output dimension i is input dimension dims[i].
  Tensor permute(std::span<const int> dims) const;
  Tensor permute(std::initializer_list<int> dims) const {
    return permute(std::span<const int>(dims.begin(), dims.size()));
  }
  Tensor transpose(int d0, int d1) const;  // swaps two dimensions
  // Elements start, start + step, ... < end along d; negative start / end count from the
  // end and both are clamped to the dimension, as Python slices; step must be positive.
  Tensor slice(int d, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(int d, std::int64_t index) const;  // drops dimension d
  Tensor squeeze() const;       // drops every size-1 dimension
  Tensor squeeze(int d) const;  // drops dimension d if its size is 1, else unchanged
  Tensor unsqueeze(int d) const;  // inserts a size-1 dimension at d
  Tensor expand(Shape shape) const;  // NumPy broadcast to `shape`, stride 0 on new dims

  // ---- copies ---------------------------------------------------------------------
  Tensor contiguous() const;  // self when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;  // self when dtype already matches (same device)
  // A copy on `device` (same dtype and shape, contiguous); self when already there.
  // Host <-> GPU copies wait until the bytes have arrived.
  Tensor to(Device device) const;
  // Copies `src` (broadcast to this shape, converted to this dtype) into this tensor;
  // either may be on the CPU or a GPU.
  void copy_from(const Tensor& src) const;
  void fill(double value) const;  // sets every element to `value` (converted)

  // ---- tracing --------------------------------------------------------------------
  const TraceTag& trace() const { return trace_; }  // the recording tape's stamp, if any
  void set_trace(TraceTag tag) { trace_ = tag; }     // set by Tape when it records the tensor

  // Calls fn(element index into the storage, offset included) for every element in
  // row-major order.
  void for_each_offset(const std::function<void(std::int64_t)>& fn) const;

 private:
  void check_access(DType want) const;
  void check_device_access(DType want) const;
  void copy_from_device(const Tensor& src) const;  // copy_from when either is on a GPU
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
// Row-major index of the first NaN or infinite element of a floating tensor (F32, F64,
// F16, BF16; a GPU tensor is copied to the host), or -1 when every element is finite or
// the tensor holds integers. One pass over the elements' exponent bits.
std::int64_t first_nonfinite(const Tensor& t);
// A row-major index as a multi-index of `shape`: "(0, 2, 1)", "(4)".
std::string index_str(const Shape& shape, std::int64_t flat);
// ValueError "WHAT holds nan at (0, 2, 1) ..." unless every element of `t` is finite
// (first_nonfinite: one pass).
void check_finite(const Tensor& t, std::string_view what);

}  // namespace relprop
