#!/usr/bin/env python3
"""A tiny LLaMA-style decoder (LlamaForCausalLM, random weights: 2 layers, hidden 32, 4
heads sharing 2 key/value heads, SwiGLU 64, rotary positions) as a Hugging Face folder,
with the byte-level BPE tokenizer of tests/data/tokenizers/bpe, and golden next-token
logits from transformers for relprop's LLaMA builder (tests/nn/test_transformers.cpp).

    python tools/make_llama_fixture.py   (transformers 4.36 with Debian's torch in a venv)
writes tests/data/llama_tiny/, about 160 KB.
"""
import json
import pathlib
import shutil

import torch
from transformers import GPT2TokenizerFast, LlamaConfig, LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "llama_tiny"
BPE = ROOT / "tests" / "data" / "tokenizers" / "bpe"
TEXTS = ["the quick brown fox jumps over the lazy", "Layer-wise relevance propagation explains"]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for f in ("vocab.json", "merges.txt", "tokenizer.json"):
        shutil.copy(BPE / f, OUT / f)
    vocab = len(json.loads((BPE / "vocab.json").read_text()))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                      bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    model = LlamaForCausalLM(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    model.save_pretrained(str(OUT), safe_serialization=True)
    (OUT / "generation_config.json").unlink(missing_ok=True)
    tok = GPT2TokenizerFast(vocab_file=str(OUT / "vocab.json"), merges_file=str(OUT / "merges.txt"))
    golden = {"transformers_model": "LlamaForCausalLM", "torch": torch.__version__, "cases": []}
    with torch.no_grad():
        for text in TEXTS:
            ids = tok(text)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0, -1]
            golden["cases"].append({"text": text, "input_ids": ids,
                                    "next_token_logits": [round(float(v), 7) for v in logits]})
    (OUT / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT}: vocab {vocab}")


if __name__ == "__main__":
    main()
