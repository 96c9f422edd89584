#!/usr/bin/env bash
# Fuzzes relprop's file readers with libFuzzer (clang, ASan + UBSan), as many targets at once as
# there are cores.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]   (default: 60 seconds for each target, every target)
# Targets (tests/fuzz/fuzz_TARGET.cpp, seeds in tests/fuzz/corpus/TARGET/):
#   safetensors  the safetensors parser and loader
#   image        image decoding (PNG, JPEG, PPM/PGM, ...) with resizing and cropping
#   graph        graph.json: parsed, built and explained on tiny inputs
#   tokenizer    tokenizer.json loaded, then the text after it encoded
# Builds build-fuzz/ (separate from the normal build), runs each target on a copy of its seed
# corpus so the committed seeds stay as they are, and exits non-zero when a fuzzer finds a
# crash (the reproducer is left in build-fuzz/artifacts/TARGET/). Without clang++ it skips.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=()
  for f in tests/fuzz/fuzz_*.cpp; do
    t="${f##*/fuzz_}"
    targets+=("${t%.cpp}")
  done
fi
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
build_targets=()
for t in "${targets[@]}"; do build_targets+=("relprop_fuzz_$t"); done
cmake --build "$build" --target "${build_targets[@]}" -j"$(nproc 2>/dev/null || echo 2)"

# Tokens of the safetensors format help the mutator reach past the JSON parser.
safetensors_dict() {
  local t
  for t in dtype shape data_offsets __metadata__ BOOL U8 I8 F8_E4M3 F8_E5M2 F8_E8M0 I16 U16 F16 BF16 \
           I32 U32 F32 I64 U64 F64 C64 F4 F6_E2M3 F6_E3M2; do
    echo "\"\\\"$t\\\"\""
  done
  for t in '{' '}' '[' ']' ':' ',' '[]' '[0]' '[0,0]' '-1' '1.0' '1e3' '281474976710656' '18446744073709551615'; do
    echo "\"$t\""
  done
}

# Targets run side by side, as many at once as there are cores (RELPROP_FUZZ_JOBS), each for
# SECONDS of wall-clock time on a core of its own.
slots="${RELPROP_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"
run_target() {
  local t="$1" work="$build/corpus/$1" artifacts="$build/artifacts/$1" status=0
  local args=()
  case "$t" in
    safetensors) args+=(-dict="$build/$t.dict") ;;
  esac
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  "$build/tests/fuzz/relprop_fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${args[@]}" -artifact_prefix="$artifacts/" "$work" \
    >"$build/fuzz_$t.log" 2>&1 || status=$?
  echo "$status" >"$build/fuzz_$t.status"
}

running=0
for t in "${targets[@]}"; do
  rm -rf "$build/corpus/$t" "$build/fuzz_$t.status"
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  cp -r tests/fuzz/corpus/"$t"/. "$build/corpus/$t"/
  if [ "$t" = safetensors ]; then
    cp examples/worked/*.safetensors "$build/corpus/$t"/ 2>/dev/null || true
    safetensors_dict >"$build/$t.dict"
  fi
  echo "fuzz: $t for ${seconds}s"
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$slots" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=()
for t in "${targets[@]}"; do
  echo "---- $t"
  tail -n 8 "$build/fuzz_$t.log"
  status="$(cat "$build/fuzz_$t.status" 2>/dev/null || echo missing)"
  if [ "$status" != 0 ]; then
    echo "fuzz: $t FAILED (exit $status); full log $build/fuzz_$t.log, reproducers in $build/artifacts/$t/" >&2
    failed+=("$t")
  else
    echo "fuzz: $t ${seconds}s, no crash"
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: ${seconds}s each, no crash"
