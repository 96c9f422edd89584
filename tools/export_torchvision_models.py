#!/usr/bin/env python3
"""Whole torchvision models for relprop's model-scale checks: weights, an input, the
PyTorch output and Zennit's relevance under several composites.

For each model (torchvision's definition, random initialisation with a fixed seed, batch
norm statistics randomised so that folding them matters), writes into OUT/<model>/:

  weights.safetensors   the state_dict under torchvision's names
  input.safetensors     x: one 224 x 224 image, (1, 3, 224, 224)
  expected.safetensors  'output' (PyTorch, eval mode) and one relevance map per composite
                        (Zennit 0.5.1 with torchvision's canonizers, one-hot seed at the
                        arg-max class): as shipped ('epsilon', ...), and with an exact
                        batch-norm merge in float32 ('epsilon@exact') and float64 ('epsilon@f64')

    python3 tools/export_torchvision_models.py [--out tests/data/models] [--models resnet50,vgg16]

tests/nn/test_model_parity.cpp reads them (and skips when they are absent); relprop's CLI
runs them with `relprop explain --model resnet50 --weights OUT/resnet50/weights.safetensors
--input OUT/resnet50/input.safetensors`. Nothing here is committed: ResNet-50 is ~100 MB.
Needs torch, torchvision and zennit==0.5.1 (tools/requirements.txt).
"""
import argparse
import contextlib
import pathlib
import time
import sys

import torch
import torchvision
from zennit.attribution import Gradient
from zennit.canonizers import MergeBatchNorm
from zennit.composites import (EpsilonAlpha2Beta1Flat, EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite,
                               layer_map_base)
from zennit.rules import Epsilon
from zennit.torchvision import ResNetCanonizer, VGGCanonizer
from zennit.types import Linear

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_zennit_fixtures import randomise_batch_norms, write_safetensors  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def exact_batch_norm_merge(enabled):
    """While active, Zennit's MergeBatchNorm also zeroes the merged BN's eps (restored after)."""
    if not enabled:
        yield
        return
    original = MergeBatchNorm.merge_batch_norm
    touched = []

    def merge(modules, batch_norm):
        original(modules, batch_norm)
        touched.append((batch_norm, batch_norm.eps))
        batch_norm.eps = 0.0

    MergeBatchNorm.merge_batch_norm = staticmethod(merge)
    try:
        yield
    finally:
        MergeBatchNorm.merge_batch_norm = staticmethod(original)
        for bn, eps in touched:
            bn.eps = eps


# The float64 yardsticks cost minutes on 2 cores for VGG-16 (float64 convolutions run
# without oneDNN): there, two composites; the others are covered on the ResNets.
F64_COMPOSITES = {"vgg16": ("epsilon-plus-flat", "epsilon-gamma-box")}


def composites(x, canonizer):
    low, high = torch.full_like(x, -3.0), torch.full_like(x, 3.0)
    yield "epsilon", LayerMapComposite(layer_map=layer_map_base() + [(Linear, Epsilon(epsilon=1e-6))],
                                       canonizers=[canonizer()])
    yield "epsilon-plus-flat", EpsilonPlusFlat(canonizers=[canonizer()])
    yield "epsilon-alpha2-beta1-flat", EpsilonAlpha2Beta1Flat(canonizers=[canonizer()])
    yield "epsilon-gamma-box", EpsilonGammaBox(low=low, high=high, canonizers=[canonizer()])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "models"))
    ap.add_argument("--models", default="resnet18,resnet50,vgg16")
    args = ap.parse_args()
    torch.set_num_threads(2)
    for name in args.models.split(","):
        started = time.time()
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        model = getattr(torchvision.models, name)(weights=None)
        randomise_batch_norms(model, gen)
        model.eval()
        x = torch.randn(1, 3, 224, 224, generator=gen)
        with torch.no_grad():
            output = model(x)
        target = int(output.argmax(dim=1))
        canonizer = ResNetCanonizer if name.startswith("resnet") else VGGCanonizer
        folder = pathlib.Path(args.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        write_safetensors(folder / "weights.safetensors", state)
        write_safetensors(folder / "input.safetensors", {"x": x})
        expected = {"output": output}
        # '<composite>': Zennit 0.5.1 as shipped, float32. Its batch-norm merge leaves the
        # emptied BN's eps in place, so every merged BN still divides by sqrt(1 + eps) and the
        # canonized model's logits drift (~5e-6 per BN) from the model's own; relprop folds
        # exactly. '<composite>@exact' (float32) and '@f64' (float64) use an exact merge (eps
        # set to 0 while attributing): the float64 map is the accuracy yardstick, the float32
        # one shows how close a float32 implementation gets to it.
        runs = [(torch.float32, "", False), (torch.float32, "@exact", True), (torch.float64, "@f64", True)]
        has_bn = any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for mod in model.modules())
        if not has_bn:
            runs.pop(1)  # no batch norm: the exact merge changes nothing
        for dtype, suffix, exact in runs:
            m, xx = model.to(dtype), x.to(dtype)
            for cname, composite in composites(xx, canonizer):
                if dtype == torch.float64 and cname not in F64_COMPOSITES.get(name, (cname,)):
                    continue
                seed = torch.nn.functional.one_hot(torch.tensor([target]), output.shape[1]).to(dtype)
                with exact_batch_norm_merge(exact), Gradient(model=m, composite=composite) as attributor:
                    _, relevance = attributor(xx.clone().requires_grad_(True), seed)
                expected[cname + suffix] = relevance
                print(f"{name:9s} {cname + suffix:32s} sum {relevance.sum().item():+.6e}", flush=True)
        model.to(torch.float32)
        write_safetensors(folder / "expected.safetensors", expected,
                          {"target": str(target), "torch": torch.__version__, "zennit": "0.5.1"})
        print(f"{name}: wrote {folder} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
