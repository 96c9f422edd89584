// GPU twins of ops/attention.cpp (cuda/attention.hpp): batched products through cuBLAS and
// the attention softmax. Letters as there: M, K, N the matmul's row, inner and column
// sizes; B the flattened batch; D the softmax (last) dimension; rows = numel / D. Row
// kernels give one warp to a row (cuda/reduce.cuh: sums in double, in a fixed order).

#include <cmath>
#include <limits>

#include "relprop/cuda/attention.hpp"
#include "relprop/cuda/common.cuh"
#include "relprop/cuda/primitives.hpp"
#include "relprop/cuda/stabilize.hpp"
#include "relprop/cuda/reduce.cuh"

namespace relprop::cuda {

namespace {

using namespace reduce;

int as_int(std::int64_t v, const char* what) {
  if (v > std::numeric_limits<int>::max())
    throw UnsupportedError(std::string("matmul on the GPU: ") + what + " " + std::to_string(v) +
                           " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}

// c (batch, rows, cols) = op(a) · op(b), row-major blocks: op(a) (rows, inner) is a's
// block, or its transpose when `ta` (a stored (inner, rows)); op(b) (inner, cols) is b's
// block, or its transpose when `tb` (b stored (cols, inner)). cuBLAS is column-major: it
// computes cᵀ = op(b)ᵀ · op(a)ᵀ, each row-major block read as its column-major transpose.
void gemm_rm(const float* a, bool ta, const float* b, bool tb, float* c, std::int64_t batch, std::int64_t rows,
             std::int64_t cols, std::int64_t inner) {
  if (batch == 0 || rows == 0 || cols == 0) return;
  if (inner == 0) {  // an empty sum: zeros
    RELPROP_CUDA_CHECK(cudaMemsetAsync(c, 0, static_cast<std::size_t>(batch * rows * cols) * sizeof(float), stream()));
    return;
  }
  const int m = as_int(cols, "size"), n = as_int(rows, "size"), k = as_int(inner, "size");
  const int nb = as_int(batch, "batch count");
  const int lda = ta ? n : k, ldb = tb ? k : m;
  const float one = 1.0f, zero = 0.0f;
  RELPROP_CUDA_CHECK(cublasSgemmStridedBatched(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                               m, n, k, &one, b, ldb, inner * cols, a, lda, rows * inner, &zero, c, m,
                                               rows * cols, nb));
}

// ---- attention softmax kernels ------------------------------------------------------------

struct MaskArgs {
  const std::uint8_t* visible;  // (N, Tk) or nullptr
  std::int64_t rows_per_sample, Tq, Tk;
  bool causal;
};

__device__ __forceinline__ bool masked_at(const MaskArgs& m, std::int64_t row, std::int64_t k) {
  if (m.visible && !m.visible[(row / m.rows_per_sample) * m.Tk + k]) return true;
  return m.causal && k > row % m.Tq + m.Tk - m.Tq;
}

MaskArgs mask_args(const SoftmaxMask& m) {
  return MaskArgs{m.visible.defined() ? m.visible.device_data<std::uint8_t>() : nullptr, m.rows_per_sample, m.Tq,
                  m.Tk, m.causal};
}

// One warp per row. in: scores (rows, Tk); x: f · in (written when `scaled`, else x is
// in); s: softmax (rows, Tk).
__global__ void softmax_forward_kernel(const float* in, float* x, float* s, std::int64_t rows, float f, bool scaled,
                                       MaskArgs m) {
  const int lane = threadIdx.x % 32;
  const std::int64_t Tk = m.Tk;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * kRowWarps;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowWarps + threadIdx.x / 32; row < rows;
       row += step) {
    const float* ir = in + row * Tk;
    float* xr = x + row * Tk;
    float* sr = s + row * Tk;
    float mx = -INFINITY;
    for (std::int64_t k = lane; k < Tk; k += 32) {
      const float v = scaled ? ir[k] * f : ir[k];
      if (scaled) xr[k] = v;
      if (!masked_at(m, row, k)) mx = mx < v ? v : mx;
    }
    mx = warp_max(mx);
    if (mx == -INFINITY) {  // nothing visible (or every score -inf): an all-zero row
      for (std::int64_t k = lane; k < Tk; k += 32) sr[k] = 0.0f;
      continue;
    }
    // Arguments below float's exp range give exactly 0 (a score of -1e9 or finfo.min has
    // probability 0), as on the CPU.
    double sum = 0;
    for (std::int64_t k = lane; k < Tk; k += 32) {
      const float d = (scaled ? xr[k] : ir[k]) - mx;
      float e = d < -87.3f ? 0.0f : expf(d);
      if (masked_at(m, row, k)) e = 0.0f;
      sr[k] = e;
      sum += e;
    }
    sum = warp_sum(sum);
    const float inv = sum == 0 ? 0.0f : static_cast<float>(1.0 / sum);
    for (std::int64_t k = lane; k < Tk; k += 32) sr[k] *= inv;
  }
}

// One warp per row: AttnLRP x (R - s ΣR), gradient s (R - Σ R s); masked entries 0.
__global__ void softmax_relevance_kernel(const float* R, const float* x, const float* s, float* o, std::int64_t rows,
                                         bool grad, float scale, bool any_mask, MaskArgs m) {
  const int lane = threadIdx.x % 32;
  const std::int64_t Tk = m.Tk;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * kRowWarps;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowWarps + threadIdx.x / 32; row < rows;
       row += step) {
    const std::int64_t base = row * Tk;
    double acc = 0;  // over the visible entries: a masked one is a constant 0, not the map's output
    for (std::int64_t k = lane; k < Tk; k += 32)
      if (!any_mask || !masked_at(m, row, k))
        acc += grad ? static_cast<double>(R[base + k]) * s[base + k] : static_cast<double>(R[base + k]);
    acc = warp_sum(acc);
    for (std::int64_t k = lane; k < Tk; k += 32) {
      const std::int64_t i = base + k;
      if (any_mask && masked_at(m, row, k)) {
        o[i] = 0.0f;
        continue;
      }
      o[i] = grad ? static_cast<float>(scale * (s[i] * (R[i] - acc))) : static_cast<float>(x[i] * (R[i] - s[i] * acc));
    }
  }
}

}  // namespace

// ---- matmul -------------------------------------------------------------------------------

Tensor batched_matmul(const Tensor& a, const Tensor& b, std::int64_t B, std::int64_t M, std::int64_t K,
                      std::int64_t N, const Shape& out) {
  Tensor o = empty(out);
  gemm_rm(ptr<float>(a), false, ptr<float>(b), false, ptr<float>(o), B, M, N, K);
  return o;
}

MatmulRelevance matmul_relevance(const Tensor& R, const Tensor& a, const Tensor& b, const Tensor& o, std::int64_t B,
                                 std::int64_t M, std::int64_t K, std::int64_t N, bool want_a, bool want_b,
                                 bool gradient, float f, detail::Stab stab, const Shape& a_shape,
                                 const Shape& b_shape) {
  MatmulRelevance out;
  if (!want_a && !want_b) return out;
  Tensor S = R;
  if (!gradient) S = stabilized_divide(R, f == 1.0f ? o : scale(o, f), R.numel(), stab);
  const float* sp = ptr<float>(S);
  if (want_a) {
    out.a = empty(a_shape);  // S Bᵀ: (M, N) · (K, N)ᵀ per batch
    gemm_rm(sp, false, ptr<float>(b), true, ptr<float>(out.a), B, M, K, N);
    if (!gradient) {
      float* g = ptr<float>(out.a);
      const float* x = ptr<float>(a);
      launch(out.a.numel(), [=] __device__(std::int64_t i) { g[i] *= x[i]; });
    }
  }
  if (want_b) {
    out.b = empty(b_shape);  // Aᵀ S: (M, K)ᵀ · (M, N) per batch
    gemm_rm(ptr<float>(a), true, sp, false, ptr<float>(out.b), B, K, N, M);
    if (!gradient) {
      float* g = ptr<float>(out.b);
      const float* x = ptr<float>(b);
      launch(out.b.numel(), [=] __device__(std::int64_t i) { g[i] *= x[i]; });
    }
  }
  return out;
}

// ---- attention softmax --------------------------------------------------------------------

SoftmaxMask softmax_mask(const Tensor& key_mask, std::int64_t rows_per_sample, bool causal, std::int64_t Tq,
                         std::int64_t Tk) {
  SoftmaxMask m;
  m.rows_per_sample = std::max<std::int64_t>(rows_per_sample, 1);
  m.causal = causal;
  m.Tq = std::max<std::int64_t>(Tq, 1);
  m.Tk = Tk;
  if (key_mask.defined()) {
    const Tensor v = f64_on_gpu(key_mask);
    m.visible = Tensor::empty(key_mask.shape(), DType::U8, Device::CUDA);
    const double* p = ptr<double>(v);
    std::uint8_t* q = m.visible.device_data<std::uint8_t>();
    launch(v.numel(), [=] __device__(std::int64_t i) { q[i] = p[i] != 0.0 ? 1 : 0; });
  }
  return m;
}

SoftmaxForward attention_softmax_forward(const Tensor& scores, double scale, const SoftmaxMask& mask) {
  const bool scaled = scale != 1.0;
  SoftmaxForward r;
  r.x = scaled ? empty(scores.shape()) : scores;
  r.s = empty(scores.shape());
  const std::int64_t Tk = mask.Tk, rows = Tk > 0 ? scores.numel() / Tk : 0;
  if (rows == 0) return r;
  softmax_forward_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(
      ptr<float>(scores), ptr<float>(r.x), ptr<float>(r.s), rows, static_cast<float>(scale), scaled, mask_args(mask));
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return r;
}

Tensor attention_softmax_relevance(const Tensor& R, const Tensor& x, const Tensor& s, const SoftmaxMask& mask,
                                   bool gradient, double scale) {
  Tensor g = empty(R.shape());
  const std::int64_t Tk = mask.Tk, rows = Tk > 0 ? R.numel() / Tk : 0;
  if (rows == 0) return g;
  softmax_relevance_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(
      ptr<float>(R), ptr<float>(x), ptr<float>(s), ptr<float>(g), rows, gradient, static_cast<float>(scale), mask.any(),
      mask_args(mask));
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return g;
}

}  // namespace relprop::cuda
