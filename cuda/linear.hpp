#pragma once
// The GPU twin of ops/linear.cpp: linear's forward through cuBLAS and the two linear maps
// the LRP skeleton (cuda/linear_type.hpp) is written with. Plain C++: callable from the
// ops' .cpp files.
//   x: (..., I), flattened to (M, I); W: (O, I) (or stacked weights (2O, I)); b: (O,);
//   z: (..., O).
//
// Math mode: by default every GEMM here runs in full FP32 (CUBLAS_DEFAULT_MATH, compute
// type 32F), agreeing with the CPU kernels to float rounding (~1e-6 relative). set_tf32(true)
// lets cuBLAS use TF32 tensor cores (inputs rounded to a 10-bit mantissa, FP32
// accumulation): several times faster on large layers, but forward outputs and relevance
// then agree with FP32 only to ~1e-3 relative, not 1e-5.

#include <cstdint>

#include "relprop/ops/linear_type.hpp"
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

// linear's maps for GPU tensors (as the CPU's in ops/linear.cpp):
//   forward:   (M, I) x (O', I)^T -> (..., O')   (O' = O or 2O for stacked weights)
//   transpose: (M, O') x (O', I)  -> x_shape
// bias_view (O,), channel_dim = out_dim = last dimension, stackable.
detail::LinearMaps linear_maps(const Shape& x_shape, std::int64_t O);

}  // namespace relprop::cuda
