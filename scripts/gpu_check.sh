#!/usr/bin/env bash
# The GPU check, on the device machine, from the binaries scripts/gpu_pack.sh left in
# .gpu/: the device, the GPU parity suites and device tests, compute-sanitizer (memcheck
# and racecheck) on a few suites, and the GPU benchmark rows (ResNet-50, VGG-16, BERT-base,
# MiniLM at batch 1 and 64; each composite eager and replayed as a CUDA Graph), and the
# side-by-side with PyTorch + Zennit on the same GPU (bench/compare/compare.py --device cuda;
# Zennit travels as a wheel in .whl/, carried: pip download --no-deps -d .whl zennit==0.5.1).
# Logs go to $OUT (or .gpu/out); a summary is printed last. Each step has its own time limit
# so one hang cannot eat the GPU time. GPU_STEPS picks the steps; the default is
#   GPU_STEPS="tests bench compare memcheck racecheck" bash scripts/gpu_check.sh
# Further steps: bench-tf32 (the bench rows on TF32 tensor cores), compare-graphs (relprop
# through CUDA Graph replay), compare-tf32 (that, with both sides on TF32 tensor cores),
# profile (the eager GPU path's host time per relevance op, ResNet-50). Each step leaves one
# log in $OUT, beside device.log; a GPU run returns at most 8 files, so name at most 7
# steps per call (the compare steps print their tables there; their JSON stays in /tmp).
# Time limits: T_TESTS, T_MEMCHECK, T_RACECHECK, T_BENCH, T_COMPARE, T_PROFILE.
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
steps=(${GPU_STEPS:-tests bench compare memcheck racecheck})
[ "${#steps[@]}" -le 7 ] || echo "warning: ${#steps[@]} steps leave more logs than the 8 files a GPU run returns"
for s in "${steps[@]}"; do
  case $s in
    tests) step tests_cuda "${T_TESTS:-240}" .gpu/relprop_tests -ts='cuda*,ops.op_rule_matrix,nn.determinism' --duration=true ;;
    memcheck) step memcheck "${T_MEMCHECK:-150}" compute-sanitizer --tool memcheck --error-exitcode 3 \
      .gpu/relprop_tests -ts='cuda.parity.linear,cuda.parity.conv,cuda.device' ;;
    racecheck) step racecheck "${T_RACECHECK:-120}" compute-sanitizer --tool racecheck --error-exitcode 3 \
      .gpu/relprop_tests -ts='cuda.parity.activation,cuda.parity.attention,cuda.parity.pool' ;;
    bench) step bench "${T_BENCH:-240}" .gpu/relprop_bench_cuda --graphs --repeat "${BENCH_REPEAT:-20}" --warmup 3
      grep -v '^JSON' "$out/bench.log" | head -80 ;;
    bench-tf32) step bench-tf32 "${T_BENCH:-240}" .gpu/relprop_bench_cuda --tf32 --graphs --repeat "${BENCH_REPEAT:-20}" --warmup 3
      grep -v '^JSON' "$out/bench-tf32.log" | head -80 ;;
    compare | compare-graphs | compare-tf32)
      if [ -z "${PYTHONPATH:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
          --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
      fi
      extra=()
      [ "$s" = compare-graphs ] && extra=(--cuda-graphs)
      [ "$s" = compare-tf32 ] && extra=(--cuda-graphs --precision tf32)
      step "$s" "${T_COMPARE:-240}" env PYTHONUNBUFFERED=1 python3 bench/compare/compare.py \
        ${COMPARE_MODELS:-resnet50 vgg16} --device cuda --rounds "${COMPARE_ROUNDS:-2}" --repeat 20 --warmup 3 \
        --relprop-time .gpu/relprop_time --prepare-python python3 --zennit-python python3 \
        --lxt-python python3 ${extra[@]+"${extra[@]}"} --out "/tmp/$s.json"
      grep -v '^prepared' "$out/$s.log" | tail -n 4 ;;
    profile)  # host-side time per relevance op of the eager GPU path
      [ -f build/compare/resnet50/input.safetensors ] ||
        python3 bench/compare/compare.py prepare-vision resnet50 build/compare/resnet50
      step profile "${T_PROFILE:-60}" .gpu/relprop_time --model resnet50 --weights build/compare/resnet50/weights.safetensors \
        --input build/compare/resnet50/input.safetensors --composite epsilon-plus-flat --seed-one \
        --device cuda --repeat 5 --warmup 2 --profile
      head -n 30 "$out/profile.log" ;;
    *) echo "unknown step $s" ;;
  esac
done
printf '%s\n' "${summary[@]}"
