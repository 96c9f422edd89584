// Convolutions on the GPU (cuda/conv.hpp): cuDNN forward and backward-data, NCHW
// float32, grouped through the descriptor's group count. Descriptors and the algorithm
// are chosen once per shape and kept in a small process-wide cache.
//
// Padding: cuDNN pads both sides equally. Zero padding never changes an output pixel's
// value, only how many there are, so the leading pads go to cuDNN and the trailing ones
// are made up for: when more zeros are wanted after than before, x gets the extra rows
// (columns) explicitly; when cuDNN's output is longer than the op's, it is cropped. The
// backward-data of that is the adjoint: s zero-extended, the extra input rows dropped.
//
// Algorithms: the heuristics' first choice that fits the workspace, skipping the
// transform-based ones (FFT, Winograd). Those round differently from a direct sum, and
// the LRP denominators (R / z with z near 0) amplify every difference in z: the
// GEMM-based algorithms give the CPU's sums (exactly, when the sums are exact in float).
// Backward-data takes deterministic algorithms only (the forward ones all are), so a rerun
// gives the same bits. FP32 FMA math unless cuda::tf32().

#include <array>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/conv.hpp"
#include "relprop/cuda/linear.hpp"  // tf32(): TF32 tensor-core math for the linear-type ops

namespace relprop::cuda {

namespace {

// The most workspace one algorithm may take.
constexpr std::size_t kWorkspaceLimit = std::size_t{256} << 20;
// Shapes kept at once; past this the cache starts again (plans in use stay alive).
constexpr std::size_t kMaxPlans = 512;

enum class Pass : std::int64_t { Forward = 0, BackwardData = 1 };

// Descriptors of one convolution as cuDNN sees it: input (N, C, HE, WE) (x with the extra
// trailing zeros), filter (O, CG, KH, KW), output (N, O, HF, WF) (before cropping).
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;  // cudnnConvolutionFwdAlgo_t or cudnnConvolutionBwdDataAlgo_t
  std::size_t workspace = 0;
  std::int64_t HE = 0, WE = 0, HF = 0, WF = 0;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    // Destroying a descriptor only frees host memory; failures are ignored here.
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

using Key = std::array<std::int64_t, 18>;

struct PlanCache {
  std::mutex mutex;
  std::map<Key, std::shared_ptr<const Plan>> plans;
};

PlanCache& plan_cache() {
  static PlanCache* c = new PlanCache();  // outlives every static tensor
  return *c;
}

int as_int(std::int64_t v) { return static_cast<int>(v); }

void require_int_range(std::int64_t numel, const char* what) {
  if (numel > INT_MAX)
    throw UnsupportedError(std::string("conv on the GPU: the ") + what + " has " + std::to_string(numel) +
                           " elements, more than cuDNN's 4-d descriptors address (2^31 - 1)");
}

bool transform_based(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool transform_based(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}

// The first of the heuristics' results (best first) that succeeded, is not transform-based,
// uses FP32 math unless TF32 is allowed, fits the workspace and, when `deterministic`, is
// deterministic; the second pass drops the transform exclusion, never determinism (none
// found: the caller's deterministic fallback, so that reruns give the same bits).
// `size(algo, math, bytes)` asks cuDNN for the workspace (false: not supported).
template <class Perf, class Size>
bool choose(const std::vector<Perf>& perf, int got, bool allow_tf32, bool deterministic, Size size, Plan& plan,
            cudnnMathType_t& math) {
  for (int pass = 0; pass < 2; ++pass) {
    const bool exact = pass == 0;
    for (int i = 0; i < got; ++i) {
      const Perf& p = perf[static_cast<std::size_t>(i)];
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      if (exact && transform_based(p.algo)) continue;
      if (!allow_tf32 && (p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;
      const cudnnMathType_t m = allow_tf32 ? p.mathType : CUDNN_FMA_MATH;
      std::size_t bytes = 0;
      if (!size(p.algo, m, bytes) || bytes > kWorkspaceLimit) continue;
      plan.algo = static_cast<int>(p.algo);
      plan.workspace = bytes;
      math = m;
      return true;
    }
  }
  return false;
}

// The plan for geometry g with O output channels (w.size(0)) in `pass`.
std::shared_ptr<const Plan> plan_for(const ConvGeometry& g, std::int64_t O, Pass pass) {
  const bool allow_tf32 = tf32();
  const Key key{static_cast<std::int64_t>(pass), allow_tf32 ? 1 : 0, g.N, g.C, g.H, g.W, O, g.KH, g.KW, g.G,
                g.sh, g.sw, g.ph, g.pw, g.pe_h, g.pe_w, g.dh, g.dw};
  PlanCache& cache = plan_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    const auto it = cache.plans.find(key);
    if (it != cache.plans.end()) return it->second;
  }

  auto plan = std::make_shared<Plan>();
  Plan& p = *plan;
  p.HE = g.H + std::max<std::int64_t>(0, g.pe_h - g.ph);
  p.WE = g.W + std::max<std::int64_t>(0, g.pe_w - g.pw);
  p.HF = (p.HE + 2 * g.ph - g.dh * (g.KH - 1) - 1) / g.sh + 1;
  p.WF = (p.WE + 2 * g.pw - g.dw * (g.KW - 1) - 1) / g.sw + 1;
  require_int_range(g.N * g.C * p.HE * p.WE, "input");
  require_int_range(g.N * O * p.HF * p.WF, "output");
  require_int_range(O * (g.C / g.G) * g.KH * g.KW, "weight");

  RELPROP_CUDA_CHECK(cudnnCreateTensorDescriptor(&p.x));
  RELPROP_CUDA_CHECK(cudnnCreateTensorDescriptor(&p.y));
  RELPROP_CUDA_CHECK(cudnnCreateFilterDescriptor(&p.w));
  RELPROP_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  RELPROP_CUDA_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(g.N), as_int(g.C),
                                                as_int(p.HE), as_int(p.WE)));
  RELPROP_CUDA_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, as_int(O),
                                                as_int(g.C / g.G), as_int(g.KH), as_int(g.KW)));
  RELPROP_CUDA_CHECK(cudnnSetConvolution2dDescriptor(p.conv, as_int(g.ph), as_int(g.pw), as_int(g.sh), as_int(g.sw),
                                                     as_int(g.dh), as_int(g.dw), CUDNN_CROSS_CORRELATION,
                                                     CUDNN_DATA_FLOAT));
  RELPROP_CUDA_CHECK(cudnnSetConvolutionGroupCount(p.conv, as_int(g.G)));
  RELPROP_CUDA_CHECK(
      cudnnSetConvolutionMathType(p.conv, allow_tf32 ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : CUDNN_FMA_MATH));
  int dims[4] = {0, 0, 0, 0};
  RELPROP_CUDA_CHECK(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &dims[0], &dims[1], &dims[2], &dims[3]));
  RELPROP_ASSERT(dims[0] == g.N && dims[1] == O && dims[2] == p.HF && dims[3] == p.WF,
                 "cuDNN's convolution output shape differs from the op's");
  RELPROP_CUDA_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(g.N), as_int(O),
                                                as_int(p.HF), as_int(p.WF)));

  cudnnHandle_t h = cudnn();
  cudnnMathType_t math = CUDNN_FMA_MATH;
  bool found = false;
  if (pass == Pass::Forward) {
    int count = 0, got = 0;
    RELPROP_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<std::size_t>(std::max(count, 1)));
    RELPROP_CUDA_CHECK(
        cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, std::max(count, 1), &got, perf.data()));
    auto size = [&](cudnnConvolutionFwdAlgo_t a, cudnnMathType_t m, std::size_t& bytes) {
      if (cudnnSetConvolutionMathType(p.conv, m) != CUDNN_STATUS_SUCCESS) return false;
      return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, a, &bytes) == CUDNN_STATUS_SUCCESS;
    };
    found = choose(perf, got, allow_tf32, false, size, p, math);
    if (!found) {
      // Implicit GEMM runs every convolution without a workspace.
      p.algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
      RELPROP_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, math));
      RELPROP_CUDA_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y,
                                                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                                                 &p.workspace));
    }
  } else {
    int count = 0, got = 0;
    RELPROP_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<std::size_t>(std::max(count, 1)));
    RELPROP_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, std::max(count, 1), &got,
                                                                   perf.data()));
    auto size = [&](cudnnConvolutionBwdDataAlgo_t a, cudnnMathType_t m, std::size_t& bytes) {
      if (cudnnSetConvolutionMathType(p.conv, m) != CUDNN_STATUS_SUCCESS) return false;
      return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, a, &bytes) ==
             CUDNN_STATUS_SUCCESS;
    };
    found = choose(perf, got, allow_tf32, true, size, p, math);
    if (!found) {
      // ALGO_1 is deterministic and supports every geometry.
      p.algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
      RELPROP_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, math));
      RELPROP_CUDA_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x,
                                                                      CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                                                                      &p.workspace));
    }
  }
  // The workspace queries above left the descriptor on the last candidate's math type.
  RELPROP_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, math));

  std::lock_guard<std::mutex> lock(cache.mutex);
  if (cache.plans.size() >= kMaxPlans) cache.plans.clear();
  return cache.plans.emplace(key, std::move(plan)).first->second;
}

// Workspace for a plan, from the caching allocator (undefined when none is needed).
Tensor workspace(const Plan& p) {
  if (p.workspace == 0) return Tensor();
  return empty({static_cast<std::int64_t>((p.workspace + sizeof(float) - 1) / sizeof(float))});
}

void* workspace_ptr(const Tensor& ws) { return ws.defined() ? static_cast<void*>(ptr<float>(ws)) : nullptr; }

// z (N, O, HO, WO) += b broadcast along the channels (the CPU's order: conv, then + b).
void add_bias(const Tensor& z, const Tensor& b, std::int64_t O, std::int64_t P) {
  float* zp = ptr<float>(z);
  const float* bp = ptr<float>(b);
  launch(z.numel(), [=] __device__(std::int64_t i) { zp[i] += bp[(i / P) % O]; });
}

void check_operand(const Tensor& t, const Shape& want, const char* what) {
  if (!t.defined() || t.device() != Device::CUDA || t.dtype() != DType::F32)
    throw ValueError(std::string("conv on the GPU: the ") + what + " must be a float32 tensor on the GPU");
  if (t.shape() != want)
    throw ShapeError(std::string("conv on the GPU: the ") + what + " has shape " + t.str_shape() + ", expected " +
                     shape_str(want));
}

}  // namespace

Tensor conv2d_forward(const ConvGeometry& g, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const std::int64_t O = w.size(0);
  RELPROP_ASSERT(O % g.G == 0, "cuda conv: stacked weight rows must divide into the groups");
  check_operand(x, {g.N, g.C, g.H, g.W}, "input");
  check_operand(w, {O, g.C / g.G, g.KH, g.KW}, "weight");
  const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
  if (b.defined()) check_operand(b, {O}, "bias");
  const Shape zs{g.N, O, g.HO, g.WO};
  if (g.N == 0 || O == 0 || g.HO == 0 || g.WO == 0) return empty(zs);
  if (g.C == 0 || g.H == 0 || g.W == 0) {  // no input elements (only padding): every output is its bias
    Tensor z = zeros(zs);
    if (b.defined()) add_bias(z, b, O, g.HO * g.WO);
    return z;
  }
  const auto plan = plan_for(g, O, Pass::Forward);
  const Plan& p = *plan;
  Tensor xe = x;
  if (p.HE != g.H || p.WE != g.W) {  // more zeros after than before: add the difference
    xe = zeros({g.N, g.C, p.HE, p.WE});
    xe.slice(2, 0, g.H).slice(3, 0, g.W).copy_from(x);
  }
  Tensor zf = empty({g.N, O, p.HF, p.WF});
  const Tensor ws = workspace(p);
  const float one = 1.0f, zero = 0.0f;
  RELPROP_CUDA_CHECK(cudnnConvolutionForward(cudnn(), &one, p.x, ptr<float>(xe), p.w, ptr<float>(w), p.conv,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), workspace_ptr(ws),
                                             p.workspace, &zero, p.y, ptr<float>(zf)));
  // Fewer zeros after than before: cuDNN's extra trailing outputs are dropped.
  Tensor z = (p.HF != g.HO || p.WF != g.WO) ? zf.slice(2, 0, g.HO).slice(3, 0, g.WO).contiguous() : zf;
  if (b.defined()) add_bias(z, b, O, g.HO * g.WO);
  return z;
}

Tensor conv2d_backward_data(const ConvGeometry& g, const Tensor& s_in, const Tensor& w_in) {
  const Tensor s = s_in.contiguous(), w = w_in.contiguous();
  const std::int64_t O = w.size(0);
  RELPROP_ASSERT(O % g.G == 0, "cuda conv: stacked weight rows must divide into the groups");
  check_operand(s, {g.N, O, g.HO, g.WO}, "output map");
  check_operand(w, {O, g.C / g.G, g.KH, g.KW}, "weight");
  const Shape xs{g.N, g.C, g.H, g.W};
  if (g.N == 0 || g.C == 0 || g.H == 0 || g.W == 0) return empty(xs);
  if (O == 0 || g.HO == 0 || g.WO == 0) return zeros(xs);
  const auto plan = plan_for(g, O, Pass::BackwardData);
  const Plan& p = *plan;
  Tensor sf = s;
  if (p.HF != g.HO || p.WF != g.WO) {  // the adjoint of the crop: zeros for the dropped outputs
    sf = zeros({g.N, O, p.HF, p.WF});
    sf.slice(2, 0, g.HO).slice(3, 0, g.WO).copy_from(s);
  }
  // cuDNN's x descriptor has x's exact extent, so the rows a stride leaves unread (the
  // transposed convolution's output padding) come back as zeros.
  Tensor cx = empty({g.N, g.C, p.HE, p.WE});
  const Tensor ws = workspace(p);
  const float one = 1.0f, zero = 0.0f;
  RELPROP_CUDA_CHECK(cudnnConvolutionBackwardData(cudnn(), &one, p.w, ptr<float>(w), p.y, ptr<float>(sf), p.conv,
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo),
                                                  workspace_ptr(ws), p.workspace, &zero, p.x, ptr<float>(cx)));
  // The adjoint of the explicit trailing zeros: their entries are dropped.
  return (p.HE != g.H || p.WE != g.W) ? cx.slice(2, 0, g.H).slice(3, 0, g.W).contiguous() : cx;
}

detail::LinearMaps conv_maps(const ConvGeometry& g) {
  detail::LinearMaps m;
  // The output channels are read from the weight, so stacked weights (2O, CG, KH, KW) of
  // an ungrouped convolution give stacked outputs (N, 2O, HO, WO), as on the CPU.
  m.forward = [g](const Tensor& x, const Tensor& w) { return conv2d_forward(g, x, w); };
  m.transpose = [g](const Tensor& s, const Tensor& w) { return conv2d_backward_data(g, s, w); };
  m.channel_dim = 1;
  m.out_dim = 1;
  m.stackable = g.G == 1;
  return m;
}

}  // namespace relprop::cuda
