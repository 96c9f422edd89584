#!/usr/bin/env bash
# Fuzzes the safetensors parser with libFuzzer (clang, ASan + UBSan) for N seconds
# (default 60). Installs clang when run as root; otherwise skips with a message.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
seconds="${1:-60}"
if ! relprop_ensure_deps || ! relprop_ensure_packages clang libclang-rt-dev; then
  echo "fuzz: skipped (clang and its fuzzer runtime are not installed)"
  exit 0
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DRELPROP_FUZZ=ON -DRELPROP_BUILD_TESTS=OFF -DRELPROP_CUDA=OFF >/dev/null
cmake --build build-fuzz --target relprop_fuzz_safetensors -j"$(relprop_jobs)"
work=build-fuzz/corpus
mkdir -p "$work"
cp tests/fuzz/corpus/* examples/worked/*.safetensors "$work"/
build-fuzz/tests/fuzz/relprop_fuzz_safetensors -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work" 2>&1 | tail -n 25
echo "fuzz: ${seconds}s clean"
