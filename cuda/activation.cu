// GPU twins of ops/activation.cpp (cuda/activation.hpp): element-wise f and R f'(x) as
// one kernel per activation kind (the bodies of ops/activation_fn.hpp), softmax /
// log_softmax forward and relevance along one dimension with deterministic
// double-precision sums.

#include <cmath>

#include "relprop/cuda/activation.hpp"
#include "relprop/cuda/common.cuh"

namespace relprop::cuda {

namespace {

// ---- element-wise activations -----------------------------------------------------------
// f and f' are ops/activation_fn.hpp's bodies, on CUDA's float math functions.

struct CudaMath {
  __device__ static float exp(float x) { return expf(x); }
  __device__ static float expm1(float x) { return expm1f(x); }
  __device__ static float erf(float x) { return erff(x); }
  __device__ static float tanh(float x) { return tanhf(x); }
};

// x, y: (n,).
template <Act K>
__global__ void act_forward_kernel(const float* __restrict__ x, float* __restrict__ y, std::int64_t n, float a) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    y[i] = detail::act_f<K, CudaMath>(x[i], a);
}

// x, r, g: (n,).
template <Act K>
__global__ void act_gradient_kernel(const float* __restrict__ x, const float* __restrict__ r, float* __restrict__ g,
                                    std::int64_t n, float a) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    g[i] = r[i] * detail::act_df<K, CudaMath>(x[i], a);
}

// ---- softmax along one dimension ----------------------------------------------------------
// (outer, D, inner): row (i, j) holds the D elements base + d * inner, base = i D inner + j.
// Two layouts of the work, chosen by shape (both deterministic for a given shape):
//  * by rows: one block per row, the threads strided over d, block reductions in a fixed
//    tree order (coalesced when inner == 1: softmax over the last dimension);
//  * by columns: one thread per row, d in order (coalesced across threads when inner > 1,
//    as the threads of a warp read neighbouring j).

struct Rows {
  std::int64_t outer, D, inner;
};

constexpr int kMaxThreads = 256;

struct MaxOp {
  __device__ float operator()(float a, float b) const { return a < b ? b : a; }  // std::max
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// Reduces one value per thread over the block (blockDim.x a power of two <= kMaxThreads)
// in a fixed tree order; every thread gets the result.
template <class T, class Op>
__device__ T block_reduce(T v, T* shm, Op op) {
  shm[threadIdx.x] = v;
  __syncthreads();
  for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) shm[threadIdx.x] = op(shm[threadIdx.x], shm[threadIdx.x + w]);
    __syncthreads();
  }
  const T r = shm[0];
  __syncthreads();  // shm is reused by the next reduction
  return r;
}

// x: (outer, D, inner); s: its softmax; y: log s (written only for log_softmax; s itself
// for softmax, hence no __restrict__).
template <bool Log>
__global__ void softmax_rows_kernel(const float* __restrict__ x, float* y, float* s, Rows a) {
  __shared__ float fmax_shm[kMaxThreads];
  __shared__ double sum_shm[kMaxThreads];
  const std::int64_t rows = a.outer * a.inner;
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t base = (row / a.inner) * a.D * a.inner + row % a.inner;
    float m = -INFINITY;
    for (std::int64_t d = threadIdx.x; d < a.D; d += blockDim.x) m = MaxOp{}(m, x[base + d * a.inner]);
    m = block_reduce(m, fmax_shm, MaxOp{});
    double sum = 0;
    for (std::int64_t d = threadIdx.x; d < a.D; d += blockDim.x)
      sum += exp(static_cast<double>(x[base + d * a.inner] - m));
    sum = block_reduce(sum, sum_shm, SumOp{});
    const double lse = log(sum);
    for (std::int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
      const std::int64_t k = base + d * a.inner;
      const double logp = static_cast<double>(x[k] - m) - lse;
      s[k] = static_cast<float>(exp(logp));
      if constexpr (Log) y[k] = static_cast<float>(logp);
    }
  }
}

// As softmax_rows_kernel, one thread per row.
template <bool Log>
__global__ void softmax_cols_kernel(const float* __restrict__ x, float* y, float* s, Rows a) {
  const std::int64_t rows = a.outer * a.inner, step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows;
       row += step) {
    const std::int64_t base = (row / a.inner) * a.D * a.inner + row % a.inner;
    float m = -INFINITY;
    for (std::int64_t d = 0; d < a.D; ++d) m = MaxOp{}(m, x[base + d * a.inner]);
    double sum = 0;
    for (std::int64_t d = 0; d < a.D; ++d) sum += exp(static_cast<double>(x[base + d * a.inner] - m));
    const double lse = log(sum);
    for (std::int64_t d = 0; d < a.D; ++d) {
      const std::int64_t k = base + d * a.inner;
      const double logp = static_cast<double>(x[k] - m) - lse;
      s[k] = static_cast<float>(exp(logp));
      if constexpr (Log) y[k] = static_cast<float>(logp);
    }
  }
}

// The relevance of one element given its row's sum acc (the CPU's expressions, in double).
template <SoftmaxRel M>
__device__ __forceinline__ float softmax_rel_term(float r, float s) {
  if constexpr (M == SoftmaxRel::Gradient) return r * s;  // float product, as the CPU
  else return r;
}
template <SoftmaxRel M>
__device__ __forceinline__ float softmax_rel_out(float r, float s, float x, double acc) {
  if constexpr (M == SoftmaxRel::AttnLRP) return static_cast<float>(x * (r - s * acc));
  else if constexpr (M == SoftmaxRel::LogGradient) return static_cast<float>(r - s * acc);
  else return static_cast<float>(s * (r - acc));
}

// r, s, x (AttnLRP only, else unread), o: (outer, D, inner).
template <SoftmaxRel M>
__global__ void softmax_rel_rows_kernel(const float* __restrict__ r, const float* __restrict__ s,
                                        const float* __restrict__ x, float* __restrict__ o, Rows a) {
  __shared__ double sum_shm[kMaxThreads];
  const std::int64_t rows = a.outer * a.inner;
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t base = (row / a.inner) * a.D * a.inner + row % a.inner;
    double acc = 0;
    for (std::int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
      const std::int64_t k = base + d * a.inner;
      acc += softmax_rel_term<M>(r[k], s[k]);
    }
    acc = block_reduce(acc, sum_shm, SumOp{});
    for (std::int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
      const std::int64_t k = base + d * a.inner;
      o[k] = softmax_rel_out<M>(r[k], s[k], M == SoftmaxRel::AttnLRP ? x[k] : 0.0f, acc);
    }
  }
}

// As softmax_rel_rows_kernel, one thread per row.
template <SoftmaxRel M>
__global__ void softmax_rel_cols_kernel(const float* __restrict__ r, const float* __restrict__ s,
                                        const float* __restrict__ x, float* __restrict__ o, Rows a) {
  const std::int64_t rows = a.outer * a.inner, step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows;
       row += step) {
    const std::int64_t base = (row / a.inner) * a.D * a.inner + row % a.inner;
    double acc = 0;
    for (std::int64_t d = 0; d < a.D; ++d) {
      const std::int64_t k = base + d * a.inner;
      acc += softmax_rel_term<M>(r[k], s[k]);
    }
    for (std::int64_t d = 0; d < a.D; ++d) {
      const std::int64_t k = base + d * a.inner;
      o[k] = softmax_rel_out<M>(r[k], s[k], M == SoftmaxRel::AttnLRP ? x[k] : 0.0f, acc);
    }
  }
}

// One block per row when rows are contiguous (inner == 1) or too few to give each GPU
// thread one; one thread per row otherwise.
bool by_rows(const Rows& a) { return a.inner == 1 || a.outer * a.inner < 4096; }

// Threads of a block for rows of D elements: a power of two from 32 to kMaxThreads.
unsigned row_threads(std::int64_t D) {
  unsigned t = 32;
  while (t < kMaxThreads && t < D) t *= 2;
  return t;
}

unsigned row_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::min<std::int64_t>(rows, std::int64_t{1} << 20));
}

// The callers pass detail::as_f32 results of GPU tensors.
void check_f32_cuda(const Tensor& t) {
  RELPROP_ASSERT(t.defined() && t.device() == Device::CUDA && t.dtype() == DType::F32 && t.is_contiguous(),
                 "cuda activation kernels: tensors must be contiguous float32 on the GPU");
}

}  // namespace

Tensor activation_forward(Act kind, float a, const Tensor& x) {
  check_f32_cuda(x);
  Tensor y = empty(x.shape());
  const std::int64_t n = x.numel();
  if (n == 0) return y;
  const float* xp = ptr<float>(x);
  float* yp = ptr<float>(y);
  detail::with_act(kind, [&](auto k) {
    act_forward_kernel<decltype(k)::value><<<blocks_for(n), 256, 0, stream()>>>(xp, yp, n, a);
  });
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return y;
}

Tensor activation_gradient(Act kind, float a, const Tensor& x, const Tensor& R) {
  check_f32_cuda(x);
  check_f32_cuda(R);
  RELPROP_ASSERT(x.numel() == R.numel(), "cuda::activation_gradient: x and R differ in element count");
  Tensor g = empty(R.shape());
  const std::int64_t n = R.numel();
  if (n == 0) return g;
  const float *xp = ptr<float>(x), *rp = ptr<float>(R);
  float* gp = ptr<float>(g);
  detail::with_act(kind, [&](auto k) {
    act_gradient_kernel<decltype(k)::value><<<blocks_for(n), 256, 0, stream()>>>(xp, rp, gp, n, a);
  });
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return g;
}

std::pair<Tensor, Tensor> softmax_forward(const Tensor& x, std::int64_t outer, std::int64_t D, std::int64_t inner,
                                          bool log) {
  check_f32_cuda(x);
  RELPROP_ASSERT(outer * D * inner == x.numel(), "cuda::softmax_forward: (outer, D, inner) does not match x");
  Tensor s = empty(x.shape()), y = log ? empty(x.shape()) : s;
  const Rows a{outer, D, inner};
  const std::int64_t rows = outer * inner;
  if (rows == 0 || D == 0) return {y, s};
  const float* xp = ptr<float>(x);
  float* yp = ptr<float>(y);
  float* sp = ptr<float>(s);
  if (by_rows(a)) {
    const unsigned t = row_threads(D), b = row_blocks(rows);
    if (log) softmax_rows_kernel<true><<<b, t, 0, stream()>>>(xp, yp, sp, a);
    else softmax_rows_kernel<false><<<b, t, 0, stream()>>>(xp, yp, sp, a);
  } else {
    if (log) softmax_cols_kernel<true><<<blocks_for(rows), 256, 0, stream()>>>(xp, yp, sp, a);
    else softmax_cols_kernel<false><<<blocks_for(rows), 256, 0, stream()>>>(xp, yp, sp, a);
  }
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return {y, s};
}

Tensor softmax_relevance(SoftmaxRel mode, const Tensor& R, const Tensor& s, const Tensor& x, std::int64_t outer,
                         std::int64_t D, std::int64_t inner) {
  check_f32_cuda(R);
  check_f32_cuda(s);
  RELPROP_ASSERT(R.numel() == s.numel() && outer * D * inner == R.numel(),
                 "cuda::softmax_relevance: R, s and (outer, D, inner) do not match");
  if (mode == SoftmaxRel::AttnLRP) {
    check_f32_cuda(x);
    RELPROP_ASSERT(x.numel() == R.numel(), "cuda::softmax_relevance: x and R differ in element count");
  }
  Tensor g = empty(R.shape());
  const Rows a{outer, D, inner};
  const std::int64_t rows = outer * inner;
  if (rows == 0 || D == 0) return g;
  const float* rp = ptr<float>(R);
  const float* sp = ptr<float>(s);
  const float* xp = mode == SoftmaxRel::AttnLRP ? ptr<float>(x) : nullptr;
  float* op = ptr<float>(g);
  if (by_rows(a)) {
    const unsigned t = row_threads(D), b = row_blocks(rows);
    switch (mode) {
      case SoftmaxRel::Gradient:
        softmax_rel_rows_kernel<SoftmaxRel::Gradient><<<b, t, 0, stream()>>>(rp, sp, xp, op, a);
        break;
      case SoftmaxRel::LogGradient:
        softmax_rel_rows_kernel<SoftmaxRel::LogGradient><<<b, t, 0, stream()>>>(rp, sp, xp, op, a);
        break;
      case SoftmaxRel::AttnLRP:
        softmax_rel_rows_kernel<SoftmaxRel::AttnLRP><<<b, t, 0, stream()>>>(rp, sp, xp, op, a);
        break;
    }
  } else {
    const unsigned b = blocks_for(rows);
    switch (mode) {
      case SoftmaxRel::Gradient:
        softmax_rel_cols_kernel<SoftmaxRel::Gradient><<<b, 256, 0, stream()>>>(rp, sp, xp, op, a);
        break;
      case SoftmaxRel::LogGradient:
        softmax_rel_cols_kernel<SoftmaxRel::LogGradient><<<b, 256, 0, stream()>>>(rp, sp, xp, op, a);
        break;
      case SoftmaxRel::AttnLRP:
        softmax_rel_cols_kernel<SoftmaxRel::AttnLRP><<<b, 256, 0, stream()>>>(rp, sp, xp, op, a);
        break;
    }
  }
  RELPROP_CUDA_CHECK(cudaGetLastError());
  return g;
}

}  // namespace relprop::cuda
