// linear on the GPU: the forward and the LRP skeleton's two maps as cuBLAS GEMMs
// (cuda/linear.hpp). Dimension letters: M rows (leading dims of x flattened), I input
// features, O output features (O' = 2O for stacked weights), K the summed dimension.
//
// cuBLAS is column-major: a row-major (R, C) buffer is, to cuBLAS, the column-major
// (C, R) matrix, its transpose. So the row-major product C = A op(B) is computed as the
// column-major C^T = op(B)^T A^T, with A and B handed over in swapped order.

#include <atomic>
#include <cstdint>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/linear.hpp"

namespace relprop::cuda {

namespace {

std::atomic<bool> g_tf32{false};

// The handle's math mode set for one scope, the previous one restored at its end.
class MathMode {
 public:
  MathMode(cublasHandle_t h, cublasMath_t mode) : h_(h) {
    RELPROP_CUDA_CHECK(cublasGetMathMode(h_, &old_));
    RELPROP_CUDA_CHECK(cublasSetMathMode(h_, mode));
  }
  ~MathMode() { cublasSetMathMode(h_, old_); }  // no throw from a destructor
  MathMode(const MathMode&) = delete;
  MathMode& operator=(const MathMode&) = delete;

 private:
  cublasHandle_t h_;
  cublasMath_t old_ = CUBLAS_DEFAULT_MATH;
};

// Row-major C (M, N) = A (M, K) · B^T with B stored (N, K) when `b_transposed`, else
// C = A · B with B stored (K, N). beta 0 overwrites C, beta 1 adds to what C holds.
// All pointers: contiguous float32 device memory.
void gemm_rm(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, const float* B, bool b_transposed,
             float* C, float beta) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: C = beta C
    if (beta == 0.0f)
      RELPROP_CUDA_CHECK(cudaMemsetAsync(C, 0, static_cast<std::size_t>(M * N) * sizeof(float), stream()));
    return;
  }
  const bool fast = g_tf32.load(std::memory_order_relaxed);
  cublasHandle_t h = cublas();
  // The handle is shared with other families (attention's batched GEMMs promise FP32): set
  // this GEMM's mode, and put the previous one back afterwards, also when the call fails.
  MathMode mode(h, fast ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  const float alpha = 1.0f;
  // Column-major: C^T (N, M) = op(B)^T (N, K) · A^T (K, M).
  RELPROP_CUDA_CHECK(cublasGemmEx_64(h, b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, B,
                                     CUDA_R_32F, b_transposed ? K : N, A, CUDA_R_32F, K, &beta, C, CUDA_R_32F, N,
                                     fast ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// y[m, o] = b[o] for every row: the bias the GEMM then adds x W^T to (beta = 1).
// y: (M, O), b: (O,).
void fill_rows(float* y, const float* b, std::int64_t M, std::int64_t O) {
  launch(M * O, [=] __device__(std::int64_t i) { y[i] = b[i % O]; });
}

std::int64_t rows_of(const Shape& s) {  // product of every dimension but the last
  std::int64_t m = 1;
  for (std::size_t d = 0; d + 1 < s.size(); ++d) m *= s[d];
  return m;
}

}  // namespace

void set_tf32(bool on) { g_tf32.store(on, std::memory_order_relaxed); }
bool tf32() { return g_tf32.load(std::memory_order_relaxed); }

Tensor linear_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Shape& y_shape) {
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const std::int64_t I = w.size(1), O = w.size(0), M = rows_of(x.shape());
  RELPROP_ASSERT(x.numel() == M * I, "cuda::linear_forward: input and weight disagree");
  Tensor y = empty(y_shape);
  float beta = 0.0f;
  if (b_in.defined()) {
    const Tensor b = b_in.contiguous();
    fill_rows(ptr<float>(y), ptr<float>(b), M, O);
    beta = 1.0f;  // the GEMM adds x W^T onto the bias: one pass over y for both
  }
  gemm_rm(M, O, I, ptr<float>(x), ptr<float>(w), /*b_transposed=*/true, ptr<float>(y), beta);
  return y;
}

void matmul(std::int64_t M, std::int64_t N, std::int64_t K, const Tensor& a_in, const Tensor& b_in, bool b_transposed,
            const Tensor& c) {
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  RELPROP_ASSERT(a.numel() == M * K && b.numel() == N * K && c.is_contiguous() && c.numel() == M * N,
                 "cuda::matmul: operands and (M, N, K) disagree");
  gemm_rm(M, N, K, ptr<float>(a), ptr<float>(b), b_transposed, ptr<float>(c), 0.0f);
}

}  // namespace relprop::cuda
