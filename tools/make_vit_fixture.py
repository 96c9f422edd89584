#!/usr/bin/env python3
"""A tiny ViT (ViTForImageClassification, random weights: 32x32 images, 8x8 patches,
hidden 32, 2 layers, 4 heads, 3 labels) as a Hugging Face folder with golden logits from
transformers, for relprop's ViT builder (tests/nn/test_transformers.cpp).

    python tools/make_vit_fixture.py   (transformers 4.36 with Debian's torch in a venv)
writes tests/data/vit_tiny/ (config.json, preprocessor_config.json, model.safetensors,
input.safetensors, golden.json), about 120 KB.
"""
import json
import pathlib

import torch
from transformers import ViTConfig, ViTForImageClassification

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "vit_tiny"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, num_labels=3, id2label={0: "cat", 1: "dog", 2: "bird"},
                    label2id={"cat": 0, "dog": 1, "bird": 2})
    model = ViTForImageClassification(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name or name.endswith(".bias") or "cls_token" in name or "position" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    model.save_pretrained(str(OUT), safe_serialization=True)
    (OUT / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "size": {"height": 32, "width": 32},
         "do_normalize": True, "do_resize": True, "image_processor_type": "ViTImageProcessor"}, indent=1) + "\n")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    from safetensors.torch import save_file
    save_file({"pixel_values": x.contiguous()}, str(OUT / "input.safetensors"))
    with torch.no_grad():
        logits = model(pixel_values=x).logits
    (OUT / "golden.json").write_text(json.dumps({"logits": [[round(float(v), 7) for v in row] for row in logits],
                                                 "torch": torch.__version__}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
