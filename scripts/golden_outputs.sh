#!/usr/bin/env bash
# Runs a fixed list of `relprop explain` commands with one relprop binary and writes every
# result (safetensors, pictures, tables, and the text a failing command printed) into one
# folder, so that two builds can be compared byte for byte:
#   scripts/golden_outputs.sh OLD_BIN before/
#   scripts/golden_outputs.sh build/release/relprop after/
#   diff -r before/ after/        (or: cmp on each pair of files)
# The list covers every composite on the whole CNNs that scripts/models.sh exports, the
# small Zennit / DLBacktrace fixtures with every node kept, each rule given by --rule, the
# exported torchvision graphs, and the transformer fixtures (GPT-2, LLaMA, ViT, MiniLM). Models that were not exported are skipped with a line on stderr.
# Environment: RELPROP_GOLDEN_THREADS (default 2) sets OMP_NUM_THREADS for every command.
set -uo pipefail
if [ $# -ne 2 ]; then
  echo "usage: scripts/golden_outputs.sh RELPROP_BINARY OUT_DIR" >&2
  exit 2
fi
bin=$(realpath "$1")
out=$2
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(realpath "$out")
export OMP_NUM_THREADS=${RELPROP_GOLDEN_THREADS:-2}
data=tests/data
models=$data/models
count=0
failed=0

# run NAME ARGS...: one explanation into $out/NAME.safetensors; a command that fails leaves
# its message in $out/NAME.err instead (a changed message shows up in the comparison too).
run() {
  local name=$1
  shift
  count=$((count + 1))
  if ! "$bin" explain "$@" --out "$out/$name.safetensors" --quiet >"$out/$name.log" 2>"$out/$name.err"; then
    failed=$((failed + 1))
  else
    rm -f "$out/$name.err"
  fi
  rm -f "$out/$name.log"
}

composites=(zero epsilon epsilon-plus epsilon-plus-flat epsilon-gamma-box epsilon-alpha2-beta1
            epsilon-alpha2-beta1-flat backtrace backtrace-contrastive gradient gradient-x-input attnlrp cp-lrp)

# The small graph fixtures: every composite, every node kept.
for dir in "$data"/zennit/cnn "$data"/zennit/mlp "$data"/zennit/resblock "$data"/dlbacktrace/*/; do
  dir=${dir%/}
  [ -f "$dir/graph.json" ] || continue
  tag=$(basename "$(dirname "$dir")")_$(basename "$dir")
  for c in "${composites[@]}"; do
    run "$tag.$c" --graph "$dir/graph.json" --weights "$dir/weights.safetensors" \
        --input "$dir/input.safetensors" --composite "$c" --keep all
  done
done

# Every rule given by --rule to each node in turn (an unsupported pair leaves its message),
# on a CNN, a residual block and the gated MLP.
rules=(zero epsilon:0.01 zplus alpha-beta:2,1 alpha-beta:1,0 gamma:0.5 zbox:-2,2 wsquare flat pass
       gradient norm:0.001 backtrace backtrace:gate backtrace:equal backtrace:gate,equal constant:0)
for dir in "$data"/zennit/cnn "$data"/zennit/resblock "$data"/dlbacktrace/mlp_tanh; do
  tag=$(basename "$(dirname "$dir")")_$(basename "$dir")
  for node in $(python3 -c 'import json, sys; print(" ".join(n["name"] for n in json.load(open(sys.argv[1]))["nodes"]))' \
                "$dir/graph.json"); do
    for r in "${rules[@]}"; do
      run "$tag.rule_${node}_${r//[:,]/_}" --graph "$dir/graph.json" --weights "$dir/weights.safetensors" \
          --input "$dir/input.safetensors" --composite epsilon --rule "$node=$r" --keep all
    done
  done
done

# The whole CNNs by name, every composite; ResNet-18 with every node kept and pictures.
for m in resnet18 resnet50 vgg16 efficientnet_lite0; do
  dir=$models/$m
  if [ ! -f "$dir/weights.safetensors" ]; then
    echo "golden: $m not exported (scripts/models.sh), skipped" >&2
    continue
  fi
  for c in "${composites[@]}"; do
    extra=()
    [ "$m" = resnet18 ] && extra=(--keep all)
    run "$m.$c" --model "$m" --weights "$dir/weights.safetensors" --input "$dir/input.safetensors" \
        --composite "$c" "${extra[@]}"
  done
done
if [ -f "$models/vgg16/weights.safetensors" ]; then
  run vgg16.winograd.epsilon-gamma-box --model vgg16 --weights "$models/vgg16/weights.safetensors" \
      --input "$models/vgg16/input.safetensors" --composite epsilon-gamma-box --conv-algorithm winograd
fi
if [ -f "$models/efficientnet_lite0/photo.png" ]; then
  run efficientnet_lite0.photo --model efficientnet_lite0 \
      --weights "$models/efficientnet_lite0/weights.safetensors" --input "$models/efficientnet_lite0/photo.png" \
      --composite epsilon-plus-flat --heatmap --overlay --summary
fi

# The graphs tools/export_torch.py wrote.
for dir in "$models"/export/*/; do
  dir=${dir%/}
  [ -f "$dir/graph.json" ] || continue
  tag=export_$(basename "$dir")
  for c in epsilon-plus-flat epsilon-gamma-box backtrace gradient attnlrp cp-lrp; do
    run "$tag.$c" --graph "$dir/graph.json" --weights "$dir/weights.safetensors" \
        --input "$dir/input.safetensors" --composite "$c"
  done
done

# Transformers: the tokenizer fixtures by text, ViT by its input, MiniLM by text and --compare.
tcomposites=(attnlrp cp-lrp epsilon backtrace gradient gradient-x-input)
for m in gpt2_tiny llama_tiny; do
  for c in "${tcomposites[@]}"; do
    run "$m.$c" --model "$data/$m" --text "The quick brown fox jumps over the lazy dog" --composite "$c" --keep all
  done
done
if [ -f "$data/vit_tiny/input.safetensors" ]; then
  for c in "${tcomposites[@]}"; do
    run "vit_tiny.$c" --model "$data/vit_tiny" --input "$data/vit_tiny/input.safetensors" --composite "$c" --keep all
  done
fi
if [ -f "$models/all-MiniLM-L6-v2/model.safetensors" ]; then
  for c in "${tcomposites[@]}"; do
    run "minilm.$c" --model "$models/all-MiniLM-L6-v2" --text "The quick brown fox jumps over the lazy dog." \
        --compare "A fast animal leaps." --composite "$c"
  done
fi
echo "golden: $count commands into $out ($failed ended with an error, their messages kept in *.err)"
