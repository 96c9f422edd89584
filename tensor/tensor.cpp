// Tensors: shapes, construction, element access and conversion, copies between layouts,
// dtypes and devices, and the whole-tensor reductions of tensor.hpp. Views are in
// tensor/views.cpp, storage in tensor/storage.cpp.

#include "relprop/tensor/tensor.hpp"

#include "relprop/tensor/device.hpp"
#include "relprop/tensor/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <map>
#include <limits>
#include <new>
#include <numeric>

namespace relprop {

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "relprop internal error: %s (%s) at %s:%d\n", msg, expr, file, line);
  std::abort();
}

// ---- shapes ---------------------------------------------------------------------------

std::string shape_str(std::span<const std::int64_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::int64_t shape_numel(std::span<const std::int64_t> shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw ShapeError("negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d)
      throw ShapeError("element count of shape " + shape_str(shape) + " overflows");
    n *= d;
  }
  return n;
}

Shape broadcast_shapes(std::span<const std::int64_t> a, std::span<const std::int64_t> b) {
  const std::size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (std::size_t i = 0; i < r; ++i) {
    const std::int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const std::int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ShapeError("shapes " + shape_str(a) + " and " + shape_str(b) +
                       " cannot be broadcast together (dimension " + std::to_string(i) + ": " +
                       std::to_string(da) + " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape contiguous_strides(std::span<const std::int64_t> shape) {
  Shape st(shape.size());
  std::int64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<std::int64_t>(shape[i], 1);
  }
  return st;
}

// ---- element conversion ---------------------------------------------------------------

namespace {

double read_elem(const void* base, DType dt, std::int64_t i) {
  switch (dt) {
    case DType::F32: return static_cast<const float*>(base)[i];
    case DType::F64: return static_cast<const double*>(base)[i];
    case DType::F16: return half_to_float(static_cast<const std::uint16_t*>(base)[i]);
    case DType::BF16: return bf16_to_float(static_cast<const std::uint16_t*>(base)[i]);
    case DType::I32: return static_cast<const std::int32_t*>(base)[i];
    case DType::I64: return static_cast<double>(static_cast<const std::int64_t*>(base)[i]);
    case DType::U8: return static_cast<const std::uint8_t*>(base)[i];
    case DType::BOOL: return static_cast<const std::uint8_t*>(base)[i] != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

void write_elem(void* base, DType dt, std::int64_t i, double v) {
  switch (dt) {
    case DType::F32: static_cast<float*>(base)[i] = static_cast<float>(v); return;
    case DType::F64: static_cast<double*>(base)[i] = v; return;
    case DType::F16: static_cast<std::uint16_t*>(base)[i] = float_to_half(static_cast<float>(v)); return;
    case DType::BF16: static_cast<std::uint16_t*>(base)[i] = float_to_bf16(static_cast<float>(v)); return;
    case DType::I32: static_cast<std::int32_t*>(base)[i] = static_cast<std::int32_t>(v); return;
    case DType::I64: static_cast<std::int64_t*>(base)[i] = static_cast<std::int64_t>(v); return;
    case DType::U8: static_cast<std::uint8_t*>(base)[i] = static_cast<std::uint8_t>(v); return;
    case DType::BOOL: static_cast<std::uint8_t*>(base)[i] = v != 0.0 ? 1 : 0; return;
  }
}

// Walks the strided index space of `shape` calling fn(offset) in row-major order.
template <class Fn>
void walk(const Shape& shape, const Shape& strides, std::int64_t offset, Fn&& fn) {
  const int r = static_cast<int>(shape.size());
  for (auto d : shape)
    if (d == 0) return;
  if (r == 0) {
    fn(offset);
    return;
  }
  std::vector<std::int64_t> idx(r, 0);
  std::int64_t off = offset;
  const std::int64_t inner = shape[r - 1], inner_stride = strides[r - 1];
  while (true) {
    for (std::int64_t k = 0; k < inner; ++k) fn(off + k * inner_stride);
    int d = r - 2;
    for (; d >= 0; --d) {
      off += strides[d];
      if (++idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace

// ---- tensor ---------------------------------------------------------------------------

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, Shape shape, DType dtype,
                            Shape strides, std::int64_t offset) {
  Tensor t;
  t.numel_ = shape_numel(shape);
  if (strides.empty() && !shape.empty()) strides = contiguous_strides(shape);
  if (strides.size() != shape.size())
    throw ShapeError("strides " + shape_str(strides) + " do not match shape " + shape_str(shape));
  if (offset < 0) throw ShapeError("negative storage offset");
  // The furthest element must lie inside the storage.
  if (t.numel_ > 0) {
    std::int64_t last = offset;
    for (std::size_t i = 0; i < shape.size(); ++i) {
      if (strides[i] < 0) throw ShapeError("negative strides are not supported");
      last += (shape[i] - 1) * strides[i];
    }
    const auto need = static_cast<std::uint64_t>(last + 1) * dtype_size(dtype);
    if (need > storage->nbytes())
      throw ShapeError("view " + shape_str(shape) + " of " + std::string(dtype_name(dtype)) +
                       " needs " + std::to_string(need) + " bytes but the storage holds " +
                       std::to_string(storage->nbytes()));
  }
  t.storage_ = std::move(storage);
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  t.offset_ = offset;
  t.dtype_ = dtype;
  return t;
}

namespace {
// Bytes of `n` elements of `dtype`; ResourceError past what an address space holds.
std::size_t storage_bytes(std::int64_t n, DType dtype, const Shape& shape) {
  const std::size_t size = dtype_size(dtype);
  if (static_cast<std::uint64_t>(n) > (std::numeric_limits<std::size_t>::max() / 2) / size)
    throw ResourceError("cannot allocate a tensor of shape " + shape_str(shape) + ": its byte size overflows");
  return static_cast<std::size_t>(n) * size;
}
}  // namespace

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  const std::int64_t n = shape_numel(shape);
  auto st = Storage::allocate(storage_bytes(n, dtype, shape), device, false);
  return from_storage(std::move(st), std::move(shape), dtype);
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  const std::int64_t n = shape_numel(shape);
  auto st = Storage::allocate(storage_bytes(n, dtype, shape), device, true);
  return from_storage(std::move(st), std::move(shape), dtype);
}

Tensor Tensor::full(Shape shape, double value, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

template <class T>
static Tensor from_vec_impl(std::span<const T> values, Shape shape) {
  const std::int64_t n = shape_numel(shape);
  if (static_cast<std::int64_t>(values.size()) != n)
    throw ShapeError("from_vector: " + std::to_string(values.size()) +
                     " values do not fill shape " + shape_str(shape));
  Tensor t = Tensor::empty(std::move(shape), dtype_of<T>::value);
  if (n) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

Tensor Tensor::from_vector(std::span<const float> values, Shape shape) {
  return from_vec_impl(values, std::move(shape));
}
Tensor Tensor::from_vector(std::span<const double> values, Shape shape) {
  return from_vec_impl(values, std::move(shape));
}
Tensor Tensor::from_vector(std::span<const std::int64_t> values, Shape shape) {
  return from_vec_impl(values, std::move(shape));
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::CPU; }

int Tensor::wrap_dim(int d, int rank_extra) const {
  const int r = dim() + rank_extra;
  if (d < -r || d >= std::max(r, 1))
    throw IndexError("dimension " + std::to_string(d) + " is out of range for a tensor of shape " +
                     str_shape());
  return d < 0 ? d + r : d;
}

std::int64_t Tensor::size(int d) const { return shape_[wrap_dim(d)]; }
std::int64_t Tensor::stride(int d) const { return strides_[wrap_dim(d)]; }

bool Tensor::is_contiguous() const {
  std::int64_t expect = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expect) return false;
    expect *= shape_[i];
  }
  return true;
}

void Tensor::check_access(DType want) const {
  if (!defined()) throw ValueError("access to an undefined tensor");
  if (dtype_ != want)
    throw DtypeError("tensor holds " + std::string(dtype_name(dtype_)) + ", accessed as " +
                     std::string(dtype_name(want)));
  if (device() != Device::CPU)
    throw UnsupportedError("host access to a tensor on device '" +
                           std::string(device_name(device())) + "'; copy it to the CPU first");
}

void Tensor::check_device_access(DType want) const {
  if (!defined()) throw ValueError("access to an undefined tensor");
  if (dtype_ != want)
    throw DtypeError("tensor holds " + std::string(dtype_name(dtype_)) + ", accessed as " +
                     std::string(dtype_name(want)));
  if (device() == Device::CPU) throw UnsupportedError("device access to a tensor on the CPU");
}

void* Tensor::raw_data() const {
  if (!defined()) throw ValueError("access to an undefined tensor");
  return static_cast<char*>(storage_->data()) +
         static_cast<std::size_t>(offset_) * dtype_size(dtype_);
}

std::int64_t Tensor::element_offset(std::initializer_list<std::int64_t> index) const {
  if (static_cast<int>(index.size()) != dim())
    throw IndexError("index of rank " + std::to_string(index.size()) + " for a tensor of shape " +
                     str_shape());
  std::int64_t off = 0;
  int d = 0;
  for (auto i : index) {
    if (i < -shape_[d] || i >= shape_[d])
      throw IndexError("index " + std::to_string(i) + " out of range for dimension " +
                       std::to_string(d) + " of shape " + str_shape());
    off += (i < 0 ? i + shape_[d] : i) * strides_[d];
    ++d;
  }
  return off;
}

double Tensor::get(std::initializer_list<std::int64_t> index) const {
  if (device() != Device::CPU) throw UnsupportedError("Tensor::get on a device tensor");
  return read_elem(raw_data(), dtype_, element_offset(index));
}

std::int64_t Tensor::flat_offset(std::int64_t i) const {
  if (i < 0 || i >= numel_)
    throw IndexError("flat index " + std::to_string(i) + " out of range for " + str_shape());
  if (device() != Device::CPU) throw UnsupportedError("element access to a device tensor");
  std::int64_t off = 0, rem = i;
  for (int d = dim() - 1; d >= 0; --d) {
    off += (rem % shape_[d]) * strides_[d];
    rem /= shape_[d];
  }
  return off;
}

double Tensor::get_flat(std::int64_t i) const { return read_elem(raw_data(), dtype_, flat_offset(i)); }

void Tensor::set_flat(std::int64_t i, double v) const { write_elem(raw_data(), dtype_, flat_offset(i), v); }

double Tensor::item() const {
  if (device() != Device::CPU) return to(Device::CPU).item();
  if (numel_ != 1)
    throw ShapeError("item() needs a single-element tensor, got shape " + str_shape());
  return get_flat(0);
}

std::vector<double> Tensor::to_vector_f64() const {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(numel_));
  if (!defined()) return out;
  if (device() != Device::CPU) return to(Device::CPU).to_vector_f64();
  const void* base = raw_data();
  walk(shape_, strides_, 0, [&](std::int64_t o) { out.push_back(read_elem(base, dtype_, o)); });
  return out;
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = to(Device::CPU).to(DType::F32).contiguous();
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

void Tensor::for_each_offset(const std::function<void(std::int64_t)>& fn) const {
  walk(shape_, strides_, offset_, fn);
}

// ---- copies ---------------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  if (!defined() || is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype, device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (!defined() || d == device()) return *this;
  Tensor out = empty(shape_, dtype_, d);
  out.copy_from(*this);
  return out;
}

namespace {

// Same-dtype strided copy: dimensions are coalesced where both layouts allow, then rows
// of the innermost dimension are copied (memcpy when both are unit-stride), rows spread
// over the threads for large tensors. Source and destination must not overlap.
template <class T>
void copy_strided(const T* src, Shape shape, Shape sst, T* dst, Shape dstr) {
  // Drop size-1 dimensions, then merge d into d + 1 where both layouts are row-major there.
  Shape sh, ss, ds;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!sh.empty() && ss.back() == sst[d] * shape[d] && ds.back() == dstr[d] * shape[d]) {
      sh.back() *= shape[d];
      ss.back() = sst[d];
      ds.back() = dstr[d];
      continue;
    }
    sh.push_back(shape[d]);
    ss.push_back(sst[d]);
    ds.push_back(dstr[d]);
  }
  if (sh.empty()) {
    dst[0] = src[0];
    return;
  }
  const int r = static_cast<int>(sh.size());
  const std::int64_t inner = sh[r - 1], is = ss[r - 1], id = ds[r - 1];
  std::int64_t rows = 1;
  for (int d = 0; d + 1 < r; ++d) rows *= sh[d];
  detail::parallel_for(rows, rows > 1 && rows * inner > (1 << 14), [&](std::int64_t row) {
    std::int64_t so = 0, dof = 0, rem = row;
    for (int d = r - 2; d >= 0; --d) {
      const std::int64_t i = rem % sh[d];
      rem /= sh[d];
      so += i * ss[d];
      dof += i * ds[d];
    }
    if (is == 1 && id == 1) {
      std::memcpy(dst + dof, src + so, static_cast<std::size_t>(inner) * sizeof(T));
    } else {
      for (std::int64_t k = 0; k < inner; ++k) dst[dof + k * id] = src[so + k * is];
    }
  });
}

}  // namespace

void Tensor::copy_from(const Tensor& src) const {
  if (!defined() || !src.defined()) throw ValueError("copy_from: undefined tensor");
  if (device() != Device::CPU || src.device() != Device::CPU) {
    copy_from_device(src);
    return;
  }
  const Tensor s = src.shape_ == shape_ ? src : src.expand(shape_);
  if (s.dtype_ == dtype_ && s.is_contiguous() && is_contiguous()) {
    if (numel_) std::memmove(raw_data(), s.raw_data(), nbytes());
    return;
  }
  // Same dtype, distinct storage: a strided copy without a staging buffer.
  if (s.dtype_ == dtype_ && numel_ > 0 && s.storage_ != storage_) {
    switch (dtype_size(dtype_)) {
      case 1: copy_strided(static_cast<const std::uint8_t*>(s.raw_data()), shape_, s.strides_,
                           static_cast<std::uint8_t*>(raw_data()), strides_); return;
      case 2: copy_strided(static_cast<const std::uint16_t*>(s.raw_data()), shape_, s.strides_,
                           static_cast<std::uint16_t*>(raw_data()), strides_); return;
      case 4: copy_strided(static_cast<const std::uint32_t*>(s.raw_data()), shape_, s.strides_,
                           static_cast<std::uint32_t*>(raw_data()), strides_); return;
      case 8: copy_strided(static_cast<const std::uint64_t*>(s.raw_data()), shape_, s.strides_,
                           static_cast<std::uint64_t*>(raw_data()), strides_); return;
      default: break;
    }
  }
  // Gather the source in row-major order, then scatter into this layout.
  const void* sb = s.raw_data();
  void* db = raw_data();
  if (s.dtype_ == DType::F32 && dtype_ == DType::F32) {
    std::vector<float> tmp;
    tmp.reserve(static_cast<std::size_t>(numel_));
    walk(s.shape_, s.strides_, 0, [&](std::int64_t o) { tmp.push_back(static_cast<const float*>(sb)[o]); });
    std::size_t k = 0;
    walk(shape_, strides_, 0, [&](std::int64_t o) { static_cast<float*>(db)[o] = tmp[k++]; });
    return;
  }
  std::vector<double> tmp;
  tmp.reserve(static_cast<std::size_t>(numel_));
  const DType sd = s.dtype_;
  walk(s.shape_, s.strides_, 0, [&](std::int64_t o) { tmp.push_back(read_elem(sb, sd, o)); });
  std::size_t k = 0;
  walk(shape_, strides_, 0, [&](std::int64_t o) { write_elem(db, dtype_, o, tmp[k++]); });
}

void Tensor::copy_from_device(const Tensor& src) const {
  const Tensor s = src.shape_ == shape_ ? src : src.expand(shape_);
  if (numel_ == 0) return;
  const Device dd = device(), sd = s.device();
  if (sd != Device::CPU && dd == Device::CPU) {
    // Device -> host: the source made contiguous on its device, downloaded, then the
    // host copy does the dtype and layout.
    const Tensor c = s.is_contiguous() ? s : s.clone();
    Tensor host = empty(shape_, c.dtype_, Device::CPU);
    device::copy_bytes(host.raw_data(), Device::CPU, c.raw_data(), sd, c.nbytes());
    copy_from(host);
    return;
  }
  if (sd == Device::CPU) {
    // Host -> device: converted and made contiguous on the host, uploaded, then laid out
    // on the device when this tensor is strided.
    const Tensor host = s.to(dtype_).contiguous();
    if (is_contiguous()) {
      device::copy_bytes(raw_data(), dd, host.raw_data(), Device::CPU, nbytes());
      return;
    }
    const Tensor staged = empty(shape_, dtype_, dd);
    device::copy_bytes(staged.raw_data(), dd, host.raw_data(), Device::CPU, nbytes());
    device::copy_strided(raw_data(), strides_, staged.raw_data(), staged.strides_, shape_, dtype_size(dtype_));
    return;
  }
  // Device -> device.
  if (s.dtype_ != dtype_) {
    const Tensor c = s.is_contiguous() ? s : s.clone();
    if (is_contiguous()) {
      device::convert(raw_data(), dtype_, c.raw_data(), c.dtype_, numel_);
      return;
    }
    const Tensor conv = empty(shape_, dtype_, dd);
    device::convert(conv.raw_data(), dtype_, c.raw_data(), c.dtype_, numel_);
    device::copy_strided(raw_data(), strides_, conv.raw_data(), conv.strides_, shape_, dtype_size(dtype_));
    return;
  }
  if (s.is_contiguous() && is_contiguous() && s.storage_ != storage_) {
    device::copy_bytes(raw_data(), dd, s.raw_data(), sd, nbytes());
    return;
  }
  // Overlapping source and destination: through a fresh copy of the source.
  const Tensor from = s.storage_ == storage_ ? s.clone() : s;
  device::copy_strided(raw_data(), strides_, from.raw_data(), from.strides_, shape_, dtype_size(dtype_));
}

void Tensor::fill(double value) const {
  if (!defined()) throw ValueError("fill: undefined tensor");
  if (device() != Device::CPU) {
    if (is_contiguous()) {
      device::fill(raw_data(), dtype_, numel_, value);
    } else {
      const Tensor t = full(shape_, value, dtype_, device());
      device::copy_strided(raw_data(), strides_, t.raw_data(), t.strides_, shape_, dtype_size(dtype_));
    }
    return;
  }
  void* db = raw_data();
  if (dtype_ == DType::F32 && is_contiguous()) {
    std::fill(static_cast<float*>(db), static_cast<float*>(db) + numel_, static_cast<float>(value));
    return;
  }
  walk(shape_, strides_, 0, [&](std::int64_t o) { write_elem(db, dtype_, o, value); });
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw ShapeError("max_abs_diff: shapes " + a.str_shape() + " and " + b.str_shape() + " differ");
  const auto va = a.to_vector_f64(), vb = b.to_vector_f64();
  double m = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double d = std::fabs(va[i] - vb[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

double sum_all(const Tensor& t) {
  if (t.device() != Device::CPU) return sum_all(t.to(Device::CPU));
  if (t.dtype() == DType::F32 && t.is_contiguous()) {
    // Fixed chunks, eight lanes each, chunk sums added in order: the same result for any
    // thread count, and no loop-carried dependency on one accumulator.
    const float* p = t.data<float>();
    const std::int64_t n = t.numel();
    constexpr std::int64_t kChunk = 1 << 13;
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    const auto chunk_sum = [p, n](std::int64_t c) {
      const std::int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::int64_t i = lo;
      for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; ++k) lane[k] += p[i + k];
      double s = 0;
      for (; i < hi; ++i) s += p[i];
      return s + ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    };
    // Small tensors (every one of an MLP's) need no team and no scratch vector: the
    // conservation report sums each node's relevance, several per layer.
    if (chunks <= 2) return chunks == 0 ? 0.0 : chunks == 1 ? chunk_sum(0) : chunk_sum(0) + chunk_sum(1);
    std::vector<double> part(static_cast<std::size_t>(chunks));
#pragma omp parallel for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) part[static_cast<std::size_t>(c)] = chunk_sum(c);
    double s = 0;
    for (double v : part) s += v;
    return s;
  }
  double s = 0;
  for (double v : t.to_vector_f64()) s += v;
  return s;
}

namespace {

// Index of the first element of p[0, n) whose bits under `exp` are all ones (an IEEE
// NaN or infinity), or -1. In blocks whose inner loop has no early exit, so it
// vectorises; the block that has one is searched again.
template <class U>
std::int64_t first_all_ones(const U* p, std::int64_t n, U exp) {
  constexpr std::int64_t kBlock = 4096;
  for (std::int64_t lo = 0; lo < n; lo += kBlock) {
    const std::int64_t hi = std::min(n, lo + kBlock);
    int bad = 0;
    for (std::int64_t i = lo; i < hi; ++i) bad |= (p[i] & exp) == exp ? 1 : 0;
    if (bad)
      for (std::int64_t i = lo; i < hi; ++i)
        if ((p[i] & exp) == exp) return i;
  }
  return -1;
}

}  // namespace

std::int64_t first_nonfinite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype()) || t.numel() == 0) return -1;
  if (t.device() != Device::CPU) return first_nonfinite(t.to(Device::CPU));
  if (!t.is_contiguous()) return first_nonfinite(t.contiguous());
  const void* p = t.raw_data();
  switch (t.dtype()) {
    case DType::F32: return first_all_ones(static_cast<const std::uint32_t*>(p), t.numel(), std::uint32_t{0x7f800000});
    case DType::F64:
      return first_all_ones(static_cast<const std::uint64_t*>(p), t.numel(), std::uint64_t{0x7ff0000000000000});
    case DType::F16: return first_all_ones(static_cast<const std::uint16_t*>(p), t.numel(), std::uint16_t{0x7c00});
    case DType::BF16: return first_all_ones(static_cast<const std::uint16_t*>(p), t.numel(), std::uint16_t{0x7f80});
    default: return -1;
  }
}

void check_finite(const Tensor& t, std::string_view what) {
  const std::int64_t i = first_nonfinite(t);
  if (i < 0) return;
  const double v = (t.device() == Device::CPU ? t : t.to(Device::CPU)).get_flat(i);
  throw ValueError(std::string(what) + " holds " + (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") + " at " +
                   index_str(t.shape(), i) + " (NaN and infinity are refused; --allow-nonfinite accepts them)");
}

std::string index_str(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> idx(shape.size(), 0);
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] > 0) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
  }
  std::string s = "(";
  for (std::size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + std::to_string(idx[d]);
  return s + ")";  // (4) for one dimension, not shape_str's (4,)
}

}  // namespace relprop
