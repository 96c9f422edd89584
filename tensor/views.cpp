// Views of a tensor: the same storage under another shape, strides or offset (view,
// reshape, permute, slice, expand, ...). Nothing here copies elements but reshape of a
// layout no view can express.

#include "relprop/tensor/tensor.hpp"

#include <algorithm>
#include <numeric>

namespace relprop {

Tensor Tensor::make_view(Shape shape, Shape strides, std::int64_t offset) const {
  Tensor t;
  t.storage_ = storage_;
  t.numel_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  t.offset_ = offset;
  t.dtype_ = dtype_;
  return t;  // a view starts without a trace tag
}

// Resolves a single -1 and checks the element count.
static Shape infer_shape(Shape shape, std::int64_t numel, const Shape& from) {
  int neg = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (neg >= 0) throw ShapeError("reshape: more than one -1 in " + shape_str(shape));
      neg = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw ShapeError("reshape: invalid dimension in " + shape_str(shape));
    } else {
      known *= shape[i];
    }
  }
  if (neg >= 0) {
    if (known == 0 || numel % known != 0)
      throw ShapeError("cannot reshape " + shape_str(from) + " into " + shape_str(shape));
    shape[neg] = numel / known;
  }
  if (shape_numel(shape) != numel)
    throw ShapeError("cannot reshape " + shape_str(from) + " (" + std::to_string(numel) +
                     " elements) into " + shape_str(shape));
  return shape;
}

// Strides that view (old_shape, old_strides) as `shape` without a copy; false if none.
// Old dims are walked from the innermost out, grouped into chunks whose elements are
// evenly spaced; each chunk must be covered exactly by a run of new dims.
static bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape,
                         Shape& out) {
  out.assign(shape.size(), 0);
  if (old_shape.empty() || shape_numel(old_shape) == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  int view_d = static_cast<int>(shape.size()) - 1;
  std::int64_t chunk_base = old_strides.back();
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (int d = static_cast<int>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    const bool chunk_ends =
        d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base;
      view_numel *= shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return false;
    if (d > 0) {
      chunk_base = old_strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  return view_d == -1;
}

Tensor Tensor::view(Shape shape) const {
  shape = infer_shape(std::move(shape), numel_, shape_);
  Shape st;
  if (!view_strides(shape_, strides_, shape, st))
    throw ShapeError("view: a tensor of shape " + str_shape() + " with strides " +
                     shape_str(strides_) + " cannot be viewed as " + shape_str(shape) +
                     " without a copy; use reshape");
  return make_view(std::move(shape), std::move(st), offset_);
}

Tensor Tensor::reshape(Shape shape) const {
  shape = infer_shape(std::move(shape), numel_, shape_);
  Shape st;
  if (view_strides(shape_, strides_, shape, st)) return make_view(std::move(shape), std::move(st), offset_);
  Tensor c = contiguous();
  return c.make_view(shape, contiguous_strides(shape), c.offset_);
}

Tensor Tensor::flatten(int start_dim, int end_dim) const {
  if (dim() == 0) return reshape({1});
  const int s = wrap_dim(start_dim), e = wrap_dim(end_dim);
  if (s > e) throw IndexError("flatten: start_dim after end_dim");
  Shape ns(shape_.begin(), shape_.begin() + s);
  std::int64_t m = 1;
  for (int i = s; i <= e; ++i) m *= shape_[i];
  ns.push_back(m);
  ns.insert(ns.end(), shape_.begin() + e + 1, shape_.end());
  return reshape(std::move(ns));
}

Tensor Tensor::permute(std::span<const int> dims) const {
  if (static_cast<int>(dims.size()) != dim())
    throw ShapeError("permute: " + std::to_string(dims.size()) + " dims given for a tensor of shape " +
                     str_shape());
  std::vector<bool> seen(dims.size(), false);
  Shape ns(dims.size()), nst(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i]);
    if (seen[d]) throw ShapeError("permute: dimension " + std::to_string(d) + " repeated");
    seen[d] = true;
    ns[i] = shape_[d];
    nst[i] = strides_[d];
  }
  return make_view(std::move(ns), std::move(nst), offset_);
}

Tensor Tensor::transpose(int d0, int d1) const {
  const int a = wrap_dim(d0), b = wrap_dim(d1);
  Shape ns = shape_, nst = strides_;
  std::swap(ns[a], ns[b]);
  std::swap(nst[a], nst[b]);
  return make_view(std::move(ns), std::move(nst), offset_);
}

Tensor Tensor::slice(int d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  d = wrap_dim(d);
  if (step <= 0) throw ValueError("slice: step must be positive, got " + std::to_string(step));
  const std::int64_t n = shape_[d];
  auto clampi = [n](std::int64_t i) {
    if (i < 0) i += n;
    return std::clamp<std::int64_t>(i, 0, n);
  };
  start = clampi(start);
  end = end == std::numeric_limits<std::int64_t>::max() ? n : clampi(end);
  const std::int64_t len = end > start ? (end - start - 1) / step + 1 : 0;  // no overflow for any step
  Shape ns = shape_, nst = strides_;
  ns[d] = len;
  nst[d] = strides_[d] * step;
  return make_view(std::move(ns), std::move(nst), offset_ + (len ? start * strides_[d] : 0));
}

Tensor Tensor::select(int d, std::int64_t index) const {
  d = wrap_dim(d);
  if (index < -shape_[d] || index >= shape_[d])
    throw IndexError("select: index " + std::to_string(index) + " out of range for dimension " +
                     std::to_string(d) + " of shape " + str_shape());
  if (index < 0) index += shape_[d];
  Shape ns = shape_, nst = strides_;
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  return make_view(std::move(ns), std::move(nst), offset_ + index * strides_[d]);
}

Tensor Tensor::squeeze() const {
  Shape ns, nst;
  for (int i = 0; i < dim(); ++i)
    if (shape_[i] != 1) {
      ns.push_back(shape_[i]);
      nst.push_back(strides_[i]);
    }
  return make_view(std::move(ns), std::move(nst), offset_);
}

Tensor Tensor::squeeze(int d) const {
  d = wrap_dim(d);
  if (shape_[d] != 1) return make_view(shape_, strides_, offset_);
  Shape ns = shape_, nst = strides_;
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  return make_view(std::move(ns), std::move(nst), offset_);
}

Tensor Tensor::unsqueeze(int d) const {
  d = wrap_dim(d, 1);
  Shape ns = shape_, nst = strides_;
  const std::int64_t st = d < dim() ? strides_[d] * shape_[d] : 1;
  ns.insert(ns.begin() + d, 1);
  nst.insert(nst.begin() + d, st);
  return make_view(std::move(ns), std::move(nst), offset_);
}

Tensor Tensor::expand(Shape shape) const {
  if (shape.size() < shape_.size())
    throw ShapeError("expand: cannot expand " + str_shape() + " to fewer dimensions " +
                     shape_str(shape));
  const std::size_t lead = shape.size() - shape_.size();
  Shape nst(shape.size(), 0);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      if (shape[i] < 0) throw ShapeError("expand: -1 not allowed for a new dimension");
      continue;
    }
    const std::int64_t have = shape_[i - lead];
    if (shape[i] == -1) shape[i] = have;
    if (have == shape[i]) {
      nst[i] = strides_[i - lead];
    } else if (have != 1) {
      throw ShapeError("expand: cannot expand " + str_shape() + " to " + shape_str(shape));
    }
  }
  return make_view(std::move(shape), std::move(nst), offset_);
}

}  // namespace relprop
