#!/usr/bin/env bash
# README's first command: builds relprop (installing what is missing, as scripts/test.sh
# does) and runs `relprop demo`, which explains a CNN on scikit-learn's handwritten digits
# and an MLP on the breast-cancer table shipped in examples/demo/ (no network needed),
# writes heatmaps and charts to relprop-demo/ (or the folder given), and says what they
# show. With scripts/models.sh run before, it also explains a photograph.
#   scripts/demo.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
relprop_ensure_deps
cmake --preset release >/dev/null
cmake --build --preset release --target relprop_exe -j"$(relprop_jobs)" >/dev/null
exec build/release/relprop demo --out "${1:-relprop-demo}"
