// The CUDA policy of the linear-type LRP skeleton (ops/linear_type_skeleton.hpp): memory
// on the GPU, element-wise passes as grid-stride kernels on the context's stream, the
// GEMM-shaped work through the op's own maps (cuBLAS, cuDNN). It takes none of the CPU's
// fast paths: whether x >= 0 could only be known by reading x back to the host (a
// synchronisation), so the general formulas run always (x- is then exactly 0, its terms
// add exact zeros), and flat runs with the O-output weight of ones.

#include "relprop/cuda/linear_type.hpp"

#include <cstdint>

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/primitives.hpp"
#include "relprop/cuda/stabilize.cuh"
#include "relprop/cuda/stabilize.hpp"
#include "relprop/ops/linear_type_skeleton.hpp"

namespace relprop::cuda {

namespace {

// f(i, i / len) for i in [0, n): the skeleton's row-wise passes as one flat launch.
template <class F>
struct WithRow {
  F f;
  std::int64_t len;
  __device__ void operator()(std::int64_t i) const { f(i, i / len); }
};

// One block per row of `group` elements: eps * sqrt(mean(den^2)) over the row, the sum in
// double in a fixed order (deterministic). den: (rows * group,), out: (rows,).
__global__ void row_eps_kernel(const float* den, float* out, std::int64_t group, double eps) {
  const float e = block_row_epsilon(den + static_cast<std::int64_t>(blockIdx.x) * group, group, eps);
  if (threadIdx.x == 0) out[blockIdx.x] = e;
}

struct CudaPolicy {
  static constexpr Device kDevice = Device::CUDA;
  static constexpr bool kFusedGamma = false;
  static constexpr bool kFlatOneOutput = false;

  static float* ptr(const Tensor& t) { return cuda::ptr<float>(t); }

  template <class F>
  static void each(std::int64_t n, const F& f) {
    launch(n, f);
  }
  template <class F>
  static void rows(std::int64_t rows, std::int64_t len, const F& f) {
    launch(rows * len, WithRow<F>{f, len});
  }

  static void copy(float* dst, const float* src, std::int64_t n) {
    RELPROP_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(n) * sizeof(float),
                                       cudaMemcpyDeviceToDevice, stream()));
  }

  static Tensor divide(const Tensor& den, const Tensor& r, std::int64_t group, detail::Stab stab) {
    return cuda::stabilized_divide(r, den, group, stab);
  }

  static Tensor row_eps(const Tensor& den, std::int64_t group, double eps) {
    const std::int64_t n = den.numel(), rows = group > 0 ? n / group : 0;
    Tensor e = empty({std::max<std::int64_t>(rows, 1)});
    if (rows > 0) {
      row_eps_kernel<<<static_cast<unsigned>(rows), 256, 0, stream()>>>(ptr(den), ptr(e), group, eps);
      RELPROP_CUDA_CHECK(cudaGetLastError());
    }
    return e;
  }

  static bool nonnegative(const Tensor&) { return false; }
  static bool mixed_signs(const Tensor&) { return false; }  // nonnegative is never known here
};

}  // namespace

}  // namespace relprop::cuda

namespace relprop::detail {
template class LinearTypeSkeleton<cuda::CudaPolicy>;
}  // namespace relprop::detail

namespace relprop::cuda {

std::optional<Tensor> linear_type_relevance(const Rule& rule, const detail::LinearMaps& maps, const Tensor& x,
                                            const Tensor& w, const Tensor& b, const Tensor& z, const Tensor& R,
                                            detail::WeightCache& cache, const RelevanceContext& ctx) {
  detail::same_device("linear-type relevance",
                      {{&x, "input"}, {&w, "weight"}, {&b, "bias"}, {&z, "output"}, {&R, "relevance"}});
  return detail::linear_type_run<CudaPolicy>(rule, maps, x, w, b, z, R, cache, ctx);
}

std::pair<Tensor, Tensor> linear_type_contrastive(const detail::LinearMaps& maps, const Tensor& x, const Tensor& w,
                                                  const Tensor& b, const Tensor& z, const Tensor& Rp,
                                                  const Tensor& Rn, detail::WeightCache& cache) {
  detail::same_device("linear-type relevance", {{&x, "input"},
                                                {&w, "weight"},
                                                {&b, "bias"},
                                                {&z, "output"},
                                                {&Rp, "positive relevance"},
                                                {&Rn, "negative relevance"}});
  return detail::linear_type_run_contrastive<CudaPolicy>(maps, x, w, b, z, Rp, Rn, cache);
}

}  // namespace relprop::cuda
