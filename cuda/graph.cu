// CUDA Graph capture and replay on the context's stream (cuda/graph.hpp).

#include "relprop/cuda/common.cuh"
#include "relprop/cuda/graph.hpp"

namespace relprop::cuda {

struct CapturedGraph::Impl {
  MemoryPool* pool = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool capturing = false;
};

CapturedGraph::CapturedGraph() : impl_(std::make_unique<Impl>()) {}

CapturedGraph::~CapturedGraph() {
  abort();
  if (impl_->exec) cudaGraphExecDestroy(impl_->exec);
  if (impl_->graph) cudaGraphDestroy(impl_->graph);
  pool_destroy(impl_->pool);
}

void CapturedGraph::begin() {
  if (impl_->capturing || impl_->exec) throw ValueError("CapturedGraph::begin: this graph was already captured");
  cudaStream_t s = stream();
  // Work queued before the capture must not be part of it.
  RELPROP_CUDA_CHECK(cudaStreamSynchronize(s));
  if (!impl_->pool) impl_->pool = pool_create();
  RELPROP_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  impl_->capturing = true;
  pool_activate(impl_->pool);
}

void CapturedGraph::end() {
  if (!impl_->capturing) throw ValueError("CapturedGraph::end: not capturing");
  pool_activate(nullptr);
  impl_->capturing = false;
  cudaGraph_t g = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream(), &g);
  if (e != cudaSuccess || !g) {
    (void)cudaGetLastError();
    if (g) cudaGraphDestroy(g);
    fail("cudaStreamEndCapture", cudaGetErrorString(e), __FILE__, __LINE__);
  }
  impl_->graph = g;
  RELPROP_CUDA_CHECK(cudaGraphInstantiate(&impl_->exec, g, 0));
}

void CapturedGraph::abort() noexcept {
  if (!impl_->capturing) return;
  pool_activate(nullptr);
  impl_->capturing = false;
  cudaGraph_t g = nullptr;
  if (cudaStreamEndCapture(stream(), &g) == cudaSuccess && g) cudaGraphDestroy(g);
  (void)cudaGetLastError();  // the capture's error, if any, is not sticky
}

void CapturedGraph::replay() {
  if (!impl_->exec) throw ValueError("CapturedGraph::replay: nothing captured");
  RELPROP_CUDA_CHECK(cudaGraphLaunch(impl_->exec, stream()));
}

bool CapturedGraph::ready() const { return impl_->exec != nullptr; }

}  // namespace relprop::cuda
