#pragma once
// Runs a test body once with each GEMM register kernel compiled into the build
// (ops/gemm.hpp: portable, AVX2, AVX-512), restoring the one in use afterwards.

#include <doctest/doctest.h>

#include "relprop/ops/gemm.hpp"

namespace relprop::testing {

inline const char* gemm_kernel_name(detail::GemmKernel k) {
  switch (k) {
    case detail::GemmKernel::Portable: return "portable";
    case detail::GemmKernel::Avx2: return "avx2";
    case detail::GemmKernel::Avx512: return "avx512";
  }
  return "?";
}

template <class F>
void each_gemm_kernel(F&& body) {
  struct Restore {
    detail::GemmKernel saved = detail::gemm_kernel();
    ~Restore() { detail::set_gemm_kernel(saved); }
  } restore;
  for (auto k : {detail::GemmKernel::Portable, detail::GemmKernel::Avx2, detail::GemmKernel::Avx512}) {
    if (!detail::gemm_kernel_compiled(k)) continue;
    detail::set_gemm_kernel(k);
    const char* name = gemm_kernel_name(k);
    CAPTURE(name);
    body(k);
  }
}

}  // namespace relprop::testing
