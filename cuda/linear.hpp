#pragma once
// The GPU side of ops/linear.cpp: linear's forward through cuBLAS and the GEMM its two
// linear maps for the LRP skeleton run on GPU tensors. Plain C++: callable from the ops'
// .cpp files.
//   x: (..., I), flattened to (M, I); W: (O, I) (or stacked weights (2O, I)); b: (O,);
//   z: (..., O).
//
// Math mode: by default every GEMM here runs in full FP32 (CUBLAS_DEFAULT_MATH, compute
// type 32F), agreeing with the CPU kernels to float rounding (~1e-6 relative). set_tf32(true)
// lets cuBLAS use TF32 tensor cores (inputs rounded to a 10-bit mantissa, FP32
// accumulation): several times faster on large layers, but forward outputs and relevance
// then agree with FP32 only to ~1e-3 relative, not 1e-5.

#include <cstdint>

#include "relprop/tensor/tensor.hpp"

namespace relprop::cuda {

// Process-wide switch for the linear-type ops on the GPU: TF32 tensor-core math (true) or
// plain FP32 (false, the default). Read by linear's cuBLAS GEMMs (each sets the handle's
// math mode for its own call and restores it) and by conv's cuDNN algorithm choice
// (cuda/conv.cu). Thread-safe; takes effect on the next GEMM / convolution.
void set_tf32(bool on);
bool tf32();

// y = x W^T + b on the GPU. x: (..., I), w: (O, I), b: (O,) or undefined, all contiguous
// float32 on the GPU (shapes already checked by linear_shape); y_shape: (..., O).
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Shape& y_shape);

// c = a b^T (b stored (N, K), `b_transposed`) or c = a b (b stored (K, N)), row-major
// float32 on the GPU: a (M, K), c (M, N) contiguous, overwritten. The GEMM of linear's
// two maps for the LRP skeleton (ops/linear.cpp's linear_maps), in the math mode above.
void matmul(std::int64_t M, std::int64_t N, std::int64_t K, const Tensor& a, const Tensor& b, bool b_transposed,
            const Tensor& c);

}  // namespace relprop::cuda
