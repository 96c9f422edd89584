#!/usr/bin/env python3
"""Golden outputs of the real all-MiniLM-L6-v2 (tools/fetch_minilm.sh puts it in
tests/data/models/all-MiniLM-L6-v2) from Hugging Face transformers, as sentence-transformers
computes them (BertModel, mean pooling over the attention mask, L2 normalisation): for a
few sentences, the token ids and strings, and the normalised sentence embedding.

    python tools/make_minilm_golden.py   (transformers, with Debian's torch: a venv with
                                          --system-site-packages and pip install transformers==4.30.2)
writes tests/data/minilm/golden.json (small; committed).
"""
import json
import pathlib

import torch
from transformers import AutoModel, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = ROOT / "tests" / "data" / "models" / "all-MiniLM-L6-v2"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Layer-wise relevance propagation explains neural networks, token by token!",
    "Café prices rose 3.5% in Zürich — unexpectedly.",
    "A man is playing a guitar.",
]


def main():
    tok = AutoTokenizer.from_pretrained(str(MODEL))
    model = AutoModel.from_pretrained(str(MODEL)).eval()
    out = {"model": "sentence-transformers/all-MiniLM-L6-v2", "torch": torch.__version__, "sentences": []}
    with torch.no_grad():
        for s in SENTENCES:
            enc = tok(s, return_tensors="pt")
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            e = (h * m).sum(1) / m.sum(1)
            e = torch.nn.functional.normalize(e, dim=1)
            out["sentences"].append({
                "text": s,
                "input_ids": enc["input_ids"][0].tolist(),
                "tokens": tok.convert_ids_to_tokens(enc["input_ids"][0]),
                "embedding": [round(float(v), 7) for v in e[0]],
            })
    path = ROOT / "tests" / "data" / "minilm" / "golden.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
