#!/usr/bin/env python3
"""Round trips for tools/export_torch.py: exports torchvision definitions (random weights,
fixed seed) and small models like the tests' own into tests/data/models/export/NAME/
(graph.json, weights.safetensors, input.safetensors and PyTorch's output in
expected.safetensors). tests/nn/test_export_parity.cpp then checks relprop's forward
output against PyTorch's (<= 1e-5 relative) and explains each one.

Definitions relprop cannot express must fail with the offending node named.

    build/pyenv/bin/python tools/test_export_torch.py [--out tests/data/models/export] [--only NAME,...]
Exits non-zero when an export fails or an expected failure does not happen.
"""
import argparse
import os
import pathlib
import sys
import time

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torch import ExportError, export  # noqa: E402


class SmallCNN(nn.Module):
    """Conv + BN + ReLU, max and average pooling, a residual block, flatten, linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = x + torch.relu(self.bn2(self.conv2(x)))  # residual
        x = self.pool2(x)
        return self.fc(x.view(x.size(0), -1))


class Functional(nn.Module):
    """Functional calls, slicing, cat, constants and mean pooling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
        self.fc = nn.Linear(9, 3)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 9))

    def forward(self, x):
        y = nn.functional.silu(self.conv(x))
        y = torch.cat([y[:, :3], torch.sigmoid(y[:, 3:])], dim=1)
        y = nn.functional.adaptive_avg_pool2d(y, (3, 3)).mean((2, 3), keepdim=False)
        y = torch.cat([y, y[:, :3]], 1) * self.scale
        return nn.functional.softmax(self.fc(y), dim=1)


class WithGRU(nn.Module):
    """A recurrent layer: no relprop op, so the export must stop and name the node."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 4, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class SdpaBlock(nn.Module):
    """Self-attention written with F.scaled_dot_product_attention (torch >= 2.0) and @."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.proj = nn.Linear(16, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        qkv = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, 4, 4).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        h = self.proj(a.transpose(1, 2).reshape(x.shape[0], x.shape[1], 16)) + x
        scores = torch.softmax((h @ h.transpose(1, 2)) / 4.0, dim=-1)
        return self.head((scores @ h).mean(dim=1))


def vit_b_16():
    # torchvision zero-initialises the classification head: give it weights so the check
    # compares something.
    m = torchvision.models.vit_b_16()
    nn.init.normal_(m.heads.head.weight, std=0.02)
    nn.init.normal_(m.heads.head.bias, std=0.02)
    return m


class Hardswish(nn.Module):
    """MobileNetV3's activation as a module and as a function."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.act = nn.Hardswish()
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc3(nn.functional.hardswish(self.fc2(self.act(self.fc1(3.0 * x)))))


def mlp():
    return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 4))


MODELS = {
    # name: (factory, input shape)
    "mlp": (mlp, (2, 20)),
    "small_cnn": (SmallCNN, (2, 3, 16, 16)),
    "functional": (Functional, (2, 4, 11, 11)),
    "hardswish": (Hardswish, (2, 12)),
    "resnet18": (lambda: torchvision.models.resnet18(), (1, 3, 224, 224)),
    "resnet50": (lambda: torchvision.models.resnet50(), (1, 3, 224, 224)),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), (1, 3, 224, 224)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), (1, 3, 224, 224)),
    "vit_b_16": (lambda: vit_b_16(), (1, 3, 224, 224)),
}
# Exported with --all only: 530 MB of weights, no structure the others lack (conv + BN +
# ReLU stacks, adaptive pooling, flatten, dropout); kept out of CI's time budget.
EXTRA_MODELS = {
    "vgg11_bn": (lambda: torchvision.models.vgg11_bn(), (1, 3, 224, 224)),
}
if hasattr(nn.functional, "scaled_dot_product_attention"):
    MODELS["sdpa_block"] = (SdpaBlock, (2, 6, 16))
EXPECTED_FAILURES = {
    # name: (factory, input shape, text the error must contain)
    "gru": (lambda: WithGRU(), (1, 5, 4), "fx node 'rnn' (call_module rnn): module GRU has no relprop op"),
}


def randomise_batch_norm(model):
    # Fresh BN layers are the identity; random statistics make the check mean something.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = pathlib.Path(__file__).resolve().parent.parent
    ap.add_argument("--out", default=str(root / "tests" / "data" / "models" / "export"))
    ap.add_argument("--only", default="")
    ap.add_argument("--all", action="store_true", help="also the large models of EXTRA_MODELS")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    torch.set_num_threads(2)
    failures = 0
    models = {**MODELS, **EXTRA_MODELS} if a.all or only else MODELS
    for name, (factory, shape) in models.items():
        started = time.time()
        if only and name not in only:
            continue
        torch.manual_seed(0)
        model = factory().eval()
        randomise_batch_norm(model)
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
        try:
            graph, tensors = export(model, x, os.path.join(a.out, name), ("x",), check=True,
                                    metadata={"source": name, "torch": torch.__version__})
            print(f"export {name:16s} {len(graph['nodes']):4d} nodes {len(tensors):4d} tensors "
                  f"({time.time() - started:.0f} s)", flush=True)
        except ExportError as e:
            print(f"export {name}: FAILED: {e}", file=sys.stderr)
            failures += 1
    for name, (factory, shape, text) in EXPECTED_FAILURES.items():
        if only and name not in only:
            continue
        model = factory().eval()
        try:
            export(model, torch.randn(*shape), None)
            print(f"export {name}: expected a clear failure, but it exported", file=sys.stderr)
            failures += 1
        except ExportError as e:
            ok = text in str(e)
            print(f"export {name:16s} refused as expected: {e}" if ok else f"export {name}: unclear error: {e}",
                  file=sys.stderr if not ok else sys.stdout)
            failures += 0 if ok else 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
