#!/usr/bin/env python3
"""A tiny GPT-2 (GPT2LMHeadModel, random weights, 2 layers, n_embd 32, 4 heads) as a Hugging
Face folder, with the byte-level BPE tokenizer of tests/data/tokenizers/bpe, and golden
next-token logits from transformers for relprop's GPT-2 builder (tests/nn/test_transformers.cpp).

    python tools/make_gpt2_fixture.py   (transformers 4.30 with Debian's torch in a venv)
writes tests/data/gpt2_tiny/ (config.json, model.safetensors with tied lm_head, the
tokenizer files, golden.json), about 140 KB.
"""
import json
import pathlib
import shutil

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "gpt2_tiny"
BPE = ROOT / "tests" / "data" / "tokenizers" / "bpe"
TEXTS = ["the quick brown fox jumps over the lazy", "Layer-wise relevance propagation explains"]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for f in ("vocab.json", "merges.txt", "tokenizer.json"):
        shutil.copy(BPE / f, OUT / f)
    vocab = len(json.loads((BPE / "vocab.json").read_text()))
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                     bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    model = GPT2LMHeadModel(cfg).eval()
    # Non-trivial layer norms and biases (fresh ones are 1 and 0).
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln_" in name or name.endswith(".bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    model.save_pretrained(str(OUT), safe_serialization=True)
    tok = GPT2TokenizerFast(vocab_file=str(OUT / "vocab.json"), merges_file=str(OUT / "merges.txt"))
    golden = {"transformers_model": "GPT2LMHeadModel", "torch": torch.__version__, "cases": []}
    with torch.no_grad():
        for text in TEXTS:
            ids = tok(text)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0, -1]
            golden["cases"].append({"text": text, "input_ids": ids,
                                    "next_token_logits": [round(float(v), 7) for v in logits]})
    (OUT / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    for f in ("generation_config.json",):
        (OUT / f).unlink(missing_ok=True)
    print(f"wrote {OUT}: vocab {vocab}")


if __name__ == "__main__":
    main()
