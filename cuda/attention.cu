// GPU twins of ops/attention.cpp (cuda/attention.hpp). Letters as there: M, K, N the
// matmul's row, inner and column sizes; B the flattened batch; D the normalised (last)
// dimension; rows = numel / D; N, H, T, d the rotary embedding's batch, heads, tokens and
// head size (h = d / 2). Row kernels (softmax, sums) give one warp to a row, the norms one
// block; every sum is in double, in a fixed order (per-thread strides, then a butterfly
// over the warp, then the warps in order), so results do not vary from run to run.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <limits>

#include "relprop/cuda/attention.hpp"
#include "relprop/cuda/common.cuh"
#include "relprop/cuda/primitives.hpp"

namespace relprop::cuda {

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kRowThreads = 256;  // threads of a row kernel's block: 8 warps, 8 rows
constexpr int kRowWarps = kRowThreads / 32;
constexpr int kNormThreads = 256;  // one block per normalised row

// Blocks for `rows` rows of one warp each, capped (the kernels loop over rows).
unsigned row_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>((rows + kRowWarps - 1) / kRowWarps, 1 << 20)));
}
unsigned norm_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(rows, 1 << 20)));
}

// Sum over the warp: a butterfly, so every lane ends with the same value.
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Maximum over the warp as std::max(a, b) takes it; lane 0's result is broadcast so the
// lanes agree even with NaN.
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(kFull, v, o);
    v = v < u ? u : v;
  }
  return __shfl_sync(kFull, v, 0);
}

// Sum over a block of kNormThreads threads; every thread gets the same value. `shm`:
// kNormThreads / 32 doubles, reused by consecutive calls.
__device__ __forceinline__ double block_sum(double v, double* shm) {
  v = warp_sum(v);
  __syncthreads();  // the previous call's readers are done with shm
  if (threadIdx.x % 32 == 0) shm[threadIdx.x / 32] = v;
  __syncthreads();
  double t = 0;
  for (int w = 0; w < kNormThreads / 32; ++w) t += shm[w];
  return t;
}

template <class T>
__device__ __forceinline__ double load_f64(const T* p, std::int64_t i) {
  return static_cast<double>(p[i]);
}
template <>
__device__ __forceinline__ double load_f64(const __half* p, std::int64_t i) {
  return static_cast<double>(__half2float(p[i]));
}
template <>
__device__ __forceinline__ double load_f64(const __nv_bfloat16* p, std::int64_t i) {
  return static_cast<double>(__bfloat162float(p[i]));
}

template <class T>
__global__ void to_f64_kernel(const T* src, double* dst, std::int64_t n) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    dst[i] = load_f64(src, i);
}

template <class T>
void to_f64(const Tensor& src, const Tensor& dst) {
  const std::int64_t n = src.numel();
  to_f64_kernel<<<blocks_for(n), 256, 0, stream()>>>(static_cast<const T*>(src.raw_data()), ptr<double>(dst), n);
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

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
                                         bool grad, bool any_mask, MaskArgs m) {
  const int lane = threadIdx.x % 32;
  const std::int64_t Tk = m.Tk;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * kRowWarps;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowWarps + threadIdx.x / 32; row < rows;
       row += step) {
    const std::int64_t base = row * Tk;
    double acc = 0;
    for (std::int64_t k = lane; k < Tk; k += 32)
      acc += grad ? static_cast<double>(R[base + k]) * s[base + k] : static_cast<double>(R[base + k]);
    acc = warp_sum(acc);
    for (std::int64_t k = lane; k < Tk; k += 32) {
      const std::int64_t i = base + k;
      if (any_mask && masked_at(m, row, k)) {
        o[i] = 0.0f;
        continue;
      }
      o[i] = grad ? static_cast<float>(s[i] * (R[i] - acc)) : static_cast<float>(x[i] * (R[i] - s[i] * acc));
    }
  }
}

// ---- norm kernels -------------------------------------------------------------------------

// One block per row. x, y: (rows, D); w, b: (D,) or nullptr; inv: (rows,).
__global__ void norm_forward_kernel(const float* x, const float* w, const float* b, float* y, float* inv,
                                    std::int64_t rows, std::int64_t D, double eps, bool rms) {
  __shared__ double shm[kNormThreads / 32];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * D;
    double mean = 0;
    if (!rms) {
      double a = 0;
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) a += xr[d];
      mean = block_sum(a, shm) / static_cast<double>(D);
    }
    double v = 0;
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) v += (xr[d] - mean) * (xr[d] - mean);
    const double var = block_sum(v, shm) / static_cast<double>(D);
    const double iv = 1.0 / sqrt(var + eps);
    if (threadIdx.x == 0) inv[row] = static_cast<float>(iv);
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads)
      y[row * D + d] = static_cast<float>((xr[d] - mean) * iv * (w ? w[d] : 1.0f) + (b ? b[d] : 0.0f));
  }
}

// One block per row. Epsilon (`grad` false): q = R / stab(y), R_x = x ⊙ (q' - mean(q'))
// with q' = q γ inv. Gradient: g' = γ R; layer norm dx = inv (g' - mean(g') - x̂
// mean(g' x̂)) with x̂ = (x - mean) inv; RMS norm dx = inv (g' - x̂ mean(g' x̂)), x̂ = x inv.
__global__ void norm_relevance_kernel(const float* R, const float* q, const float* x, const float* inv, const float* w,
                                      float* o, std::int64_t rows, std::int64_t D, bool rms, bool grad) {
  __shared__ double shm[kNormThreads / 32];
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t base = row * D;
    const double iv = inv[row];
    if (!grad) {
      double a = 0;
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads)
        a += static_cast<double>(q[base + d]) * (w ? w[d] : 1.0f) * iv;
      const double mq = block_sum(a, shm) / static_cast<double>(D);
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) {
        const double qd = static_cast<double>(q[base + d]) * (w ? w[d] : 1.0f) * iv;
        o[base + d] = static_cast<float>(x[base + d] * (qd - mq));
      }
      continue;
    }
    double mean_x = 0;
    if (!rms) {
      double a = 0;
      for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) a += x[base + d];
      mean_x = block_sum(a, shm) / static_cast<double>(D);
    }
    double sg = 0, sgx = 0;
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) {
      const double gp = static_cast<double>(R[base + d]) * (w ? w[d] : 1.0f);
      const double xh = (x[base + d] - mean_x) * iv;
      sg += gp;
      sgx += gp * xh;
    }
    const double mg = block_sum(sg, shm) / static_cast<double>(D);
    const double mgx = block_sum(sgx, shm) / static_cast<double>(D);
    for (std::int64_t d = threadIdx.x; d < D; d += kNormThreads) {
      const double gp = static_cast<double>(R[base + d]) * (w ? w[d] : 1.0f);
      const double xh = (x[base + d] - mean_x) * iv;
      o[base + d] = static_cast<float>(iv * (gp - (rms ? 0.0 : mg) - xh * mgx));
    }
  }
}

// One warp per row: out[row] = Σ_d R[row, d] in double.
__global__ void sum_last_kernel(const float* R, float* out, std::int64_t rows, std::int64_t D) {
  const int lane = threadIdx.x % 32;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * kRowWarps;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kRowWarps + threadIdx.x / 32; row < rows;
       row += step) {
    double acc = 0;
    for (std::int64_t d = lane; d < D; d += 32) acc += R[row * D + d];
    acc = warp_sum(acc);
    if (lane == 0) out[row] = static_cast<float>(acc);
  }
}

__device__ __forceinline__ bool bad_id(double id, std::int64_t V) {
  return !(id >= 0 && id < static_cast<double>(V)) || id != floor(id);
}

// Rotary inverse frequencies, passed by value (d / 2 of them).
constexpr int kMaxRotaryHalf = 512;
struct InvFreq {
  float v[kMaxRotaryHalf];
};

}  // namespace

// ---- shared -------------------------------------------------------------------------------

Tensor f64_on_gpu(const Tensor& t) {
  if (t.device() != Device::CUDA) return t.to(DType::F64).contiguous().to(Device::CUDA);
  const Tensor c = t.contiguous();
  if (c.dtype() == DType::F64) return c;
  Tensor out = Tensor::empty(c.shape(), DType::F64, Device::CUDA);
  if (c.numel() == 0) return out;
  // Every dtype here (the device conversion of tensor/ does not read U8 / BOOL).
  switch (c.dtype()) {
    case DType::F32: to_f64<float>(c, out); break;
    case DType::F64: break;
    case DType::F16: to_f64<__half>(c, out); break;
    case DType::BF16: to_f64<__nv_bfloat16>(c, out); break;
    case DType::I32: to_f64<std::int32_t>(c, out); break;
    case DType::I64: to_f64<std::int64_t>(c, out); break;
    case DType::U8: to_f64<std::uint8_t>(c, out); break;
    case DType::BOOL: to_f64<bool>(c, out); break;
  }
  return out;
}

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
                                   bool gradient) {
  Tensor g = empty(R.shape());
  const std::int64_t Tk = mask.Tk, rows = Tk > 0 ? R.numel() / Tk : 0;
  if (rows == 0) return g;
  softmax_relevance_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(
      ptr<float>(R), ptr<float>(x), ptr<float>(s), ptr<float>(g), rows, gradient, mask.any(), mask_args(mask));
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return g;
}

// ---- layer norm / RMS norm ----------------------------------------------------------------

NormForward norm_forward(bool rms, const Tensor& x, const Tensor& w, const Tensor& b, double eps, std::int64_t D) {
  const std::int64_t rows = D > 0 ? x.numel() / D : 0;
  NormForward r{empty(x.shape()), empty({std::max<std::int64_t>(rows, 1)})};
  if (rows == 0) return r;
  norm_forward_kernel<<<norm_blocks(rows), kNormThreads, 0, stream()>>>(
      ptr<float>(x), w.defined() ? ptr<float>(w) : nullptr, b.defined() ? ptr<float>(b) : nullptr, ptr<float>(r.y),
      ptr<float>(r.inv), rows, D, eps, rms);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return r;
}

Tensor norm_relevance(bool rms, bool gradient, detail::Stab stab, const Tensor& R, const Tensor& x,
                      const Tensor& inv, const Tensor& w, const Tensor& y, std::int64_t D) {
  const std::int64_t n = R.numel(), rows = D > 0 ? n / D : 0;
  Tensor g = empty(R.shape());
  if (rows == 0) return g;
  // q = R / stab(y): the ε-rule at the output (the scale is applied in the kernel).
  const Tensor q = gradient ? Tensor() : stabilized_divide(R, y, n, stab);
  norm_relevance_kernel<<<norm_blocks(rows), kNormThreads, 0, stream()>>>(
      ptr<float>(R), gradient ? nullptr : ptr<float>(q), ptr<float>(x), ptr<float>(inv),
      w.defined() ? ptr<float>(w) : nullptr, ptr<float>(g), rows, D, rms, gradient);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return g;
}

// ---- embedding ----------------------------------------------------------------------------

Tensor embedding_forward(const Tensor& ids64, const Tensor& w, const Shape& out, const std::string& who) {
  const std::int64_t V = w.size(0), D = w.size(1), n = ids64.numel();
  Tensor y = empty(out);
  const double* id = ptr<double>(ids64);
  // While a CUDA Graph is being captured nothing can be read back: the check is skipped
  // and a bad id gives a zero row (GraphExplainer's eager first call has checked the shape's
  // ids; later replays are not checked).
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  RELPROP_CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
  if (n > 0 && capturing == cudaStreamCaptureStatusNone) {
    // The first bad position (atomicMin: the same answer whatever the order), n if none.
    const Tensor first = Tensor::full({1}, static_cast<double>(n), DType::I64, Device::CUDA);
    auto* fp = reinterpret_cast<unsigned long long*>(first.device_data<std::int64_t>());
    launch(n, [=] __device__(std::int64_t i) {
      if (bad_id(id[i], V)) atomicMin(fp, static_cast<unsigned long long>(i));
    });
    const auto pos = static_cast<std::int64_t>(first.to(Device::CPU).get_flat(0));
    if (pos < n) {
      const double bad = ids64.reshape({n}).slice(0, pos, pos + 1).to(Device::CPU).get_flat(0);
      throw IndexError(who + ": id " + std::to_string(static_cast<long long>(bad)) + " at position " +
                       std::to_string(pos) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
    }
  }
  if (y.numel() == 0) return y;
  const float* wp = ptr<float>(w);
  float* yp = ptr<float>(y);
  launch(n * D, [=] __device__(std::int64_t i) {
    const std::int64_t r = i / D, c = i % D;
    const double v = id[r];
    yp[i] = bad_id(v, V) ? 0.0f : wp[static_cast<std::int64_t>(v) * D + c];  // (bad ids have thrown)
  });
  return y;
}

Tensor sum_last(const Tensor& R, const Shape& out) {
  Tensor r = zeros(out);
  const std::int64_t rows = r.numel(), D = rows > 0 ? R.numel() / rows : 0;
  if (rows == 0 || D == 0) return r;
  sum_last_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(ptr<float>(R), ptr<float>(r), rows, D);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return r;
}

// ---- rotary position embedding ------------------------------------------------------------

RotaryTables rotary_tables(const Tensor& position_ids, double theta, std::int64_t N, std::int64_t T,
                           std::int64_t d) {
  const std::int64_t h = d / 2;
  if (h > kMaxRotaryHalf)
    throw UnsupportedError("rotary_embedding on the GPU: head size " + std::to_string(d) + " above " +
                           std::to_string(2 * kMaxRotaryHalf));
  // As Hugging Face computes it (and the CPU code, on the host here, bit for bit):
  // inv_freq in float32, angle = position x inv_freq in float32.
  InvFreq inv{};
  for (std::int64_t j = 0; j < h; ++j)
    inv.v[j] = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * j) / static_cast<float>(d));
  RotaryTables t{empty({N, T, h}), empty({N, T, h})};
  if (N * T * h == 0) return t;
  const Tensor pos = f64_on_gpu(position_ids);
  const double* p = ptr<double>(pos);
  float* c = ptr<float>(t.cos);
  float* s = ptr<float>(t.sin);
  launch(N * T * h, [=] __device__(std::int64_t i) {
    const float angle = static_cast<float>(p[i / h]) * inv.v[i % h];
    c[i] = cosf(angle);
    s[i] = sinf(angle);
  });
  return t;
}

Tensor rotary_forward(const Tensor& x, const RotaryTables& t, std::int64_t H, std::int64_t T, std::int64_t d) {
  Tensor y = empty(x.shape());
  const std::int64_t h = d / 2, pairs = x.numel() / 2;
  if (pairs == 0) return y;
  const float* xp = ptr<float>(x);
  const float* cp = ptr<float>(t.cos);
  const float* sp = ptr<float>(t.sin);
  float* yp = ptr<float>(y);
  launch(pairs, [=] __device__(std::int64_t i) {
    const std::int64_t r = i / h, j = i % h, b = r / (H * T), tt = r % T;
    const std::int64_t ci = (b * T + tt) * h + j, base = r * d;
    const float c = cp[ci], s = sp[ci], x1 = xp[base + j], x2 = xp[base + j + h];
    yp[base + j] = x1 * c - x2 * s;
    yp[base + j + h] = x2 * c + x1 * s;
  });
  return y;
}

Tensor rotary_relevance(const Tensor& S, const Tensor& x, const RotaryTables& t, bool gradient, std::int64_t H,
                        std::int64_t T, std::int64_t d) {
  Tensor g = empty(S.shape());
  const std::int64_t h = d / 2, pairs = S.numel() / 2;
  if (pairs == 0) return g;
  const float* gp = ptr<float>(S);
  const float* xp = ptr<float>(x);
  const float* cp = ptr<float>(t.cos);
  const float* sp = ptr<float>(t.sin);
  float* o = ptr<float>(g);
  // Transposed map: dx_j = c_j g_j + s_j g_{j+h}, dx_{j+h} = -s_j g_j + c_j g_{j+h}; the
  // ε-rule multiplies by x.
  launch(pairs, [=] __device__(std::int64_t i) {
    const std::int64_t r = i / h, j = i % h, b = r / (H * T), tt = r % T;
    const std::int64_t ci = (b * T + tt) * h + j, base = r * d;
    const float c = cp[ci], s = sp[ci], g1 = gp[base + j], g2 = gp[base + j + h];
    const float a = c * g1 + s * g2, bb = -s * g1 + c * g2;
    o[base + j] = gradient ? a : xp[base + j] * a;
    o[base + j + h] = gradient ? bb : xp[base + j + h] * bb;
  });
  return g;
}

// ---- prepend_token / masked_mean ----------------------------------------------------------

Tensor prepend_token(const Tensor& x, const Tensor& token, std::int64_t N, std::int64_t T, std::int64_t D) {
  Tensor y = empty({N, T + 1, D});
  if (y.numel() == 0) return y;
  const float* xp = ptr<float>(x);
  const float* tp = ptr<float>(token);
  float* yp = ptr<float>(y);
  launch(y.numel(), [=] __device__(std::int64_t i) {
    const std::int64_t b = i / ((T + 1) * D), p = (i / D) % (T + 1), c = i % D;
    yp[i] = p == 0 ? tp[c] : xp[(b * T + p - 1) * D + c];
  });
  return y;
}

Tensor masked_mean_weights(const Tensor& mask, std::int64_t N, std::int64_t T) {
  Tensor w = empty({N, T});
  if (N * T == 0) return w;
  const Tensor m = mask.defined() ? f64_on_gpu(mask) : Tensor();
  const double* mp = mask.defined() ? ptr<double>(m) : nullptr;
  float* wp = ptr<float>(w);
  // One thread per sample: mask_t / Σ mask, the count in double as on the CPU.
  launch(N, [=] __device__(std::int64_t b) {
    double c = 0;
    for (std::int64_t t = 0; t < T; ++t) c += !mp || mp[b * T + t] != 0 ? 1.0f : 0.0f;
    for (std::int64_t t = 0; t < T; ++t) {
      const float v = !mp || mp[b * T + t] != 0 ? 1.0f : 0.0f;
      wp[b * T + t] = c > 0 ? static_cast<float>(v / c) : 0.0f;
    }
  });
  return w;
}

Tensor masked_mean_forward(const Tensor& x, const Tensor& w, std::int64_t N, std::int64_t T, std::int64_t inner,
                           const Shape& out) {
  Tensor y = zeros(out);
  if (N * inner == 0) return y;
  const float* xp = ptr<float>(x);
  const float* wp = ptr<float>(w);
  float* yp = ptr<float>(y);
  launch(N * inner, [=] __device__(std::int64_t i) {
    const std::int64_t b = i / inner, j = i % inner;
    double acc = 0;
    for (std::int64_t t = 0; t < T; ++t) acc += static_cast<double>(wp[b * T + t]) * xp[(b * T + t) * inner + j];
    yp[i] = static_cast<float>(acc);
  });
  return y;
}

Tensor masked_mean_relevance(const Tensor& S, const Tensor& x, const Tensor& w, MeanMode mode, std::int64_t N,
                             std::int64_t T, std::int64_t inner) {
  Tensor g = empty(x.shape());
  if (N * inner == 0 || T == 0) return g;
  const float* sp = ptr<float>(S);
  const float* xp = ptr<float>(x);
  const float* wp = ptr<float>(w);
  float* o = ptr<float>(g);
  const int md = static_cast<int>(mode);
  constexpr int kGrad = static_cast<int>(MeanMode::Gradient), kEps = static_cast<int>(MeanMode::Epsilon);
  launch(N * inner, [=] __device__(std::int64_t i) {
    const std::int64_t b = i / inner, j = i % inner;
    double total = 0;  // absolute: Σ_t w_t |x_t| (each product in float, as on the CPU)
    if (md != kGrad && md != kEps)
      for (std::int64_t t = 0; t < T; ++t) total += wp[b * T + t] * fabsf(xp[(b * T + t) * inner + j]);
    const double r = sp[i];
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t k = (b * T + t) * inner + j;
      const double wt = wp[b * T + t];
      o[k] = md == kGrad  ? static_cast<float>(wt * r)
             : md == kEps ? static_cast<float>(wt * xp[k] * r)
                          : static_cast<float>(total > 0 ? r * wt * fabsf(xp[k]) / total : 0.0);
    }
  });
  return g;
}

}  // namespace relprop::cuda
