#!/usr/bin/env bash
# Fuzzes the safetensors parser and loader with libFuzzer (clang, ASan + UBSan).
#   scripts/fuzz.sh [SECONDS]      (default 60)
# Builds build-fuzz/ (separate from the normal build), runs on a copy of the seed corpus
# so the committed seeds stay as they are, and exits non-zero when the fuzzer finds a
# crash (the reproducer is left in build-fuzz/artifacts/). Without clang++ it skips.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
build=build-fuzz

source scripts/deps.sh
# As root, installs what is missing (the build's packages, clang and its fuzzer runtime).
relprop_ensure_deps || true
relprop_ensure_packages clang libclang-rt-dev || true
if ! command -v clang++ >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: skipped (clang++ is not installed; e.g. apt-get install clang libclang-rt-dev)"
  exit 0
fi

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRELPROP_FUZZ=ON -DRELPROP_BUILD_TESTS=OFF -DRELPROP_CUDA=OFF >/dev/null
cmake --build "$build" --target relprop_fuzz_safetensors -j"$(nproc 2>/dev/null || echo 2)"

# A fresh working corpus each run: the seeds, plus the example files when present.
work="$build/corpus"
artifacts="$build/artifacts"
rm -rf "$work"
mkdir -p "$work" "$artifacts"
cp tests/fuzz/corpus/* "$work"/
cp examples/worked/*.safetensors "$work"/ 2>/dev/null || true

# Tokens of the format help the mutator reach past the JSON parser.
dict="$build/safetensors.dict"
{
  for t in dtype shape data_offsets __metadata__ BOOL U8 I8 F8_E4M3 F8_E5M2 F8_E8M0 I16 U16 F16 BF16 \
           I32 U32 F32 I64 U64 F64 C64 F4 F6_E2M3 F6_E3M2; do
    echo "\"\\\"$t\\\"\""
  done
  for t in '{' '}' '[' ']' ':' ',' '[]' '[0]' '[0,0]' '-1' '1.0' '1e3' '281474976710656' '18446744073709551615'; do
    echo "\"$t\""
  done
} >"$dict"

fuzzer="$build/tests/fuzz/relprop_fuzz_safetensors"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict="$dict" -artifact_prefix="$artifacts/" "$work" >"$build/fuzz.log" 2>&1 || status=$?
tail -n 25 "$build/fuzz.log"
if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status); full log $build/fuzz.log, reproducers in $artifacts/" >&2
  exit "$status"
fi
echo "fuzz: ${seconds}s, no crash"
