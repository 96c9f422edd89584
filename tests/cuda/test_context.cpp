// The CUDA context. Without a GPU (or without the backend) the device tests skip with a
// message; the CPU-only behaviour is checked everywhere.

#include <doctest/doctest.h>

#include "relprop/cuda/context.hpp"
#include "relprop/config.hpp"
#if RELPROP_HAVE_CUDA
#include <cublas_v2.h>
#endif
#include <string>

using namespace relprop;

TEST_SUITE("cuda") {
  TEST_CASE("the build reports whether it has the backend") {
    CHECK(cuda::built() == (RELPROP_HAVE_CUDA == 1));
    CHECK(cuda::device_count() >= 0);
  }

  TEST_CASE("asking for a missing device is a typed error") {
    const int n = cuda::device_count();
    CHECK_THROWS_AS(cuda::device_description(n), IndexError);
    CHECK_THROWS_AS(cuda::Context{n}, UnsupportedError);
  }

  TEST_CASE("context on a GPU: stream and library handles") {
    if (cuda::device_count() == 0) {
      MESSAGE("skipped: no CUDA device (" << std::string(cuda::built() ? "backend built" : "backend not built") << ")");
      return;
    }
    cuda::Context ctx(0);
    CHECK(ctx.stream() != nullptr);
    CHECK(ctx.cublas() != nullptr);
    CHECK(ctx.cudnn() != nullptr);
    CHECK_NOTHROW(ctx.synchronize());
    MESSAGE("device 0: " << cuda::device_description(0));
  }

  TEST_CASE("cuBLAS is opened on first use (not linked), and found") {
#if RELPROP_HAVE_CUDA
    // The forwarders of cuda/cublas_loader.cu reach the real library: its own status text,
    // not the loader's "could not be loaded".
    const std::string s = cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
    INFO(s);
    CHECK(s.find("could not be loaded") == std::string::npos);
    CHECK(s.find("not available") == std::string::npos);
    CHECK_FALSE(s.empty());
#else
    MESSAGE("skipped: backend not built");
#endif
  }
}
