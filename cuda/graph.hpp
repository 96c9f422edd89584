#pragma once
// CUDA Graphs: the work one thread queues on the context's stream between begin() and
// end() recorded once and replayed with a single launch (no per-kernel launch cost: what
// makes batch-1 explanations fast when shapes repeat). Memory allocated while capturing
// comes from a pool private to the graph, kept until it is destroyed, so the addresses the
// graph reads and writes stay its own. Nothing queued while capturing runs until replay().

#include <memory>

namespace relprop::cuda {

struct MemoryPool;
MemoryPool* pool_create();
// Makes `pool` (nullptr: none) the source of this thread's device allocations.
void pool_activate(MemoryPool* pool);
// Frees the pool's free memory (waits for the stream first). Blocks tensors still hold
// pass to the shared cache (their contents stay; no replay writes them any more).
void pool_destroy(MemoryPool* pool) noexcept;

class CapturedGraph {
 public:
  CapturedGraph();
  ~CapturedGraph();  // frees the graph and its pool
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Starts capturing the context's stream (relaxed mode: allocations allowed) into this
  // graph's pool. UnsupportedError without the backend or a GPU.
  void begin();
  // Ends the capture and instantiates the graph; CudaError when the captured work was
  // not capturable (a host synchronisation, a pageable copy...): then nothing is kept.
  void end();
  // Ends a capture that failed half-way (an exception in between); never throws.
  void abort() noexcept;
  // Launches the graph on the context's stream (asynchronous).
  void replay();
  bool ready() const;  // end() succeeded

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relprop::cuda
