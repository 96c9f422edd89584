// cuBLAS, loaded when first used instead of at program start. Linking libcublas pulls in
// libcublasLt, whose loading alone makes ~210 MB resident in every process — also in
// programs that never touch a GPU (a CPU explanation of an MLP went from 7 to 221 MB peak
// RSS). So relprop does not link cuBLAS: it defines the few cuBLAS entry points it calls,
// each forwarding to the real one in libcublas.so.13, opened with dlopen on the first
// call (found through the loader's search path, else beside libcudart, else in the
// toolkit's library folder this build was configured with). When it cannot be opened,
// every entry point returns CUBLAS_STATUS_NOT_INITIALIZED and cublasGetStatusString says
// why, so Context's checked cublasCreate throws a CudaError naming the library.

#include <dlfcn.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>
#include <string>

namespace {

std::string g_load_error;

void* library() {
  static void* handle = [] {
    const char* name = "libcublas.so.13";
    void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    std::string first = h ? "" : (dlerror() ? dlerror() : "not found");
    if (!h) {
      // Beside the CUDA runtime this program was linked with.
      Dl_info info{};
      if (dladdr(reinterpret_cast<void*>(&cudaGetDeviceCount), &info) && info.dli_fname) {
        std::string dir = info.dli_fname;
        dir = dir.substr(0, dir.find_last_of('/') + 1);
        h = dlopen((dir + name).c_str(), RTLD_NOW | RTLD_LOCAL);
      }
    }
#ifdef RELPROP_CUDA_LIBRARY_DIR
    if (!h) h = dlopen((std::string(RELPROP_CUDA_LIBRARY_DIR) + "/" + name).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
    if (!h) g_load_error = std::string("cuBLAS could not be loaded: ") + first;
    return h;
  }();
  return handle;
}

void* lookup(const char* symbol) {
  void* h = library();
  return h ? dlsym(h, symbol) : nullptr;
}

}  // namespace

// Each forwarder resolves its symbol once (thread-safe static) and calls it.
#define RELPROP_CUBLAS_FORWARD(name, params, args)                          \
  cublasStatus_t CUBLASWINAPI name params {                                 \
    using Fn = cublasStatus_t(CUBLASWINAPI*) params;                        \
    static const Fn f = reinterpret_cast<Fn>(lookup(#name));                \
    return f ? f args : CUBLAS_STATUS_NOT_INITIALIZED;                      \
  }

extern "C" {

RELPROP_CUBLAS_FORWARD(cublasCreate_v2, (cublasHandle_t * handle), (handle))
RELPROP_CUBLAS_FORWARD(cublasDestroy_v2, (cublasHandle_t handle), (handle))
RELPROP_CUBLAS_FORWARD(cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t stream), (handle, stream))
RELPROP_CUBLAS_FORWARD(cublasGetMathMode, (cublasHandle_t handle, cublasMath_t* mode), (handle, mode))
RELPROP_CUBLAS_FORWARD(cublasSetMathMode, (cublasHandle_t handle, cublasMath_t mode), (handle, mode))
RELPROP_CUBLAS_FORWARD(cublasGemmEx_64,
                       (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int64_t m,
                        int64_t n, int64_t k, const void* alpha, const void* A, cudaDataType Atype, int64_t lda,
                        const void* B, cudaDataType Btype, int64_t ldb, const void* beta, void* C,
                        cudaDataType Ctype, int64_t ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo),
                       (handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
                        computeType, algo))
RELPROP_CUBLAS_FORWARD(cublasSgemmStridedBatched,
                       (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                        const float* alpha, const float* A, int lda, long long int strideA, const float* B, int ldb,
                        long long int strideB, const float* beta, float* C, int ldc, long long int strideC,
                        int batchCount),
                       (handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
                        strideC, batchCount))

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  using Fn = const char*(CUBLASWINAPI*)(cublasStatus_t);
  static const Fn f = reinterpret_cast<Fn>(lookup("cublasGetStatusString"));
  if (f) return f(status);
  return g_load_error.empty() ? "cuBLAS is not available" : g_load_error.c_str();
}

}  // extern "C"
