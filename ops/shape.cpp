// Shape ops: the forward is a view (or a copy when no view exists); relevance is reshaped
// back to the input's shape under every rule. Views and copies run on the tensors' own
// device; upsampling's loops have a GPU twin in cuda/shape.cu.

#include "relprop/ops/shape.hpp"

#include <vector>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <span>

#include "relprop/ops/common.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/shape.hpp"
#endif

namespace relprop {

namespace {

class ReshapeNode final : public Node {
 public:
  ReshapeNode(OpKind op, Shape in_shape) : Node(op), in_shape_(std::move(in_shape)) {}
  std::vector<Tensor> relevance(const Rule&, const Tensor& R, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(1);
    if (ctx.needs(0)) out[0] = R.reshape(in_shape_);
    return out;
  }
  void release() override {}

 private:
  Shape in_shape_;  // all it needs: no tensor is saved
};

Tensor record_reshape(OpKind op, const Tensor& x, Tensor y, std::string_view name) {
  if (Tape* tape = detail::recording_tape({&x})) {
    auto node = std::make_unique<ReshapeNode>(op, x.shape());
    node->inputs = detail::value_ids(*tape, {&x});
    tape->record(std::move(node), y, name);
  }
  return y;
}

Shape flatten_shape(const Shape& x, std::int64_t start, std::int64_t end, std::string_view name) {
  const auto r = static_cast<std::int64_t>(x.size());
  const std::string who = "flatten '" + detail::label(name, "flatten") + "'";
  if (r == 0) return {1};
  if (start < 0) start += r;
  if (end < 0) end += r;
  if (start < 0 || start >= r || end < 0 || end >= r || start > end)
    throw ShapeError(who + ": start_dim / end_dim out of range for shape " + shape_str(x));
  Shape y(x.begin(), x.begin() + start);
  std::int64_t m = 1;
  for (std::int64_t i = start; i <= end; ++i) m *= x[i];
  y.push_back(m);
  y.insert(y.end(), x.begin() + end + 1, x.end());
  return y;
}

}  // namespace

Tensor flatten(const Tensor& x, int start_dim, int end_dim, std::string_view name) {
  return record_reshape(OpKind::Flatten, x, x.reshape(flatten_shape(x.shape(), start_dim, end_dim, name)), name);
}

Tensor identity(const Tensor& x, std::string_view name, OpKind op) {
  return record_reshape(op, x, x.view(x.shape()), name);
}

Tensor reshape(const Tensor& x, const Shape& shape, std::string_view name) {
  Tensor y;
  try {
    y = x.reshape(shape);
  } catch (const ShapeError& e) {
    throw ShapeError("reshape '" + detail::label(name, "reshape") + "': " + e.what());
  }
  return record_reshape(OpKind::Reshape, x, y, name);
}

namespace {
// nn.Flatten's defaults (start_dim 1), the layer models use.
Shape flatten_infer(const OpShapeCall& c) {
  return flatten_shape(c.inputs[0], c.attrs.get_int(c.node, "start_dim", 1), c.attrs.get_int(c.node, "end_dim", -1),
                       c.node);
}
Tensor flatten_run(const OpCall& c) {
  return flatten(c.inputs[0], static_cast<int>(c.attrs.get_int(c.node, "start_dim", 1)),
                 static_cast<int>(c.attrs.get_int(c.node, "end_dim", -1)), c.node);
}
Shape shape_attr(const Attrs& a, std::string_view node) {
  if (!a.has("shape")) throw ValueError("node '" + std::string(node) + "': attribute 'shape' is required");
  return a.get_ints(node, "shape", {});
}
// The graph's reshape: 0 copies the input's size at that position (ONNX's convention),
// so (N, T, D) -> (N, T, H, D/H) is written [0, 0, H, D/H] whatever N and T are.
Shape graph_shape(const Attrs& a, std::string_view node, const Shape& in) {
  Shape s = shape_attr(a, node);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == 0) {
      if (i >= in.size())
        throw ShapeError("reshape '" + std::string(node) + "': 0 at position " + std::to_string(i) +
                         " copies an input dimension, but the input " + shape_str(in) + " has none there");
      s[i] = in[i];
    }
  return s;
}
Shape reshape_infer(const OpShapeCall& c) {
  // Checked on a zero-size-free stand-in: only the element count matters.
  const std::int64_t n = shape_numel(c.inputs[0]);
  Shape s = graph_shape(c.attrs, c.node, c.inputs[0]);
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1 && infer < 0) infer = static_cast<int>(i);
    else if (s[i] < 0) throw ShapeError("reshape '" + std::string(c.node) + "': invalid shape " + shape_str(s));
    else known *= s[i];
  }
  if (infer >= 0 && known > 0 && n % known == 0) s[infer] = n / known;
  if (shape_numel(s) != n)
    throw ShapeError("reshape '" + std::string(c.node) + "': cannot reshape " + shape_str(c.inputs[0]) + " into " +
                     shape_str(shape_attr(c.attrs, c.node)));
  return s;
}
Tensor reshape_run(const OpCall& c) {
  return reshape(c.inputs[0], graph_shape(c.attrs, c.node, c.inputs[0].shape()), c.node);
}
}  // namespace

OpSpec op_spec_flatten() {
  return OpSpec{OpKind::Flatten, {}, {}, {"start_dim", "end_dim"}, flatten_infer,
                flatten_run};
}
namespace {
Shape same_infer(const OpShapeCall& c) { return c.inputs[0]; }
Tensor identity_run(const OpCall& c) { return identity(c.inputs[0], c.node, OpKind::Identity); }
Tensor dropout_run(const OpCall& c) { return identity(c.inputs[0], c.node, OpKind::Dropout); }
}  // namespace

OpSpec op_spec_identity() {
  return OpSpec{OpKind::Identity, {}, {}, {}, same_infer, identity_run};
}
// Inference: dropout does nothing; its training attributes are accepted and ignored.
OpSpec op_spec_dropout() {
  return OpSpec{OpKind::Dropout, {}, {}, {"p", "inplace"}, same_infer, dropout_run};
}

OpSpec op_spec_reshape() {
  return OpSpec{OpKind::Reshape, {}, {}, {"shape"}, reshape_infer, reshape_run};
}

}  // namespace relprop

// ---- permute, slice, cat, pad, upsample ----------------------------------------------------

namespace relprop {

namespace {

// Moves relevance by a function of the output relevance (the inverse of the forward's
// index mapping); saves nothing but shapes and parameters.
class MoveNode final : public Node {
 public:
  using Back = std::function<std::vector<Tensor>(const Tensor& R)>;
  MoveNode(OpKind op, Back back) : Node(op), back_(std::move(back)) {}
  std::vector<Tensor> relevance(const Rule&, const Tensor& R, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out = back_(detail::as_f32(R, op_name(), "relevance"));
    for (std::size_t i = 0; i < out.size(); ++i)
      if (!ctx.needs(i)) out[i] = Tensor();
    return out;
  }
  void release() override {}

 private:
  Back back_;
};

Tensor record_move(OpKind op, std::vector<const Tensor*> ins, Tensor y, MoveNode::Back back,
                   std::string_view name) {
  Tape* tape = Tape::current();
  bool any = false;
  for (const Tensor* t : ins) any = any || (tape && tape->value_of(*t) >= 0);
  if (any) {
    auto node = std::make_unique<MoveNode>(op, std::move(back));
    for (const Tensor* t : ins) node->inputs.push_back(tape->value_of(*t));
    tape->record(std::move(node), y, name);
  }
  return y;
}

int wrap(int d, int rank, std::string_view op, std::string_view name) {
  if (d < -rank || d >= rank)
    throw IndexError(std::string(op) + " '" + detail::label(name, op) + "': dim " + std::to_string(d) +
                     " is out of range for rank " + std::to_string(rank));
  return d < 0 ? d + rank : d;
}

// ---- output shapes: the ops and their graph shape hooks share them ----------------------

Shape permute_shape(const Shape& x, const std::vector<int>& dims, std::string_view name) {
  const std::string who = "permute '" + detail::label(name, "permute") + "'";
  const int r = static_cast<int>(x.size());
  if (static_cast<int>(dims.size()) != r)
    throw ShapeError(who + ": " + std::to_string(dims.size()) + " dims given for a tensor of shape " + shape_str(x));
  std::vector<bool> seen(x.size(), false);
  Shape y(x.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int d = wrap(dims[i], r, "permute", name);
    if (seen[d]) throw ShapeError(who + ": dimension " + std::to_string(d) + " repeated");
    seen[d] = true;
    y[i] = x[d];
  }
  return y;
}

// Tensor::slice's rule: negative start / end count from the end, both clamped to the size.
Shape slice_shape(const Shape& x, int d, std::int64_t start, std::int64_t end, std::int64_t step) {
  const std::int64_t n = x[d];
  auto clampi = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clampi(start);
  end = end == std::numeric_limits<std::int64_t>::max() ? n : clampi(end);
  Shape y = x;
  y[d] = end > start ? (end - start - 1) / step + 1 : 0;
  return y;
}

// Checked: a dimension must stay within int64.
std::int64_t grow(std::int64_t size, std::int64_t add, const std::string& who) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(size, add, &out))
    throw ShapeError(who + ": the output size overflows (" + std::to_string(size) + " + " + std::to_string(add) + ")");
  return out;
}

Shape cat_shape(std::span<const Shape> xs, int dim, std::string_view name) {
  const std::string who = "cat '" + detail::label(name, "cat") + "'";
  if (xs.empty()) throw ValueError(who + ": needs at least one tensor");
  const int d = wrap(dim, static_cast<int>(xs[0].size()), "cat", name);
  Shape y = xs[0];
  y[d] = 0;
  for (const auto& t : xs) {
    bool ok = t.size() == xs[0].size();
    for (std::size_t i = 0; ok && i < t.size(); ++i) ok = static_cast<int>(i) == d || t[i] == xs[0][i];
    if (!ok)
      throw ShapeError(who + ": shapes " + shape_str(xs[0]) + " and " + shape_str(t) + " differ outside dimension " +
                       std::to_string(d));
    y[d] = grow(y[d], t[d], who);
  }
  return y;
}

// The padded shape; `lohi` (optional) gets each dimension's (before, after).
Shape pad_shape(const Shape& x, const std::vector<std::int64_t>& pads, std::string_view name,
                std::vector<std::pair<std::int64_t, std::int64_t>>* lohi = nullptr) {
  const std::string who = "pad '" + detail::label(name, "pad") + "'";
  const int r = static_cast<int>(x.size());
  if (pads.size() % 2 != 0 || pads.size() / 2 > x.size())
    throw ValueError(who + ": pad needs pairs for at most " + std::to_string(r) + " dimensions");
  Shape y = x;
  if (lohi) lohi->assign(x.size(), {0, 0});
  for (std::size_t i = 0; i < pads.size() / 2; ++i) {
    const int d = r - 1 - static_cast<int>(i);
    if (pads[2 * i] < 0 || pads[2 * i + 1] < 0) throw ValueError(who + ": negative padding (cropping) is not supported");
    if (lohi) (*lohi)[d] = {pads[2 * i], pads[2 * i + 1]};
    y[d] = grow(grow(y[d], pads[2 * i], who), pads[2 * i + 1], who);
  }
  return y;
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& dims, std::string_view name) {
  permute_shape(x.shape(), dims, name);  // checks the dims
  const Tensor y = x.permute(std::span<const int>(dims)).clone();
  std::vector<int> inverse(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) inverse[dims[i] < 0 ? dims[i] + dims.size() : dims[i]] = static_cast<int>(i);
  return record_move(OpKind::Permute, {&x}, y,
                     [inverse](const Tensor& R) { return std::vector<Tensor>{R.permute(std::span<const int>(inverse)).contiguous()}; },
                     name);
}

Tensor transpose(const Tensor& x, int dim0, int dim1, std::string_view name) {
  const int a = wrap(dim0, x.dim(), "transpose", name), b = wrap(dim1, x.dim(), "transpose", name);
  const Tensor y = x.transpose(a, b).clone();
  return record_move(OpKind::Transpose, {&x}, y,
                     [a, b](const Tensor& R) { return std::vector<Tensor>{R.transpose(a, b).contiguous()}; }, name);
}

Tensor slice(const Tensor& x, int dim, std::int64_t start, std::int64_t end, std::int64_t step, std::string_view name) {
  const int d = wrap(dim, x.dim(), "slice", name);
  if (step < 1) throw ValueError("slice '" + detail::label(name, "slice") + "': step must be >= 1");
  const Tensor y = x.slice(d, start, end, step).clone();
  RELPROP_ASSERT(y.shape() == slice_shape(x.shape(), d, start, end, step), "slice's shape rule and Tensor::slice agree");
  const Shape in = x.shape();
  return record_move(OpKind::Slice, {&x}, y,
                     [in, d, start, end, step](const Tensor& R) {
                       Tensor r = Tensor::zeros(in, DType::F32, R.device());  // on R's device
                       r.slice(d, start, end, step).copy_from(R);
                       return std::vector<Tensor>{r};
                     },
                     name);
}

Tensor cat(const std::vector<Tensor>& xs, int dim, std::string_view name) {
  std::vector<Shape> shapes;
  for (const auto& t : xs) shapes.push_back(t.shape());
  const Shape ys = cat_shape(shapes, dim, name);
  const int d = wrap(dim, xs[0].dim(), "cat", name);
  std::vector<std::int64_t> sizes;
  for (const auto& t : xs) sizes.push_back(t.size(d));
  for (std::size_t i = 1; i < xs.size(); ++i) {
    const std::string what = "input " + std::to_string(i);
    detail::same_device("cat '" + detail::label(name, "cat") + "'", {{&xs[0], "input 0"}, {&xs[i], what}});
  }
  Tensor y = Tensor::empty(ys, DType::F32, xs[0].device());
  std::int64_t off = 0;
  for (const auto& t : xs) {
    y.slice(d, off, off + t.size(d)).copy_from(t);
    off += t.size(d);
  }
  std::vector<const Tensor*> ins;
  for (const auto& t : xs) ins.push_back(&t);
  return record_move(OpKind::Cat, ins, y,
                     [sizes, d](const Tensor& R) {
                       std::vector<Tensor> parts;
                       std::int64_t o = 0;
                       for (auto s : sizes) {
                         parts.push_back(R.slice(d, o, o + s).contiguous());
                         o += s;
                       }
                       return parts;
                     },
                     name);
}

Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value, std::string_view name) {
  std::vector<std::pair<std::int64_t, std::int64_t>> lohi;
  const Shape ys = pad_shape(x.shape(), pads, name, &lohi);
  const Tensor y = Tensor::full(ys, value, DType::F32, x.device());
  Tensor inner = y;
  for (int d = 0; d < x.dim(); ++d) inner = inner.slice(d, lohi[d].first, lohi[d].first + x.size(d));
  inner.copy_from(x);
  return record_move(OpKind::Pad, {&x}, y,
                     [lohi](const Tensor& R) {
                       Tensor r = R;
                       for (int d = 0; d < R.dim(); ++d) r = r.slice(d, lohi[d].first, R.size(d) - lohi[d].second);
                       return std::vector<Tensor>{r.contiguous()};
                     },
                     name);
}

Tensor upsample_nearest2d(const Tensor& x_in, std::int64_t OH, std::int64_t OW, std::string_view name) {
  const std::string who = "upsample_nearest2d '" + detail::label(name, "upsample_nearest2d") + "'";
  if (x_in.dim() != 4) throw ShapeError(who + ": input must be (N, C, H, W), got " + x_in.str_shape());
  if (OH < 1 || OW < 1) throw ValueError(who + ": output size must be >= 1");
  const Tensor x = detail::as_f32(x_in, "upsample_nearest2d", "input");
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) {
    const Shape in = x.shape();
    return record_move(OpKind::UpsampleNearest2d, {&x_in}, cuda::upsample_nearest2d(x, OH, OW),
                       [in](const Tensor& R) {
                         return std::vector<Tensor>{cuda::upsample_nearest2d_relevance(R, in)};
                       },
                       name);
  }
#endif
  const std::int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty({x.size(0), x.size(1), OH, OW});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  // Source row / column of every output row / column (PyTorch's floor(o * in / out)).
  auto source = [](std::int64_t out, std::int64_t in) {
    std::vector<std::int64_t> m(static_cast<std::size_t>(out));
    for (std::int64_t o = 0; o < out; ++o) m[static_cast<std::size_t>(o)] = o * in / out;
    return m;
  };
  const auto rows = source(OH, H), cols = source(OW, W);
  detail::parallel_for(P, P * OH * OW > detail::kParallelMin, [&](std::int64_t p) {
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const float* xr = xp + (p * H + rows[oh]) * W;
      float* yr = yp + (p * OH + oh) * OW;
      for (std::int64_t ow = 0; ow < OW; ++ow) yr[ow] = xr[cols[ow]];
    }
  });
  const Shape in = x.shape();
  return record_move(OpKind::UpsampleNearest2d, {&x_in}, y,
                     [in, OH, OW, rows, cols](const Tensor& R) {
                       Tensor r = Tensor::zeros(in);
                       const std::int64_t P2 = in[0] * in[1], H2 = in[2], W2 = in[3];
                       const float* rp = R.data<float>();
                       float* o = r.data<float>();
                       // Planes in parallel: each scatters only into its own input plane.
                       detail::parallel_for(P2, P2 * OH * OW > detail::kParallelMin, [&](std::int64_t p) {
                         for (std::int64_t oh = 0; oh < OH; ++oh) {
                           float* orow = o + (p * H2 + rows[oh]) * W2;
                           const float* rr = rp + (p * OH + oh) * OW;
                           for (std::int64_t ow = 0; ow < OW; ++ow) orow[cols[ow]] += rr[ow];
                         }
                       });
                       return std::vector<Tensor>{r};
                     },
                     name);
}

// ---- graph format -----------------------------------------------------------------------

namespace {

std::vector<int> ints(const Attrs& a, std::string_view node, const std::string& key) {
  if (!a.has(key)) throw ValueError("node '" + std::string(node) + "': attribute '" + key + "' is required");
  std::vector<int> v;
  for (auto x : a.get_ints(node, key, {})) v.push_back(static_cast<int>(x));
  return v;
}

std::array<std::int64_t, 2> upsample_size(const Attrs& a, std::string_view node, const Shape& x) {
  if (x.size() != 4) throw ShapeError("upsample_nearest2d '" + std::string(node) + "': input must be (N, C, H, W)");
  if (a.has("size")) {
    const auto v = a.get_ints(node, "size", {});
    if (v.size() == 1) return {v[0], v[0]};
    if (v.size() == 2) return {v[0], v[1]};
  } else if (a.has("scale_factor")) {
    // PyTorch: output = floor(input * scale).
    const double s = a.get_float(node, "scale_factor", 1.0);
    const double h = std::floor(static_cast<double>(x[2]) * s), w = std::floor(static_cast<double>(x[3]) * s);
    // Checked before the conversion, which is undefined past int64's range.
    if (!(h >= 1 && w >= 1 && h < 0x1p62 && w < 0x1p62))
      throw ValueError("node '" + std::string(node) + "': scale_factor " + std::to_string(s) +
                       " gives no valid output size for input " + shape_str(x));
    return {static_cast<std::int64_t>(h), static_cast<std::int64_t>(w)};
  }
  throw ValueError("node '" + std::string(node) + "': give 'size' (one or two values) or 'scale_factor'");
}

Tensor permute_run(const OpCall& c) { return permute(c.inputs[0], ints(c.attrs, c.node, "dims"), c.node); }
Tensor transpose_run(const OpCall& c) {
  return transpose(c.inputs[0], static_cast<int>(c.attrs.get_int(c.node, "dim0", 0)),
                   static_cast<int>(c.attrs.get_int(c.node, "dim1", 1)), c.node);
}
Tensor slice_run(const OpCall& c) {
  return slice(c.inputs[0], static_cast<int>(c.attrs.get_int(c.node, "dim", 0)), c.attrs.get_int(c.node, "start", 0),
               c.attrs.get_int(c.node, "end", std::numeric_limits<std::int64_t>::max()), c.attrs.get_int(c.node, "step", 1),
               c.node);
}
Tensor cat_run(const OpCall& c) {
  return cat(std::vector<Tensor>(c.inputs.begin(), c.inputs.end()), static_cast<int>(c.attrs.get_int(c.node, "dim", 0)),
             c.node);
}
void check_pad_mode(const Attrs& a, std::string_view node) {
  if (a.has("mode")) {
    const auto& m = a.values().at("mode");
    if (!std::holds_alternative<std::string>(m) || std::get<std::string>(m) != "constant")
      throw ValueError("node '" + std::string(node) + "': only mode \"constant\" is supported");
  }
  if (!a.has("pad")) throw ValueError("node '" + std::string(node) + "': attribute 'pad' is required");
}
Tensor pad_run(const OpCall& c) {
  check_pad_mode(c.attrs, c.node);
  return pad(c.inputs[0], c.attrs.get_ints(c.node, "pad", {}), c.attrs.get_float(c.node, "value", 0.0), c.node);
}
Shape permute_infer(const OpShapeCall& c) { return permute_shape(c.inputs[0], ints(c.attrs, c.node, "dims"), c.node); }
Shape transpose_infer(const OpShapeCall& c) {
  const int r = static_cast<int>(c.inputs[0].size());
  const int a = wrap(static_cast<int>(c.attrs.get_int(c.node, "dim0", 0)), r, "transpose", c.node);
  const int b = wrap(static_cast<int>(c.attrs.get_int(c.node, "dim1", 1)), r, "transpose", c.node);
  Shape y = c.inputs[0];
  std::swap(y[a], y[b]);
  return y;
}
Shape slice_infer(const OpShapeCall& c) {
  const int d = wrap(static_cast<int>(c.attrs.get_int(c.node, "dim", 0)), static_cast<int>(c.inputs[0].size()), "slice",
                     c.node);
  const std::int64_t step = c.attrs.get_int(c.node, "step", 1);
  if (step < 1) throw ValueError("slice '" + std::string(c.node) + "': step must be >= 1");
  return slice_shape(c.inputs[0], d, c.attrs.get_int(c.node, "start", 0),
                     c.attrs.get_int(c.node, "end", std::numeric_limits<std::int64_t>::max()), step);
}
Shape cat_infer(const OpShapeCall& c) {
  return cat_shape(c.inputs, static_cast<int>(c.attrs.get_int(c.node, "dim", 0)), c.node);
}
Shape pad_infer(const OpShapeCall& c) {
  check_pad_mode(c.attrs, c.node);
  c.attrs.get_float(c.node, "value", 0.0);  // checks its type
  return pad_shape(c.inputs[0], c.attrs.get_ints(c.node, "pad", {}), c.node);
}
Shape upsample_infer(const OpShapeCall& c) {
  const auto s = upsample_size(c.attrs, c.node, c.inputs[0]);
  if (s[0] < 1 || s[1] < 1) throw ValueError("upsample_nearest2d '" + std::string(c.node) + "': output size must be >= 1");
  return {c.inputs[0][0], c.inputs[0][1], s[0], s[1]};
}
Tensor upsample_run(const OpCall& c) {
  const auto s = upsample_size(c.attrs, c.node, c.inputs[0].shape());
  return upsample_nearest2d(c.inputs[0], s[0], s[1], c.node);
}

}  // namespace

#define RELPROP_SHAPE_SPEC(fn, kind, ATTRS, INFER, RUN) \
  OpSpec op_spec_##fn() { return OpSpec{OpKind::kind, {}, {}, ATTRS, INFER, RUN}; }
RELPROP_SHAPE_SPEC(permute, Permute, {"dims"}, permute_infer, permute_run)
RELPROP_SHAPE_SPEC(transpose, Transpose, (std::vector<std::string_view>{"dim0", "dim1"}), transpose_infer,
                   transpose_run)
RELPROP_SHAPE_SPEC(slice, Slice, (std::vector<std::string_view>{"dim", "start", "end", "step"}), slice_infer,
                   slice_run)
RELPROP_SHAPE_SPEC(cat, Cat, {"dim"}, cat_infer, cat_run)
RELPROP_SHAPE_SPEC(pad, Pad, (std::vector<std::string_view>{"pad", "mode", "value"}), pad_infer, pad_run)
RELPROP_SHAPE_SPEC(upsample_nearest2d, UpsampleNearest2d, (std::vector<std::string_view>{"size", "scale_factor"}),
                   upsample_infer, upsample_run)
#undef RELPROP_SHAPE_SPEC

}  // namespace relprop
