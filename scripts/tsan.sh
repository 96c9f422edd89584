#!/usr/bin/env bash
# Builds the determinism tests under ThreadSanitizer (CMake preset `tsan`, build/tsan; the
# library and tests/nn/test_determinism.cpp only) and runs the concurrent explanations of
# tests/nn/test_determinism.cpp: one graph and one Hugging Face model explained from 4 host
# threads at once. OpenMP is held to one thread: libgomp is not built with TSan, so its
# own synchronisation would be reported as races; what is checked is relprop's shared
# state between host threads.
#   scripts/tsan.sh            (JOBS=N for the build's parallelism, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset tsan >/dev/null
cmake --build build/tsan --target relprop_determinism_tests -j"${JOBS:-2}"
OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  build/tsan/tests/relprop_determinism_tests -tc='*from 4 threads at once*'
