#!/usr/bin/env bash
# The main job on the built-in example: installs what is missing, builds the `relprop`
# tool (incrementally), and explains the network of the worked example in docs/RULES.md,
# printing its input relevance.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
relprop_ensure_deps
cmake --preset release >/dev/null
cmake --build --preset release --target relprop_exe -j"$(relprop_jobs)"
ex=examples/worked
exec build/release/relprop explain --graph $ex/graph.json --weights $ex/weights.safetensors \
  --input $ex/input.safetensors --composite "${1:-backtrace}" --out build/worked_relevance.safetensors
