// Convolutions: shape check, CPU forward (im2col + GEMM per group), the transpose
// (GEMM^T + col2im, i.e. backward-data) for the LRP skeleton, and the nodes.
// Letters: N batch, C/O in/out channels, G groups, CG = C/G, OG = O/G, H W input size,
// HO WO output size, KH KW kernel, K = CG KH KW rows of a column matrix, P = HO WO.

#include "relprop/ops/conv.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "relprop/ops/common.hpp"
#include "relprop/ops/kernels.hpp"
#include "relprop/ops/linear_type.hpp"
#include "relprop/ops/registry.hpp"
#include "relprop/ops/winograd.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include "relprop/cuda/conv.hpp"
#endif

namespace relprop {

using detail::cmat;
using detail::mmat;

namespace {

struct Geom {
  std::int64_t N, C, H, W, O, KH, KW, HO, WO, G, CG, OG, K, P;
  std::int64_t sh, sw, ph, pw, dh, dw;
  bool pointwise;  // 1x1, stride 1, no padding: the input is its own column matrix
};

Geom geometry(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Geom g{};
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.O = w[0], g.KH = w[2], g.KW = w[3];
  g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1];
  g.G = p.groups, g.CG = g.C / g.G, g.OG = g.O / g.G;
  // The im2col offsets are the leading pads; trailing ones only lengthen the output.
  g.HO = (g.H + g.ph + p.pad_end(0) - g.dh * (g.KH - 1) - 1) / g.sh + 1;
  g.WO = (g.W + g.pw + p.pad_end(1) - g.dw * (g.KW - 1) - 1) / g.sw + 1;
  g.K = g.CG * g.KH * g.KW;
  g.P = g.HO * g.WO;
  g.pointwise = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && p.pad_end(0) == 0 &&
                p.pad_end(1) == 0;
  return g;
}

// The column matrix is built for a block of output pixels [p0, p0 + PB) at a time, so
// it stays in cache however large the image (a 224 x 224 layer's full matrix is 100+ MB).
constexpr std::int64_t kPixelBlock = 2048;

// Calls f(oh, ow0, ow1, q0) for the runs of one output row inside pixels [p0, p0 + PB):
// output pixels (oh, ow0..ow1) sit at columns q0.. of the block.
template <class F>
void for_row_runs(const Geom& g, std::int64_t p0, std::int64_t PB, F&& f) {
  for (std::int64_t p = p0; p < p0 + PB;) {
    const std::int64_t oh = p / g.WO, ow0 = p % g.WO;
    const std::int64_t ow1 = std::min(g.WO, ow0 + (p0 + PB - p));
    f(oh, ow0, ow1, p - p0);
    p += ow1 - ow0;
  }
}

// cols (K, PB) <- the receptive fields of output pixels [p0, p0 + PB) of group `gi` of one
// sample x (C, H, W).
// Channels are spread over the threads unless the caller already runs in parallel (one
// sample per thread).
// The output columns [a, b) of [ow0, ow1) whose input column iw = ow·sw + off (off =
// kw·dw − pw) lies inside the image, 0 <= iw < W; the others read the zero padding.
void inside_cols(const Geom& g, std::int64_t off, std::int64_t ow0, std::int64_t ow1, std::int64_t& a,
                 std::int64_t& b) {
  const std::int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;  // first ow with iw >= 0
  const std::int64_t last = g.W - 1 - off;                           // iw <= W - 1
  const std::int64_t hi = last < 0 ? 0 : last / g.sw + 1;            // one past the last ow
  a = std::clamp(lo, ow0, ow1);
  b = std::clamp(hi, a, ow1);
}

bool split_channels(const Geom& g, std::int64_t PB) { return !omp_in_parallel() && g.CG > 1 && g.K * PB > (1 << 14); }

void im2col(const Geom& g, const float* x, std::int64_t gi, std::int64_t p0, std::int64_t PB, float* cols) {
  detail::parallel_for(g.CG, split_channels(g, PB), [&](std::int64_t c) {
    const float* xc = x + (gi * g.CG + c) * g.H * g.W;
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        float* row = cols + ((c * g.KH + kh) * g.KW + kw) * PB;
        for_row_runs(g, p0, PB, [&](std::int64_t oh, std::int64_t ow0, std::int64_t ow1, std::int64_t q0) {
          float* out = row + q0;  // output column ow sits at out[ow - ow0]
          const std::int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) {
            std::fill(out, out + (ow1 - ow0), 0.0f);
            return;
          }
          const std::int64_t off = kw * g.dw - g.pw;
          std::int64_t a, b;
          inside_cols(g, off, ow0, ow1, a, b);
          const float* xr = xc + ih * g.W;
          std::fill(out, out + (a - ow0), 0.0f);
          if (g.sw == 1 && a < b) std::copy(xr + (a + off), xr + (b + off), out + (a - ow0));
          else
            for (std::int64_t ow = a; ow < b; ++ow) out[ow - ow0] = xr[ow * g.sw + off];
          std::fill(out + (b - ow0), out + (ow1 - ow0), 0.0f);
        });
      }
  });
}

// x (C, H, W) of group `gi` += the columns (K, PB) of pixels [p0, p0 + PB) scattered back
// (the adjoint of im2col).
void col2im(const Geom& g, const float* cols, std::int64_t gi, std::int64_t p0, std::int64_t PB, float* x) {
  // Each channel scatters into its own plane: no two threads write the same element.
  detail::parallel_for(g.CG, split_channels(g, PB), [&](std::int64_t c) {
    float* xc = x + (gi * g.CG + c) * g.H * g.W;
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      for (std::int64_t kw = 0; kw < g.KW; ++kw) {
        const float* row = cols + ((c * g.KH + kh) * g.KW + kw) * PB;
        for_row_runs(g, p0, PB, [&](std::int64_t oh, std::int64_t ow0, std::int64_t ow1, std::int64_t q0) {
          const float* in = row + q0;  // output column ow sits at in[ow - ow0]
          const std::int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) return;
          const std::int64_t off = kw * g.dw - g.pw;
          std::int64_t a, b;
          inside_cols(g, off, ow0, ow1, a, b);
          float* xr = xc + ih * g.W;
          if (g.sw == 1)
            for (std::int64_t ow = a; ow < b; ++ow) xr[ow + off] += in[ow - ow0];
          else
            for (std::int64_t ow = a; ow < b; ++ow) xr[ow * g.sw + off] += in[ow - ow0];
        });
      }
  });
}

using StridedMap = Eigen::Map<detail::RowMat, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const detail::RowMat, 0, Eigen::OuterStride<>>;

// A per-thread column buffer of at least n floats, kept between calls: not cleared (im2col
// writes every element it is read back from) and not faulted in afresh for every layer.
// Never shrinks: its high-water mark is the largest K x min(P, kPixelBlock) seen (4.7 MB
// for ResNet-50, 18.9 MB for VGG-16: 2304 x 2048 at its 56 x 56 layers).
float* column_buffer(std::int64_t n) {
  thread_local detail::GrowingBuffer buf;
  return buf.get(n);
}

// Runs body(n, cols_buffer) for every sample: samples in parallel when there are enough
// of them, otherwise one at a time so the GEMMs inside can use the threads.
template <class Body>
void for_samples(const Geom& g, Body&& body) {
  const std::int64_t buf = g.pointwise ? 0 : g.K * std::min(g.P, kPixelBlock);
  if (g.N >= omp_get_max_threads() && g.N > 1) {
#pragma omp parallel
    {
      float* cols = column_buffer(buf);
#pragma omp for schedule(static)
      for (std::int64_t n = 0; n < g.N; ++n) body(n, cols);
    }
  } else {
    float* cols = column_buffer(buf);
    for (std::int64_t n = 0; n < g.N; ++n) body(n, cols);
  }
}

// Runs group(gi, cols_buffer) for every group of one sample: groups in parallel (each
// thread with its own buffer) when there are at least as many groups as threads and the
// samples are not already in parallel (depthwise layers: each group's GEMM is too small
// to split); otherwise in turn, each group's GEMM split by detail::gemm.
template <class Group>
void for_groups(const Geom& g, float* cols, Group&& group) {
  if (g.G >= omp_get_max_threads() && omp_get_max_threads() > 1 && !omp_in_parallel()) {
    const std::int64_t buf = g.pointwise ? 0 : g.K * std::min(g.P, kPixelBlock);
#pragma omp parallel
    {
      // The calling thread's buffer may be `cols` itself: no group uses that one here.
      float* mine = column_buffer(buf);
#pragma omp for schedule(static)
      for (std::int64_t gi = 0; gi < g.G; ++gi) group(gi, mine);
    }
  } else {
    for (std::int64_t gi = 0; gi < g.G; ++gi) group(gi, cols);
  }
}

// RELPROP_CONV_COLUMNS=1 in the environment (read once) keeps im2col for every
// convolution: for timing the two against each other.
bool implicit_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("RELPROP_CONV_COLUMNS");
    return !(v != nullptr && v[0] == '1');
  }();
  return on;
}

// The forward's GEMM packs its column panels straight from x (detail::sgemm_conv) where
// the own kernel runs, the kernel slides along input rows with stride 1 or 2, and the
// product keeps its plain orientation (not a narrow output such as 7 x 7 = 49 pixels,
// which sgemm computes transposed): no column matrix is written and read back. The
// products and their order are those of im2col + sgemm, so the two paths give the same
// bits.
bool implicit_columns(const Geom& g) {
  return !g.pointwise && g.sw <= 2 && g.OG >= 4 && g.P >= 4 && detail::sgemm_conv_available() &&
         !detail::sgemm_transposes(g.OG, g.P) && implicit_enabled();
}

std::atomic<int>& algorithm_setting() {
  static std::atomic<int> a{[] {
    const char* v = std::getenv("RELPROP_CONV_ALGORITHM");
    return v != nullptr && std::strcmp(v, "winograd") == 0 ? static_cast<int>(ConvAlgorithm::Winograd)
                                                            : static_cast<int>(ConvAlgorithm::Direct);
  }()};
  return a;
}

// Winograd F(2x2, 3x3) for a pass reading S channels and writing R channels of an
// OH x OW output (ops/winograd.hpp), where conv_algorithm() asks for it and the output has
// enough tiles of 2 x 2 to pay for transforming the 16 R S kernels: 40 for a forward pass
// (14 x 14 pixels are 49), 100 (20 x 20) for a backward-data one, whose transposed kernels
// cost about twice as much to transform. (Measured on 512 channels: 14 x 14 forward 1.2-1.4x
// faster than direct, backward-data 0.9-1.2x; 7 x 7 either way 0.7-0.8x.)
bool winograd_fits(const Geom& g, std::int64_t S, std::int64_t R, std::int64_t OH, std::int64_t OW, bool transposed) {
  return conv_algorithm() == ConvAlgorithm::Winograd && g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 &&
         g.dh == 1 && g.dw == 1 && g.G == 1 && S >= 8 && R >= 8 &&
         (OH + 1) / 2 * ((OW + 1) / 2) >= (transposed ? 100 : 40) && detail::winograd_available();
}

// Runs f(n) for every sample: in parallel when there are at least as many samples as
// threads (each f then runs on its thread), else in turn.
template <class F>
void each_sample(std::int64_t N, F&& f) {
  if (N >= omp_get_max_threads() && N > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < N; ++n) f(n);
  } else {
    for (std::int64_t n = 0; n < N; ++n) f(n);
  }
}

// z (N, O, HO, WO) = conv(x, w) by Winograd F(2x2, 3x3).
Tensor winograd_forward(const Geom& g, const Tensor& x, const Tensor& w) {
  Tensor z = Tensor::empty({g.N, g.O, g.HO, g.WO});
  const float* U = detail::winograd_kernels(w.data<float>(), g.O, g.C, g.C * 9, 9, false);
  const float* xp = x.data<float>();
  float* zp = z.data<float>();
  each_sample(g.N, [&](std::int64_t n) {
    detail::winograd_conv3x3(xp + n * g.C * g.H * g.W, g.C, g.H, g.W, U, g.O, g.ph, g.pw, g.HO, g.WO,
                             zp + n * g.O * g.P);
  });
  return z;
}

// c (N, C, H, W) = conv^T(s, w) by Winograd: the 3 x 3 convolution of s with the kernels
// flipped and their channels swapped, c(ih, iw) = Σ s(ih − (2 − ph) + a, iw − (2 − pw) + b)
// w(2 − a, 2 − b); s read as 0 outside its HO x WO.
Tensor winograd_transpose(const Geom& g, const Tensor& s, const Tensor& w) {
  Tensor c = Tensor::empty({g.N, g.C, g.H, g.W});
  const float* U = detail::winograd_kernels(w.data<float>(), g.C, g.O, 9, g.C * 9, true);
  const float* sp = s.data<float>();
  float* cp = c.data<float>();
  each_sample(g.N, [&](std::int64_t n) {
    detail::winograd_conv3x3(sp + n * g.O * g.P, g.O, g.HO, g.WO, U, g.C, 2 - g.ph, 2 - g.pw, g.H, g.W,
                             cp + n * g.C * g.H * g.W);
  });
  return c;
}

// z (N, O, HO, WO) = conv(x, w), no bias. The GEMMs go through detail::gemm, which deals
// one product out to the threads when the samples are not already in parallel.
Tensor conv_forward(const Geom& g, const Tensor& x, const Tensor& w) {
  if (winograd_fits(g, g.C, g.O, g.HO, g.WO, false)) return winograd_forward(g, x, w);
  Tensor z = Tensor::empty({g.N, g.O, g.HO, g.WO});
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  float* zp = z.data<float>();
  for_samples(g, [&](std::int64_t n, float* cols_n) {
    const float* xn = xp + n * g.C * g.H * g.W;
    for_groups(g, cols_n, [&](std::int64_t gi, float* cols) {
      const auto wg = detail::ConstMatMap(wp + gi * g.OG * g.K, g.OG, g.K);
      float* zg = zp + (n * g.O + gi * g.OG) * g.P;  // (OG, P)
      if (g.pointwise) {
        detail::gemm(detail::MutMatMap(zg, g.OG, g.P), wg, detail::ConstMatMap(xn + gi * g.CG * g.P, g.K, g.P));
        return;
      }
      if (implicit_columns(g)) {
        const detail::ConvB b{xn + gi * g.CG * g.H * g.W, g.CG, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.WO};
        detail::sgemm_conv(g.OG, g.P, g.K, wp + gi * g.OG * g.K, g.K, 1, b, zg, g.P);
        return;
      }
      for (std::int64_t p0 = 0; p0 < g.P; p0 += kPixelBlock) {
        const std::int64_t PB = std::min(kPixelBlock, g.P - p0);
        im2col(g, xn, gi, p0, PB, cols);
        detail::gemm(StridedMap(zg + p0, g.OG, PB, Eigen::OuterStride<>(g.P)), wg, detail::ConstMatMap(cols, g.K, PB));
      }
    });
  });
  return z;
}

// c (N, C, H, W) = conv^T(s, w): backward-data.
Tensor conv_transpose(const Geom& g, const Tensor& s, const Tensor& w) {
  if (winograd_fits(g, g.O, g.C, g.H, g.W, true)) return winograd_transpose(g, s, w);
  // Pointwise layers write every element; the others accumulate (col2im) into zeros.
  Tensor c = g.pointwise ? Tensor::empty({g.N, g.C, g.H, g.W}) : Tensor::zeros({g.N, g.C, g.H, g.W});
  const float* sp = s.data<float>();
  const float* wp = w.data<float>();
  float* cp = c.data<float>();
  for_samples(g, [&](std::int64_t n, float* cols_n) {
    float* cn = cp + n * g.C * g.H * g.W;
    // Each group writes only its own input channels: groups can run in parallel.
    for_groups(g, cols_n, [&](std::int64_t gi, float* cols) {
      const auto wg = detail::ConstMatMap(wp + gi * g.OG * g.K, g.OG, g.K);
      const float* sg = sp + (n * g.O + gi * g.OG) * g.P;  // (OG, P)
      if (g.pointwise) {
        detail::gemm(detail::MutMatMap(cn + gi * g.CG * g.P, g.K, g.P), wg.transpose(),
                     detail::ConstMatMap(sg, g.OG, g.P));
        return;
      }
      for (std::int64_t p0 = 0; p0 < g.P; p0 += kPixelBlock) {
        const std::int64_t PB = std::min(kPixelBlock, g.P - p0);
        detail::gemm(detail::MutMatMap(cols, g.K, PB), wg.transpose(),
                     ConstStridedMap(sg + p0, g.OG, PB, Eigen::OuterStride<>(g.P)));
        col2im(g, cols, gi, p0, PB, cn);
      }
    });
  });
  return c;
}

detail::LinearMaps conv_maps(const Geom& g) {
  detail::LinearMaps m;
  // The output channels are read from the weight, so stacked weights (2O, C, KH, KW) of
  // an ungrouped convolution work too; the samples from the operand, so the maps serve any
  // slice of the batch.
  auto with_outputs = [](Geom h, const Tensor& w, std::int64_t N) {
    h.O = w.size(0);
    h.OG = h.O / h.G;
    h.N = N;
    return h;
  };
  m.forward = [g, with_outputs](const Tensor& x, const Tensor& w) {
    return conv_forward(with_outputs(g, w, x.size(0)), x, w);
  };
  m.transpose = [g, with_outputs](const Tensor& s, const Tensor& w) {
    return conv_transpose(with_outputs(g, w, s.size(0)), s, w);
  };
  m.channel_dim = 1;
  m.out_dim = 1;
  m.stackable = g.G == 1;
  return m;
}

#if RELPROP_HAVE_CUDA
// The geometry for cuda/conv.hpp. The trailing zeros are those the output length needs
// ((HO - 1) SH + DH (KH - 1) + 1 - H - PH; negative when the last rows of x are never
// read): any padding_end giving the same HO gives the same outputs.
cuda::ConvGeometry gpu_geometry(const Geom& g) {
  cuda::ConvGeometry c;
  c.N = g.N, c.C = g.C, c.H = g.H, c.W = g.W, c.O = g.O, c.KH = g.KH, c.KW = g.KW, c.HO = g.HO, c.WO = g.WO;
  c.G = g.G, c.sh = g.sh, c.sw = g.sw, c.ph = g.ph, c.pw = g.pw, c.dh = g.dh, c.dw = g.dw;
  c.pe_h = (g.HO - 1) * g.sh + g.dh * (g.KH - 1) + 1 - g.H - g.ph;
  c.pe_w = (g.WO - 1) * g.sw + g.dw * (g.KW - 1) + 1 - g.W - g.pw;
  return c;
}
#endif

// The linear maps for the skeleton, on x's device.
detail::LinearMaps maps_for(const Geom& g, [[maybe_unused]] const Tensor& x) {
#if RELPROP_HAVE_CUDA
  if (detail::on_cuda(x)) return cuda::conv_maps(gpu_geometry(g));
#endif
  return conv_maps(g);
}

class ConvNode final : public Node {
 public:
  // Tensors are held in their 4-d form; `in_shape` is the recorded input's own shape.
  ConvNode(OpKind op, Geom g, Shape in_shape, Tensor x, Tensor w, Tensor b, Tensor z)
      : Node(op),
        g_(g),
        in_shape_(std::move(in_shape)),
        x_(std::move(x)),
        w_(std::move(w)),
        b_(std::move(b)),
        z_(std::move(z)) {}

  std::vector<Tensor> relevance(const Rule& rule, const Tensor& R_out, const RelevanceContext& ctx) const override {
    std::vector<Tensor> out(inputs.size());
    if (!ctx.needs(0)) return out;
    const Tensor R = detail::as_f32(R_out, op_name(), "relevance").reshape(z_.shape());
    if (std::holds_alternative<PassRule>(rule)) {
      if (R.shape() != x_.shape()) unsupported(rule, "pass needs equal input and output shapes");
      out[0] = R.reshape(in_shape_);
      return out;
    }
    auto r = detail::linear_type_relevance(rule, maps_for(g_, x_), x_, w_, b_, z_, R, cache_, ctx);
    if (!r) unsupported(rule);
    out[0] = r->reshape(in_shape_);
    return out;
  }

  RelevancePair relevance_contrastive(const Rule& rule, const Tensor& Rp, const Tensor& Rn,
                                      const RelevanceContext& ctx) const override {
    if (!ctx.needs(0)) return Node::relevance_contrastive(rule, Rp, Rn, ctx);
    auto r = detail::linear_type_contrastive(rule, maps_for(g_, x_), x_, w_, b_, z_,
                                             detail::as_f32(Rp, op_name(), "relevance").reshape(z_.shape()),
                                             detail::as_f32(Rn, op_name(), "relevance").reshape(z_.shape()), cache_);
    if (!r) return Node::relevance_contrastive(rule, Rp, Rn, ctx);
    RelevancePair out{std::vector<Tensor>(inputs.size()), std::vector<Tensor>(inputs.size())};
    out.positive[0] = r->first.reshape(in_shape_);
    out.negative[0] = r->second.reshape(in_shape_);
    return out;
  }

  void release() override {
    x_ = w_ = b_ = z_ = Tensor();
    cache_.clear();
  }

 private:
  Geom g_;
  Shape in_shape_;
  Tensor x_, w_, b_, z_;  // x (N, C, H, W), w (O, CG, KH, KW), b (O,), z (N, O, HO, WO)
  mutable detail::WeightCache cache_;
};

// z (N, O, HO, WO) = conv(x, w) + b on the CPU (b may be undefined).
Tensor forward_with_bias(const Geom& g, const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor z = conv_forward(g, x, w);
  if (b.defined()) {
    float* zp = z.data<float>();
    const float* bp = b.data<float>();
    detail::parallel_for2(g.N, g.O, z.numel() > detail::kParallelMin, [&](std::int64_t n, std::int64_t o) {
        float* zo = zp + (n * g.O + o) * g.P;
        for (std::int64_t i = 0; i < g.P; ++i) zo[i] += bp[o];
      });
  }
  return z;
}

// conv2d on 4-d tensors, recorded as `op` (conv1d or conv2d) with x_in's own shape.
Tensor conv_impl(OpKind op, const Tensor& x_in, const Tensor& x4, const Tensor& w_in, const Tensor& w4,
                 const Tensor& b_in, const Conv2dParams& p, std::string_view name) {
  const std::string_view who = op_name(op);
  detail::same_device(who, {{&x4, "input"}, {&w4, "weight"}, {&b_in, "bias"}});
  const Tensor x = detail::as_f32(x4, who, "input");
  const Tensor w = detail::as_f32(w4, who, "weight");
  const Tensor b = b_in.defined() ? detail::as_f32(b_in, who, "bias") : Tensor();
  const Geom g = geometry(x.shape(), w.shape(), p);
#if RELPROP_HAVE_CUDA
  Tensor z = detail::on_cuda(x) ? cuda::conv2d_forward(gpu_geometry(g), x, w, b) : forward_with_bias(g, x, w, b);
#else
  Tensor z = forward_with_bias(g, x, w, b);
#endif
  Tensor y = op == OpKind::Conv1d ? z.reshape({g.N, g.O, g.WO}) : z;
  if (Tape* tape = detail::recording_tape({&x_in, &w_in, &b_in})) {
    auto node = std::make_unique<ConvNode>(op, g, x_in.shape(), x, w, b, z);
    node->inputs = detail::value_ids(*tape, {&x_in, &w_in, &b_in});
    tape->record(std::move(node), y, name);
  }
  return y;
}

Conv2dParams to_2d(const Conv1dParams& p) {
  Conv2dParams q{{1, p.stride}, {0, p.padding}, {1, p.dilation}, p.groups};
  q.padding_end = {0, p.padding_end};
  return q;
}

}  // namespace

void set_conv_algorithm(ConvAlgorithm algorithm) noexcept {
  algorithm_setting().store(static_cast<int>(algorithm), std::memory_order_relaxed);
}
ConvAlgorithm conv_algorithm() noexcept {
  return static_cast<ConvAlgorithm>(algorithm_setting().load(std::memory_order_relaxed));
}

Shape conv2d_shape(const Shape& x, const Shape& w, const Shape* b, const Conv2dParams& p, std::string_view name) {
  const std::string who = "conv2d '" + detail::label(name, "conv2d") + "'";
  if (x.size() != 4) throw ShapeError(who + ": input must be (N, C, H, W), got " + shape_str(x));
  if (w.size() != 4) throw ShapeError(who + ": weight must be (O, C/groups, KH, KW), got " + shape_str(w));
  for (int i = 0; i < 2; ++i) {
    if (p.stride[i] < 1 || p.dilation[i] < 1 || p.padding[i] < 0 || p.padding_end[i] < -1)
      throw ValueError(who + ": stride and dilation must be >= 1 and padding >= 0");
  }
  if (p.groups < 1 || x[1] % p.groups != 0 || w[0] % p.groups != 0)
    throw ShapeError(who + ": groups " + std::to_string(p.groups) + " must divide the input channels (" +
                     std::to_string(x[1]) + ") and the output channels (" + std::to_string(w[0]) + ")");
  if (detail::checked_mul_add(w[1], p.groups, 0, who) != x[1])
    throw ShapeError(who + ": input " + shape_str(x) + " has " + std::to_string(x[1]) + " channels, the weight " +
                     shape_str(w) + " with groups " + std::to_string(p.groups) + " expects " +
                     std::to_string(w[1] * p.groups));
  if (b && (b->size() != 1 || (*b)[0] != w[0]))
    throw ShapeError(who + ": bias must be (" + std::to_string(w[0]) + ",), got " + shape_str(*b));
  Shape y{x[0], w[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    const std::int64_t span = detail::checked_mul_add(p.dilation[i], w[2 + i] - 1, 1, who);
    const std::int64_t avail =
        detail::checked_mul_add(1, detail::checked_mul_add(1, x[2 + i], p.padding[i], who), p.pad_end(i), who);
    if (span > avail)
      throw ShapeError(who + ": kernel " + shape_str(w) + " (dilated extent " + std::to_string(span) +
                       ") is larger than the padded input " + shape_str(x));
    y[2 + i] = (avail - span) / p.stride[i] + 1;
  }
  return y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p, std::string_view name) {
  const Shape bs = bias.defined() ? bias.shape() : Shape{};
  conv2d_shape(x.shape(), weight.shape(), bias.defined() ? &bs : nullptr, p, name);
  return conv_impl(OpKind::Conv2d, x, x, weight, weight, bias, p, name);
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dParams& p, std::string_view name) {
  const std::string who = "conv1d '" + detail::label(name, "conv1d") + "'";
  if (x.dim() != 3) throw ShapeError(who + ": input must be (N, C, L), got " + x.str_shape());
  if (weight.dim() != 3) throw ShapeError(who + ": weight must be (O, C/groups, K), got " + weight.str_shape());
  const Tensor x4 = x.unsqueeze(2), w4 = weight.unsqueeze(2);
  const Shape bs = bias.defined() ? bias.shape() : Shape{};
  try {
    conv2d_shape(x4.shape(), w4.shape(), bias.defined() ? &bs : nullptr, to_2d(p), name);
  } catch (const ShapeError& e) {
    throw ShapeError(who + ": " + e.what());
  }
  return conv_impl(OpKind::Conv1d, x, x4, weight, w4, bias, to_2d(p), name);
}

// ---- graph format ---------------------------------------------------------------------
// Attributes as PyTorch names them: stride, padding (int, pair, "valid" or "same"),
// dilation, groups, padding_mode ("zeros" only).

namespace {

template <class Call>
Conv2dParams params_of(const Call& c, int dims, const Shape& w) {
  const std::string node(c.node);
  if (c.attrs.has("padding_mode")) {
    const auto& v = c.attrs.values().at("padding_mode");
    if (!std::holds_alternative<std::string>(v) || std::get<std::string>(v) != "zeros")
      throw ValueError("node '" + node + "': only padding_mode \"zeros\" is supported");
  }
  Conv2dParams p;
  auto pair = [&](const std::string& key, std::int64_t dflt) -> std::array<std::int64_t, 2> {
    const auto v = c.attrs.get_ints(c.node, key, {dflt});
    if (dims == 1) {
      if (v.size() != 1) throw ValueError("node '" + node + "': attribute '" + key + "' takes one value");
      return {key == "padding" ? 0 : 1, v[0]};
    }
    if (v.size() == 1) return {v[0], v[0]};
    if (v.size() == 2) return {v[0], v[1]};
    throw ValueError("node '" + node + "': attribute '" + key + "' takes one or two values");
  };
  p.stride = pair("stride", 1);
  p.dilation = pair("dilation", 1);
  p.groups = c.attrs.get_int(c.node, "groups", 1);
  const auto pad = c.attrs.values().find("padding");
  if (pad != c.attrs.values().end() && std::holds_alternative<std::string>(pad->second)) {
    const std::string mode = std::get<std::string>(pad->second);
    if (mode == "valid") {
      p.padding = {0, 0};
    } else if (mode == "same") {
      // As PyTorch: stride 1, dilation x (k - 1) zeros in all, the odd one after.
      for (int i = 0; i < 2; ++i) {
        const std::int64_t k = w[w.size() - 2 + i];
        const std::int64_t extent = p.dilation[i] * (k - 1);
        if (p.stride[i] != 1) throw ValueError("node '" + node + "': padding \"same\" needs stride 1");
        p.padding[i] = extent / 2;
        p.padding_end[i] = extent - extent / 2;
      }
      if (dims == 1) p.padding[0] = 0, p.padding_end[0] = 0;
    } else {
      throw ValueError("node '" + node + "': padding must be integers, \"valid\" or \"same\", got \"" + mode + "\"");
    }
  } else {
    p.padding = pair("padding", 0);
  }
  // relprop's own attribute: zeros after (bottom, right) when they differ from `padding`,
  // for TensorFlow-style SAME convolutions exported from Keras / EfficientNet ports.
  if (c.attrs.has("padding_end")) {
    p.padding_end = pair("padding_end", 0);
    if (dims == 1) p.padding_end[0] = 0;
  }
  return p;
}

const std::vector<std::string_view> kConvAttrs = {"stride", "padding", "dilation", "groups", "padding_mode",
                                                  "padding_end"};

Shape conv2d_infer(const OpShapeCall& c) {
  const auto b = c.params.find("bias");
  const Shape& w = c.params.at("weight");
  return conv2d_shape(c.inputs[0], w, b == c.params.end() ? nullptr : &b->second, params_of(c, 2, w), c.node);
}
Tensor conv2d_run(const OpCall& c) {
  const auto b = c.params.find("bias");
  const Tensor& w = c.params.at("weight");
  return conv2d(c.inputs[0], w, b == c.params.end() ? Tensor() : b->second, params_of(c, 2, w.shape()), c.node);
}

Conv1dParams to_1d(const Conv2dParams& p) {
  Conv1dParams q{p.stride[1], p.padding[1], p.dilation[1], p.groups};
  q.padding_end = p.padding_end[1];
  return q;
}

Shape conv1d_infer(const OpShapeCall& c) {
  const auto b = c.params.find("bias");
  const Shape& w = c.params.at("weight");
  const Shape& x = c.inputs[0];
  if (x.size() != 3 || w.size() != 3)
    throw ShapeError("conv1d '" + std::string(c.node) + "': input must be (N, C, L) and weight (O, C/groups, K), got " +
                     shape_str(x) + " and " + shape_str(w));
  const Shape x4{x[0], x[1], 1, x[2]}, w4{w[0], w[1], 1, w[2]};
  const Shape y = conv2d_shape(x4, w4, b == c.params.end() ? nullptr : &b->second, params_of(c, 1, w4), c.node);
  return {y[0], y[1], y[3]};
}
Tensor conv1d_run(const OpCall& c) {
  const auto b = c.params.find("bias");
  const Tensor& w = c.params.at("weight");
  const Shape w4{w.size(0), w.size(1), 1, w.size(2)};
  return conv1d(c.inputs[0], w, b == c.params.end() ? Tensor() : b->second, to_1d(params_of(c, 1, w4)), c.node);
}

}  // namespace

OpSpec op_spec_conv2d() {
  return OpSpec{OpKind::Conv2d, {"weight"}, {"bias"}, kConvAttrs,
                conv2d_infer, conv2d_run};
}
OpSpec op_spec_conv1d() {
  return OpSpec{OpKind::Conv1d, {"weight"}, {"bias"}, kConvAttrs,
                conv1d_infer, conv1d_run};
}

}  // namespace relprop
