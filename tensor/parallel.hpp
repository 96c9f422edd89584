#pragma once
// Loops spread over the OpenMP threads only when they are worth it (internal helpers).
//
// `#pragma omp parallel for if (small)` is not free when the condition is false: libgomp
// still starts a one-thread team (a malloc of its team structure, large enough to make
// glibc consolidate its bins), and ends it with a futex system call. On a 5-node MLP
// explanation those regions cost more than the arithmetic. These helpers run the loop
// on the calling thread without entering OpenMP at all when `parallel` is false.
// The loop body sees the same indices in either case, so results do not depend on it.
// Bodies must not throw: on the parallel path an exception escaping the region ends the
// program (as with any OpenMP loop), while the serial path would propagate it.

#include <cstdint>

namespace relprop::detail {

// Element-wise loops over more elements than this are spread over the OpenMP threads.
// About 2^14 floats is where halving the loop outweighs the fork and join (~1-2 µs with
// libgomp's spinning workers) on the 2-core machines; the loops are deterministic in any
// split. Larger per-element work (exp, erf) would pay off earlier still. Smaller loops
// run without entering OpenMP (parallel_for below).
inline constexpr std::int64_t kParallelMin = 1 << 14;

// body(i) for i in [0, n): statically split over the threads when `parallel`.
template <class F>
inline void parallel_for(std::int64_t n, bool parallel, F&& body) {
  if (parallel) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (std::int64_t i = 0; i < n; ++i) body(i);
  }
}

// body(i, j) for i in [0, n1), j in [0, n2): the pairs statically split over the threads
// (collapsed) when `parallel`.
template <class F>
inline void parallel_for2(std::int64_t n1, std::int64_t n2, bool parallel, F&& body) {
  if (parallel) {
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t i = 0; i < n1; ++i)
      for (std::int64_t j = 0; j < n2; ++j) body(i, j);
  } else {
    for (std::int64_t i = 0; i < n1; ++i)
      for (std::int64_t j = 0; j < n2; ++j) body(i, j);
  }
}

}  // namespace relprop::detail
