// Shared element-wise device helpers (cuda/primitives.hpp).

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/primitives.hpp"

namespace relprop::cuda {

namespace {

constexpr int kMaxDims = 12;
struct ReducePlan {
  int rank = 0;            // dimensions of the source
  std::int64_t size[kMaxDims];
  std::int64_t stride[kMaxDims];  // source strides (contiguous)
  bool reduced[kMaxDims];  // dimension summed away
};

// One thread per output element: sums the source elements that broadcast onto it.
__global__ void reduce_kernel(const float* src, float* out, ReducePlan p, std::int64_t n_out, std::int64_t n_red) {
  // Grid-stride: blocks_for caps the grid at 65536 blocks of 256.
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out;
       o += static_cast<std::int64_t>(blockDim.x) * gridDim.x) {
    // Source offset of the kept coordinates of o (kept dimensions in order make o).
    std::int64_t base = 0, rem = o;
    for (int d = p.rank - 1; d >= 0; --d) {
      if (p.reduced[d]) continue;
      base += (rem % p.size[d]) * p.stride[d];
      rem /= p.size[d];
    }
    double acc = 0;
    for (std::int64_t r = 0; r < n_red; ++r) {
      std::int64_t off = base, q = r;
      for (int d = p.rank - 1; d >= 0; --d) {
        if (!p.reduced[d]) continue;
        off += (q % p.size[d]) * p.stride[d];
        q /= p.size[d];
      }
      acc += src[off];
    }
    out[o] = static_cast<float>(acc);
  }
}

Tensor f32(const Tensor& t) { return t.to(DType::F32).contiguous(); }

constexpr int kSumBlocks = 128, kSumThreads = 256;

// Pass 1: block b sums elements b*256+t, b*256+t + stride, ... (fixed assignment).
__global__ void partial_sums(const float* p, std::int64_t n, double* part) {
  __shared__ double s[kSumThreads];
  double acc = 0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kSumThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(kSumBlocks) * kSumThreads)
    acc += p[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kSumThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = s[0];
}

// Pass 2: the block sums, in order.
__global__ void final_sum(const double* part, double* out) {
  if (threadIdx.x != 0) return;
  double acc = 0;
  for (int b = 0; b < kSumBlocks; ++b) acc += part[b];
  *out = acc;
}

}  // namespace

Tensor reduce_to_shape(const Tensor& t, const Shape& target) {
  if (t.shape() == target) return t;
  const int r = t.dim(), lead = r - static_cast<int>(target.size());
  if (lead < 0) throw ShapeError("reduce_to_shape: " + t.str_shape() + " to " + shape_str(target));
  if (r > kMaxDims) throw UnsupportedError("reduce_to_shape on the GPU: more than 12 dimensions");
  const Tensor src = f32(t);
  ReducePlan p;
  p.rank = r;
  const Shape st = contiguous_strides(t.shape());
  std::int64_t n_red = 1;
  for (int d = 0; d < r; ++d) {
    const std::int64_t td = d < lead ? 1 : target[d - lead];
    if (td != 1 && td != t.size(d))
      throw ShapeError("reduce_to_shape: " + t.str_shape() + " does not broadcast from " + shape_str(target));
    p.size[d] = t.size(d);
    p.stride[d] = st[d];
    p.reduced[d] = td == 1 && t.size(d) != 1;
    if (p.reduced[d]) n_red *= t.size(d);
  }
  Tensor out = empty(target);
  const std::int64_t n_out = out.numel();
  if (n_out == 0) return out;
  if (src.numel() == 0) return zeros(target);
  reduce_kernel<<<blocks_for(n_out), 256, 0, stream()>>>(ptr<float>(src), ptr<float>(out), p, n_out, n_red);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return out;
}

Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = f32(a_in), b = f32(b_in);
  RELPROP_ASSERT(a.numel() == b.numel(), "cuda::mul: element counts differ");
  Tensor out = empty(a.shape());
  const float *p = ptr<float>(a), *q = ptr<float>(b);
  float* o = ptr<float>(out);
  launch(a.numel(), [=] __device__(std::int64_t i) { o[i] = p[i] * q[i]; });
  return out;
}

void axpy(const Tensor& acc, const Tensor& t_in, float s) {
  const Tensor t = f32(t_in);
  RELPROP_ASSERT(acc.is_contiguous() && acc.numel() == t.numel(), "cuda::axpy: element counts differ");
  float* a = ptr<float>(acc);
  const float* p = ptr<float>(t);
  launch(t.numel(), [=] __device__(std::int64_t i) { a[i] += s * p[i]; });
}

void add_mul(const Tensor& acc, const Tensor& a_in, const Tensor& b_in, float s) {
  const Tensor a = f32(a_in), b = f32(b_in);
  RELPROP_ASSERT(acc.is_contiguous() && acc.numel() == a.numel() && a.numel() == b.numel(),
                 "cuda::add_mul: element counts differ");
  float* o = ptr<float>(acc);
  const float *p = ptr<float>(a), *q = ptr<float>(b);
  launch(a.numel(), [=] __device__(std::int64_t i) { o[i] += s * p[i] * q[i]; });
}

Tensor scale(const Tensor& a_in, float s) {
  const Tensor a = f32(a_in);
  Tensor out = empty(a.shape());
  const float* p = ptr<float>(a);
  float* o = ptr<float>(out);
  launch(a.numel(), [=] __device__(std::int64_t i) { o[i] = s * p[i]; });
  return out;
}

namespace {

// One block per row: the first arg-max (as torch.argmax) by a fixed-order reduction.
__global__ void seed_kernel(const float* y, float* seed, std::int64_t* targets, std::int64_t C, std::int64_t target,
                            bool one_hot, double mult) {
  __shared__ float best[256];
  __shared__ std::int64_t where[256];
  const std::int64_t r = blockIdx.x;
  const float* row = y + r * C;
  float* out = seed + r * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) out[c] = 0.0f;
  std::int64_t t = target;
  if (t < 0) {
    // As the CPU's loop: the first maximum among the values that are not NaN (a row of
    // NaN only: 0).
    float b = -INFINITY;
    std::int64_t w = C;  // past the end: "none yet"
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
      if (!isnan(row[c]) && (w == C || row[c] > b)) {  // strictly greater: the thread keeps its first maximum
        b = row[c];
        w = c;
      }
    best[threadIdx.x] = b;
    where[threadIdx.x] = w;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
      if (threadIdx.x < s) {
        const float ob = best[threadIdx.x + s];
        const std::int64_t ow = where[threadIdx.x + s];
        // Larger value wins; on ties (and NaN-free equal values) the smaller index.
        if (ow < C && (where[threadIdx.x] == C || ob > best[threadIdx.x] ||
                       (ob == best[threadIdx.x] && ow < where[threadIdx.x]))) {
          best[threadIdx.x] = ob;
          where[threadIdx.x] = ow;
        }
      }
      __syncthreads();
    }
    t = where[0] == C ? 0 : where[0];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    out[t] = static_cast<float>((one_hot ? 1.0 : static_cast<double>(row[t])) * mult);
    targets[r] = t;
  }
}

}  // namespace

Tensor classification_seed(const Tensor& y_in, std::int64_t target, bool one_hot, double multiplier, Tensor& targets) {
  // The checks and messages of relevance/seed.cpp.
  if (!y_in.defined() || y_in.dim() == 0)
    throw ShapeError("classification seed: the output must have a class dimension, got shape " +
                     (y_in.defined() ? y_in.str_shape() : std::string("<undefined>")));
  if (y_in.size(-1) == 0) throw ShapeError("classification seed: the output has no classes");
  const Tensor y = f32(y_in);
  const std::int64_t C = y.size(-1), rows = y.numel() / C;
  if (target >= C)
    throw IndexError("target class " + std::to_string(target) + " is out of range: the output has " +
                     std::to_string(C) + " classes (0.." + std::to_string(C - 1) + ")");
  Tensor seed = empty(y.shape());
  targets = Tensor::empty({rows}, DType::I64, Device::CUDA);
  if (rows == 0) return seed;
  seed_kernel<<<static_cast<unsigned>(rows), 256, 0, stream()>>>(ptr<float>(y), ptr<float>(seed),
                                                                   ptr<std::int64_t>(targets), C, target, one_hot,
                                                                   multiplier);
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return seed;
}

void sum_into(const Tensor& t_in, const Tensor& out, std::int64_t slot) {
  RELPROP_ASSERT(out.dtype() == DType::F64 && out.is_contiguous() && slot >= 0 && slot < out.numel(),
                 "cuda::sum_into: bad output slot");
  const Tensor t = f32(t_in);
  Tensor part = Tensor::empty({kSumBlocks}, DType::F64, Device::CUDA);
  partial_sums<<<kSumBlocks, kSumThreads, 0, stream()>>>(ptr<float>(t), t.numel(), ptr<double>(part));
  RELPROP_CUDA_CHECK(cudaGetLastError());
  final_sum<<<1, 32, 0, stream()>>>(ptr<double>(part), ptr<double>(out) + slot);
  RELPROP_CUDA_CHECK(cudaGetLastError());
}

// ---- values as float64 ------------------------------------------------------------------

namespace {

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

}  // namespace

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


}  // namespace relprop::cuda
