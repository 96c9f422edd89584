// Pooling: shape check, CPU forward, CPU relevance, nodes. Every output element reads a
// window of one (n, c) plane; relevance is scattered back window by window, planes in
// parallel (they never share an input element). Letters: N C H W input, HO WO output.
// GPU tensors run the twin in cuda/pool.cu (same windows, same order of accumulation).

#include "relprop/ops/pool.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "relprop/ops/common.hpp"
#include "relprop/ops/pool_window.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/pool.hpp"
#endif

namespace relprop {

namespace {

using detail::PoolMode;
using PoolKind = detail::PoolWindows;

struct Geom {
  PoolKind kind;
  std::int64_t N, C, H, W, HO, WO;
  Pool2dParams p;
};

// Valid input rows h0, h0 + step, ... < h1 and columns likewise, and the divisor.
struct Window {
  std::int64_t h0, h1, hs, w0, w1, ws;
  double divisor;
};

// Output size of a strided window along one dimension (PyTorch's pooling_output_shape).
// Checked: attributes up to 2^63 overflow as a ValueError naming `who`.
std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t pad, std::int64_t dil, bool ceil,
                      const std::string& who) {
  const std::int64_t padded = detail::checked_mul_add(2, pad, in, who);
  const std::int64_t extent = detail::checked_mul_add(dil, k - 1, 1, who);
  const std::int64_t span = padded - extent;  // both >= 0: no overflow
  if (span < 0) return 0;  // the kernel does not fit: no output (an error for the caller)
  std::int64_t o = (ceil ? span / s + (span % s != 0) : span / s) + 1;
  if (ceil && (o - 1) * s >= in + pad) --o;  // the last window must start inside the input (both <= padded)
  return o;
}

// One dimension of the windows (ops/pool_window.hpp).
using Span = detail::PoolSpan;

// The geometry as plain numbers, as ops/pool_window.hpp (and the GPU kernels) take it.
detail::PoolGeom window_geom(const Geom& g) {
  detail::PoolGeom q;
  q.kind = g.kind;
  q.N = g.N, q.C = g.C, q.H = g.H, q.W = g.W, q.HO = g.HO, q.WO = g.WO;
  for (int d = 0; d < 2; ++d) {
    q.kernel[d] = g.p.kernel[d];
    q.stride[d] = g.p.stride[d];
    q.padding[d] = g.p.padding[d];
    q.dilation[d] = g.p.dilation[d];
  }
  q.count_include_pad = g.p.count_include_pad;
  return q;
}

// Windows are separable: rows depend on oh only, columns on ow only. Computed once per
// call, so the per-output work is two table reads.
struct Windows {
  std::vector<Span> rows, cols;
  Windows(const Geom& g) : rows(g.HO), cols(g.WO) {
    const detail::PoolGeom q = window_geom(g);
    for (std::int64_t o = 0; o < g.HO; ++o) rows[o] = detail::pool_span(q, o, 0);
    for (std::int64_t o = 0; o < g.WO; ++o) cols[o] = detail::pool_span(q, o, 1);
  }
  Window operator()(std::int64_t oh, std::int64_t ow) const {
    const Span& r = rows[oh];
    const Span& c = cols[ow];
    return Window{r.b, r.e, r.step, c.b, c.e, c.step, r.count * c.count};
  }
};

template <class F>
void each(const Window& w, F&& f) {  // f(h, w) over the window's valid elements
  for (std::int64_t h = w.h0; h < w.h1; h += w.hs)
    for (std::int64_t c = w.w0; c < w.w1; c += w.ws) f(h, c);
}

// Runs body(plane) for every (n, c) plane in parallel.
template <class Body>
void for_planes(const Geom& g, Body&& body) {
  detail::parallel_for(g.N * g.C, g.N * g.C * g.H * g.W > detail::kParallelMin, [&](std::int64_t plane) { body(plane); });
}

constexpr std::int32_t kEmptyWindow = detail::kPoolEmptyWindow;

#if RELPROP_HAVE_CUDA
// The geometry the GPU kernels take (cuda/pool.hpp).
cuda::PoolGeom gpu_geom(const Geom& g) { return window_geom(g); }
#endif

// Max pooling can also write, per output, the position of its maximum inside the plane
// (h * W + w; the first in scan order), negated minus one when the maximum is tied:
// relevance then goes straight to that element, and only tied windows are scanned again.
Tensor pool_forward(const Geom& g, const Tensor& x, std::int32_t* argmax = nullptr) {
  Tensor y = Tensor::empty({g.N, g.C, g.HO, g.WO});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const Windows win(g);
  for_planes(g, [&](std::int64_t plane) {
    const float* xi = xp + plane * g.H * g.W;
    float* yo = yp + plane * g.HO * g.WO;
    for (std::int64_t oh = 0; oh < g.HO; ++oh)
      for (std::int64_t ow = 0; ow < g.WO; ++ow) {
        const Window w = win(oh, ow);
        if (g.kind == PoolKind::Max) {
          float m = -std::numeric_limits<float>::infinity();
          if (argmax) {
            detail::PoolMaxScan scan;
            each(w, [&](std::int64_t h, std::int64_t c) { scan.add(xi[h * g.W + c], h * g.W + c); });
            m = scan.m;
            argmax[plane * g.HO * g.WO + oh * g.WO + ow] = scan.code();
          } else {
            each(w, [&](std::int64_t h, std::int64_t c) { m = std::max(m, xi[h * g.W + c]); });
          }
          yo[oh * g.WO + ow] = m;
        } else {
          double s = 0;
          each(w, [&](std::int64_t h, std::int64_t c) { s += xi[h * g.W + c]; });
          yo[oh * g.WO + ow] = static_cast<float>(s / w.divisor);
        }
      }
  });
  return y;
}

class PoolNode final : public Node {
 public:
  PoolNode(OpKind op, Geom g, Tensor x, Tensor y, Tensor argmax, Shape in_shape)
      : Node(op),
        g_(g),
        x_(std::move(x)),
        y_(std::move(y)),
        argmax_(std::move(argmax)),
        in_shape_(std::move(in_shape)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_out, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(1);
    if (!ctx.needs(0)) return out;
    const Tensor R = detail::as_f32(R_out, op_name(), "relevance").reshape(y_.shape()).contiguous();
    using Mode = PoolMode;
    Mode mode;
    detail::Stab stab = detail::stab_of(rule);
    const bool is_max = g_.kind == PoolKind::Max;
    const bool normish = std::holds_alternative<NormRule>(rule) || std::holds_alternative<EpsilonRule>(rule) ||
                         std::holds_alternative<ZeroRule>(rule);
    if (std::holds_alternative<GradientRule>(rule)) mode = is_max ? Mode::FirstMax : Mode::MeanGradient;
    else if (std::holds_alternative<UniformRule>(rule)) mode = Mode::Uniform;
    else if (normish) mode = is_max ? Mode::Proportional : Mode::Norm;
    else if (std::holds_alternative<BacktraceRule>(rule)) mode = is_max ? Mode::WinnerTakeAll : Mode::AbsShare;
    else if (std::holds_alternative<PassRule>(rule) && is_max) mode = Mode::WinnerTakeAll;
    else unsupported(rule);
#if RELPROP_HAVE_CUDA
    if (detail::on_cuda(x_) || detail::on_cuda(R)) {
      detail::same_device(op_name(), {{&x_, "input"}, {&R, "relevance"}});
      out[0] = cuda::pool_relevance(gpu_geom(g_), mode, stab, x_, y_, R, argmax_).reshape(in_shape_);
      return out;
    }
#endif
    Tensor r_in = Tensor::zeros(x_.shape());
    const float* xp = x_.data<float>();
    const float* yp = y_.data<float>();
    const float* rp = R.data<float>();
    float* op = r_in.data<float>();
    const Geom& g = g_;
    const Windows win(g);
    const std::int32_t* am = argmax_.defined() ? argmax_.data<std::int32_t>() : nullptr;
    for_planes(g, [&](std::int64_t plane) {
      const float* xi = xp + plane * g.H * g.W;
      float* ri = op + plane * g.H * g.W;
      for (std::int64_t oh = 0; oh < g.HO; ++oh)
        for (std::int64_t ow = 0; ow < g.WO; ++ow) {
          const std::int64_t k = plane * g.HO * g.WO + oh * g.WO + ow;
          const float r = rp[k];
          if (r == 0.0f) continue;
          const Window w = win(oh, ow);
          if (am && (mode == Mode::WinnerTakeAll || mode == Mode::FirstMax)) {
            const std::int32_t a = am[k];
            if (a == kEmptyWindow) continue;
            if (a >= 0 || mode == Mode::FirstMax) {  // a unique maximum, or the first of tied ones
              ri[a >= 0 ? a : -a - 1] += r;
              continue;
            }
          }
          switch (mode) {
            case Mode::WinnerTakeAll: {  // ties share equally
              const float m = yp[k];
              int ties = 0;
              each(w, [&](std::int64_t h, std::int64_t c) { ties += xi[h * g.W + c] == m; });
              if (ties == 0) break;
              const float share = r / static_cast<float>(ties);
              each(w, [&](std::int64_t h, std::int64_t c) {
                if (xi[h * g.W + c] == m) ri[h * g.W + c] += share;
              });
              break;
            }
            case Mode::FirstMax: {
              const float m = yp[k];
              bool done = false;
              each(w, [&](std::int64_t h, std::int64_t c) {
                if (!done && xi[h * g.W + c] == m) {
                  ri[h * g.W + c] += r;
                  done = true;
                }
              });
              break;
            }
            case Mode::Proportional:
            case Mode::Norm: {
              // Proportional: x_j R / stab(sum x). Norm: x_j R / (d stab(y)), y = sum x / d.
              double sum = 0;
              each(w, [&](std::int64_t h, std::int64_t c) { sum += xi[h * g.W + c]; });
              const float den = mode == Mode::Norm ? static_cast<float>(yp[k]) : static_cast<float>(sum);
              // One element's stabilised division (no parallel region per window); Scaled:
              // the root mean square of a one-element group is |den|.
              const float e = static_cast<float>(stab.kind == Stabilizer::Scaled ? stab.epsilon * std::fabs(den)
                                                                                  : stab.epsilon);
              float s = detail::stab_divide(r, den, e, stab.kind == Stabilizer::Clip);
              if (mode == Mode::Norm) s /= static_cast<float>(w.divisor);
              each(w, [&](std::int64_t h, std::int64_t c) { ri[h * g.W + c] += xi[h * g.W + c] * s; });
              break;
            }
            case Mode::AbsShare: {
              double sum = 0;
              std::int64_t count = 0;
              each(w, [&](std::int64_t h, std::int64_t c) {
                sum += std::fabs(xi[h * g.W + c]);
                ++count;
              });
              each(w, [&](std::int64_t h, std::int64_t c) {
                const double share = sum > 0 ? std::fabs(xi[h * g.W + c]) / sum : 1.0 / static_cast<double>(count);
                ri[h * g.W + c] += static_cast<float>(r * share);
              });
              break;
            }
            case Mode::MeanGradient: {
              const float share = r / static_cast<float>(w.divisor);
              each(w, [&](std::int64_t h, std::int64_t c) { ri[h * g.W + c] += share; });
              break;
            }
            case Mode::Uniform: {  // equal shares over the window's positions inside the input
              std::int64_t count = 0;
              each(w, [&](std::int64_t, std::int64_t) { ++count; });
              const float share = r / static_cast<float>(count);
              each(w, [&](std::int64_t h, std::int64_t c) { ri[h * g.W + c] += share; });
              break;
            }
          }
        }
    });
    out[0] = r_in.reshape(in_shape_);
    return out;
  }

  void release() override { x_ = y_ = argmax_ = Tensor(); }

 private:
  Geom g_;
  Tensor x_, y_;  // x (N, C, H, W), y (N, C, HO, WO)
  Tensor argmax_;  // max pooling: I32 (N, C, HO, WO), see pool_forward
  Shape in_shape_;  // the recorded input's shape ((N, C, L) for the 1-d pools)
};

Shape check_input(const Shape& x, std::string_view op, std::string_view name) {
  if (x.size() != 4)
    throw ShapeError(std::string(op) + " '" + detail::label(name, op) + "': input must be (N, C, H, W), got " +
                     shape_str(x));
  return x;
}

Geom strided_geom(PoolKind kind, const Shape& x, const Pool2dParams& p, std::string_view op, std::string_view name) {
  check_input(x, op, name);
  const std::string who = std::string(op) + " '" + detail::label(name, op) + "'";
  for (int i = 0; i < 2; ++i) {
    if (p.kernel[i] < 1 || p.stride[i] < 1 || p.dilation[i] < 1 || p.padding[i] < 0)
      throw ValueError(who + ": kernel, stride and dilation must be >= 1 and padding >= 0");
    if (p.padding[i] > p.kernel[i] / 2)
      throw ValueError(who + ": padding " + std::to_string(p.padding[i]) + " is more than half the kernel " +
                       std::to_string(p.kernel[i]));
  }
  Geom g{kind, x[0], x[1], x[2], x[3], 0, 0, p};
  if (kind == PoolKind::Avg) g.p.dilation = {1, 1};
  g.HO = out_size(g.H, p.kernel[0], p.stride[0], p.padding[0], g.p.dilation[0], p.ceil_mode, who);
  g.WO = out_size(g.W, p.kernel[1], p.stride[1], p.padding[1], g.p.dilation[1], p.ceil_mode, who);
  if (g.HO < 1 || g.WO < 1)
    throw ShapeError(who + ": input " + shape_str(x) + " is smaller than the kernel (" + std::to_string(p.kernel[0]) +
                     ", " + std::to_string(p.kernel[1]) + ")");
  return g;
}

// `x_in` may be 3-d (N, C, L) for the 1-d pools: it is pooled as (N, C, 1, L) and the
// output comes back 3-d.
Tensor run_pool(OpKind op, const Geom& g, const Tensor& x_in, std::string_view name) {
  const bool one_d = x_in.dim() == 3;
  const std::string_view who = op_name(op);
  const Tensor x =
      one_d ? detail::as_f32(x_in, who, "input").unsqueeze(2).contiguous() : detail::as_f32(x_in, who, "input");
  Tape* tape = detail::recording_tape({&x_in});
  Tensor argmax;
  if (tape && g.kind == PoolKind::Max && g.H * g.W < (std::int64_t{1} << 31))
    argmax = Tensor::empty({g.N, g.C, g.HO, g.WO}, DType::I32, x.device());
#if RELPROP_HAVE_CUDA
  Tensor y = detail::on_cuda(x) ? cuda::pool_forward(gpu_geom(g), x, argmax)
                                : pool_forward(g, x, argmax.defined() ? argmax.data<std::int32_t>() : nullptr);
#else
  Tensor y = pool_forward(g, x, argmax.defined() ? argmax.data<std::int32_t>() : nullptr);
#endif
  const Tensor y4 = y;
  if (one_d) y = y.reshape({g.N, g.C, g.WO});
  if (tape) {
    auto node = std::make_unique<PoolNode>(op, g, x, y4, argmax, x_in.shape());
    node->inputs = detail::value_ids(*tape, {&x_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

Geom adaptive_geom(const Shape& x, std::array<std::int64_t, 2> out, std::string_view name) {
  check_input(x, "adaptive_avg_pool2d", name);
  if (out[0] < 1 || out[1] < 1)
    throw ValueError("adaptive_avg_pool2d '" + detail::label(name, "adaptive_avg_pool2d") +
                     "': output_size must be >= 1");
  return Geom{PoolKind::Adaptive, x[0], x[1], x[2], x[3], out[0], out[1], {}};
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p, std::string_view name) {
  return run_pool(OpKind::MaxPool2d, strided_geom(PoolKind::Max, x.shape(), p, "max_pool2d", name), x, name);
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p, std::string_view name) {
  return run_pool(OpKind::AvgPool2d, strided_geom(PoolKind::Avg, x.shape(), p, "avg_pool2d", name), x, name);
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> output_size, std::string_view name) {
  return run_pool(OpKind::AdaptiveAvgPool2d, adaptive_geom(x.shape(), output_size, name), x, name);
}

namespace {
// A 1-d pool as a 2-d one over (N, C, 1, L).
Pool2dParams as_2d(const Pool1dParams& p) {
  Pool2dParams q;
  q.kernel = {1, p.kernel};
  q.stride = {1, p.stride > 0 ? p.stride : p.kernel};
  q.padding = {0, p.padding};
  q.dilation = {1, p.dilation};
  q.ceil_mode = p.ceil_mode;
  q.count_include_pad = p.count_include_pad;
  return q;
}
Shape as_4d(const Shape& x, std::string_view op, std::string_view name) {
  if (x.size() != 3)
    throw ShapeError(std::string(op) + " '" + detail::label(name, op) + "': input must be (N, C, L), got " +
                     shape_str(x));
  return {x[0], x[1], 1, x[2]};
}
}  // namespace

Tensor max_pool1d(const Tensor& x, const Pool1dParams& p, std::string_view name) {
  return run_pool(OpKind::MaxPool1d, strided_geom(PoolKind::Max, as_4d(x.shape(), "max_pool1d", name), as_2d(p), "max_pool1d", name),
                  x, name);
}

Tensor avg_pool1d(const Tensor& x, const Pool1dParams& p, std::string_view name) {
  return run_pool(OpKind::AvgPool1d, strided_geom(PoolKind::Avg, as_4d(x.shape(), "avg_pool1d", name), as_2d(p), "avg_pool1d", name),
                  x, name);
}

// ---- graph format ---------------------------------------------------------------------

namespace {

template <class Call>
std::array<std::int64_t, 2> pair(const Call& c, const std::string& key, std::array<std::int64_t, 2> dflt) {
  if (!c.attrs.has(key)) return dflt;
  const auto v = c.attrs.get_ints(c.node, key, {});
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  throw ValueError("node '" + std::string(c.node) + "': attribute '" + key + "' takes one or two values");
}

template <class Call>
Pool2dParams pool_params(const Call& c, bool is_max) {
  if (!c.attrs.has("kernel_size"))
    throw ValueError("node '" + std::string(c.node) + "': attribute 'kernel_size' is required");
  Pool2dParams p;
  p.kernel = pair(c, "kernel_size", {1, 1});
  p.stride = pair(c, "stride", p.kernel);  // PyTorch: stride defaults to the kernel size
  p.padding = pair(c, "padding", {0, 0});
  p.ceil_mode = c.attrs.get_bool(c.node, "ceil_mode", false);
  if (is_max) {
    p.dilation = pair(c, "dilation", {1, 1});
    if (c.attrs.get_bool(c.node, "return_indices", false))
      throw ValueError("node '" + std::string(c.node) + "': return_indices is not supported");
  } else {
    p.count_include_pad = c.attrs.get_bool(c.node, "count_include_pad", true);
    if (c.attrs.has("divisor_override"))
      throw ValueError("node '" + std::string(c.node) + "': divisor_override is not supported");
  }
  return p;
}

Shape max_infer(const OpShapeCall& c) {
  const Geom g = strided_geom(PoolKind::Max, c.inputs[0], pool_params(c, true), "max_pool2d", c.node);
  return {g.N, g.C, g.HO, g.WO};
}
Tensor max_run(const OpCall& c) { return max_pool2d(c.inputs[0], pool_params(c, true), c.node); }
Shape avg_infer(const OpShapeCall& c) {
  const Geom g = strided_geom(PoolKind::Avg, c.inputs[0], pool_params(c, false), "avg_pool2d", c.node);
  return {g.N, g.C, g.HO, g.WO};
}
Tensor avg_run(const OpCall& c) { return avg_pool2d(c.inputs[0], pool_params(c, false), c.node); }

template <class Call>
std::array<std::int64_t, 2> adaptive_size(const Call& c) {
  if (!c.attrs.has("output_size"))
    throw ValueError("node '" + std::string(c.node) + "': attribute 'output_size' is required");
  return pair(c, "output_size", {1, 1});
}
template <class Call>
Pool1dParams pool1d_params(const Call& c, bool is_max) {
  const Pool2dParams q = pool_params(c, is_max);
  auto one = [&](const std::array<std::int64_t, 2>& v, const char* key) {
    if (v[0] != v[1])
      throw ValueError("node '" + std::string(c.node) + "': attribute '" + key + "' takes one value for a 1-d pool");
    return v[1];
  };
  Pool1dParams p;
  p.kernel = one(q.kernel, "kernel_size");
  p.stride = one(q.stride, "stride");
  p.padding = one(q.padding, "padding");
  p.dilation = one(q.dilation, "dilation");
  p.ceil_mode = q.ceil_mode;
  p.count_include_pad = q.count_include_pad;
  return p;
}
Shape max1d_infer(const OpShapeCall& c) {
  const Geom g = strided_geom(PoolKind::Max, as_4d(c.inputs[0], "max_pool1d", c.node), as_2d(pool1d_params(c, true)),
                              "max_pool1d", c.node);
  return {g.N, g.C, g.WO};
}
Tensor max1d_run(const OpCall& c) { return max_pool1d(c.inputs[0], pool1d_params(c, true), c.node); }
Shape avg1d_infer(const OpShapeCall& c) {
  const Geom g = strided_geom(PoolKind::Avg, as_4d(c.inputs[0], "avg_pool1d", c.node), as_2d(pool1d_params(c, false)),
                              "avg_pool1d", c.node);
  return {g.N, g.C, g.WO};
}
Tensor avg1d_run(const OpCall& c) { return avg_pool1d(c.inputs[0], pool1d_params(c, false), c.node); }

Shape adaptive_infer(const OpShapeCall& c) {
  const Geom g = adaptive_geom(c.inputs[0], adaptive_size(c), c.node);
  return {g.N, g.C, g.HO, g.WO};
}
Tensor adaptive_run(const OpCall& c) { return adaptive_avg_pool2d(c.inputs[0], adaptive_size(c), c.node); }

}  // namespace

OpSpec op_spec_max_pool2d() {
  return OpSpec{OpKind::MaxPool2d, {}, {},
                {"kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"}, max_infer, max_run};
}
OpSpec op_spec_avg_pool2d() {
  return OpSpec{OpKind::AvgPool2d, {}, {},
                {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"}, avg_infer,
                avg_run};
}
OpSpec op_spec_max_pool1d() {
  return OpSpec{OpKind::MaxPool1d, {}, {},
                {"kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"}, max1d_infer, max1d_run};
}
OpSpec op_spec_avg_pool1d() {
  return OpSpec{OpKind::AvgPool1d, {}, {},
                {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"}, avg1d_infer,
                avg1d_run};
}
OpSpec op_spec_adaptive_avg_pool2d() {
  return OpSpec{OpKind::AdaptiveAvgPool2d, {}, {}, {"output_size"},
                adaptive_infer, adaptive_run};
}

}  // namespace relprop
