#!/usr/bin/env bash
# The GPU check, on the device machine, from the binaries scripts/gpu_pack.sh left in
# .gpu/: the device, the GPU parity suites and device tests, compute-sanitizer (memcheck
# and racecheck) on a few suites, and the GPU benchmark rows (ResNet-50, VGG-16, BERT-base,
# MiniLM at batch 1 and 64; each composite eager and replayed as a CUDA Graph). Logs go to
# $OUT (or .gpu/out); a summary is printed last. Each step has its own time limit so one
# hang cannot eat the lease.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-.gpu/out}
mkdir -p "$out"
[ -x .gpu/relprop_tests ] || { echo "no .gpu/relprop_tests: run scripts/gpu_pack.sh here first"; exit 2; }
# The source path compiled into the tests (their data) must exist here.
src=$(cat .gpu/source_dir)
if [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"; fi
# cuDNN / cuBLAS from the image's Python packages when the system has none.
py_libs=$(python3 - <<'PY' 2>/dev/null
import importlib, os
dirs = []
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cuda_runtime", "nvidia.cu13"):
    try:
        mod = importlib.import_module(m)
        for p in getattr(mod, "__path__", []):
            for sub in ("lib", "lib64"):
                d = os.path.join(p, sub)
                if os.path.isdir(d):
                    dirs.append(d)
    except Exception:
        pass
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="$PWD/.gpu/lib:${py_libs}:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
summary=()
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-22s rc=%-3s %4ss' "$name" "$rc" $((SECONDS - t0)))")
  tail -n 4 "$out/$name.log"
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/device.log"
ldd .gpu/relprop_tests | grep -E 'not found|cudnn|cublas|cudart' | tee -a "$out/device.log"
step tests_cuda 240 .gpu/relprop_tests -ts='cuda*' --duration=true
step memcheck 150 compute-sanitizer --tool memcheck --error-exitcode 3 .gpu/relprop_tests \
  -ts='cuda.parity.linear,cuda.parity.conv,cuda.device'
step racecheck 120 compute-sanitizer --tool racecheck --error-exitcode 3 .gpu/relprop_tests \
  -ts='cuda.parity.activation,cuda.parity.attention,cuda.parity.pool'
step bench 240 .gpu/relprop_bench_cuda --graphs --repeat 20 --warmup 3
grep -v '^JSON' "$out/bench.log" | head -80
printf '%s\n' "${summary[@]}"
