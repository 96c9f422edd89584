#!/usr/bin/env bash
# Prepares a GPU check for a separate machine with a GPU (no network, a few minutes of GPU
# time): builds relprop's tests and GPU benchmarks HERE (nvcc compiles without a GPU), and
# puts the binaries and the two shared libraries the device image may lack into .gpu/
# (git-ignored). Then, on the GPU machine, with .gpu/ copied beside the tree (allow 9 min):
#   bash scripts/gpu_check.sh
# Building there would spend the GPU time on compiling; these binaries need only
# glibc >= Debian 12's, the CUDA 13 runtime, cuBLAS and cuDNN 9 (the device image has them,
# cuDNN and cuBLAS also as Python packages, which gpu_check.sh finds).
# GPU_BUILD=build/DIR packs an existing CUDA-enabled build instead of configuring
# build/gpu (both use -march=native: the device's CPU must have this one's instructions;
# an AVX2 Zen 3 build ran on the H200 machine on 2026-11-30).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GPU_BUILD:-build/gpu}  # GPU_BUILD: an existing CUDA-enabled build to pack instead
[ -n "${GPU_BUILD:-}" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRELPROP_CUDA=ON \
  -DRELPROP_BUILD_TESTS=ON -DRELPROP_BUILD_BENCH=ON >/dev/null
ninja -C "$build" relprop_tests relprop_bench_cuda relprop_time relprop_exe
# A GPU_BUILD configured without the toolkit would carry CPU-only binaries: refuse it.
ldd "$build/tests/relprop_tests" | grep -q libcudart ||
  { echo "gpu_pack: $build was built without CUDA (RELPROP_CUDA=OFF, or no toolkit found)" >&2; exit 1; }
rm -rf .gpu && mkdir -p .gpu/lib
cp "$build/tests/relprop_tests" "$build/bench/relprop_bench_cuda" "$build/bench/relprop_time" "$build/relprop" .gpu/
for lib in libstb.so.0 libgomp.so.1; do
  path=$(ldd "$build/tests/relprop_tests" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] && cp -L "$path" .gpu/lib/
done
# The tests read their data through the source path compiled into them.
echo "$PWD" > .gpu/source_dir
du -sh .gpu
echo "ready: run(command=\"bash scripts/gpu_check.sh\", carry=[\".gpu\"], timeout_s=540)"
