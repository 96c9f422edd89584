#!/usr/bin/env python3
"""Writes tests/data/torchvision/keys.json: the state_dict names and shapes of the
torchvision models relprop builds (random init; no weights are saved), so the C++ tests
check that relprop's builders expect exactly torchvision's parameters.

    python3 tools/export_torchvision_keys.py     (needs torch and torchvision)
"""
import json
import pathlib

import torchvision

MODELS = ["vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "resnet18", "resnet50"]


def main():
    out = {}
    for name in MODELS:
        model = getattr(torchvision.models, name)(weights=None)
        out[name] = {k: list(v.shape) for k, v in model.state_dict().items()}
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "torchvision" / "keys.json"
    path.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(path, sum(len(v) for v in out.values()), "keys")


if __name__ == "__main__":
    main()
