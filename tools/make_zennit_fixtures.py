#!/usr/bin/env python3
"""Golden fixtures from Zennit for relprop's CPU rules.

Builds three small PyTorch models with fixed random weights (an MLP; a CNN with batch
norm, max and average pooling; a ResNet-style block with a skip connection), runs Zennit's
composites on them, and writes, per model, into tests/data/zennit/<model>/:

  graph.json            the model in relprop's graph format (written by hand here)
  weights.safetensors   the state_dict, PyTorch's names
  input.safetensors     the input under the graph input's name
  expected.safetensors  'output' and one relevance tensor per composite

Seeds are one-hot (1 at the target of each row), as Zennit's attributor takes them.
Batch norms are merged into the preceding convolution by Zennit's canonizers, which is
what relprop's loader does by graph adjacency.

    python3 tools/make_zennit_fixtures.py        (needs torch and zennit==0.5.1)
"""
import json
import pathlib
import struct

import torch
from zennit.attribution import Gradient
from zennit.canonizers import NamedMergeBatchNorm, SequentialMergeBatchNorm
from zennit.composites import (EpsilonAlpha2Beta1, EpsilonAlpha2Beta1Flat, EpsilonGammaBox, EpsilonPlus,
                               EpsilonPlusFlat, LayerMapComposite, layer_map_base)
from zennit.layer import Sum
from zennit.rules import Epsilon
from zennit.types import Linear

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "zennit"


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> torch.Tensor (written as contiguous float32)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        blob = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def randomise_batch_norms(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


class ResBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.relu1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(4)
        self.sum = Sum()
        self.relu2 = torch.nn.ReLU()
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.flatten = torch.nn.Flatten()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        out = self.relu2(self.sum(torch.stack([x, out], dim=-1)))
        return self.fc(self.flatten(self.avgpool(out)))


def node(name, op, inputs, params=None, attrs=None):
    n = {"name": name, "op": op, "inputs": inputs}
    if params:
        n["params"] = params
    if attrs:
        n["attrs"] = attrs
    return n


def wb(prefix, bias=True):
    p = {"weight": prefix + ".weight"}
    if bias:
        p["bias"] = prefix + ".bias"
    return p


def bn(prefix):
    return {"weight": prefix + ".weight", "bias": prefix + ".bias",
            "running_mean": prefix + ".running_mean", "running_var": prefix + ".running_var"}


def models():
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)

    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12), torch.nn.ReLU(),
                              torch.nn.Linear(12, 4))
    mlp_graph = [node("0", "linear", ["x"], wb("0")), node("1", "relu", ["0"]), node("2", "linear", ["1"], wb("2")),
                 node("3", "relu", ["2"]), node("4", "linear", ["3"], wb("4"))]
    yield "mlp", mlp, torch.randn(3, 8, generator=gen), mlp_graph, "4", []

    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32, 5))
    randomise_batch_norms(cnn, gen)
    cnn_graph = [node("0", "conv2d", ["x"], wb("0"), {"padding": 1}), node("1", "batch_norm2d", ["0"], bn("1")),
                 node("2", "relu", ["1"]), node("3", "max_pool2d", ["2"], attrs={"kernel_size": 2}),
                 node("4", "conv2d", ["3"], wb("4"), {"padding": 1}), node("5", "relu", ["4"]),
                 node("6", "avg_pool2d", ["5"], attrs={"kernel_size": 2}), node("7", "flatten", ["6"]),
                 node("8", "linear", ["7"], wb("8"))]
    yield "cnn", cnn, torch.randn(2, 3, 8, 8, generator=gen), cnn_graph, "8", [SequentialMergeBatchNorm]

    res = ResBlock()
    randomise_batch_norms(res, gen)
    res_graph = [node("conv1", "conv2d", ["x"], wb("conv1", False), {"padding": 1}),
                 node("bn1", "batch_norm2d", ["conv1"], bn("bn1")), node("relu1", "relu", ["bn1"]),
                 node("conv2", "conv2d", ["relu1"], wb("conv2", False), {"padding": 1}),
                 node("bn2", "batch_norm2d", ["conv2"], bn("bn2")), node("sum", "add", ["x", "bn2"]),
                 node("relu2", "relu", ["sum"]), node("avgpool", "adaptive_avg_pool2d", ["relu2"],
                                                       attrs={"output_size": 1}),
                 node("flatten", "flatten", ["avgpool"]), node("fc", "linear", ["flatten"], wb("fc"))]
    merge = [lambda: NamedMergeBatchNorm([(["conv1"], "bn1"), (["conv2"], "bn2")])]
    yield "resblock", res, torch.randn(2, 4, 6, 6, generator=gen), res_graph, "fc", merge


def composites(x, canonizers):
    low, high = torch.full_like(x, -3.0), torch.full_like(x, 3.0)
    def make(c):
        return c(canonizers=[k() for k in canonizers])
    yield "epsilon", make(lambda canonizers: LayerMapComposite(
        layer_map=layer_map_base() + [(Linear, Epsilon(epsilon=1e-6))], canonizers=canonizers))
    yield "epsilon-plus", make(lambda canonizers: EpsilonPlus(canonizers=canonizers))
    yield "epsilon-plus-flat", make(lambda canonizers: EpsilonPlusFlat(canonizers=canonizers))
    yield "epsilon-alpha2-beta1", make(lambda canonizers: EpsilonAlpha2Beta1(canonizers=canonizers))
    yield "epsilon-alpha2-beta1-flat", make(lambda canonizers: EpsilonAlpha2Beta1Flat(canonizers=canonizers))
    yield "epsilon-gamma-box", make(lambda canonizers: EpsilonGammaBox(low=low, high=high, canonizers=canonizers))


def main():
    for name, model, x, nodes, out_name, canonizers in models():
        model.eval()
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        graph = {"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [-1] + list(x.shape[1:])}],
                 "nodes": nodes, "outputs": [out_name]}
        (folder / "graph.json").write_text(json.dumps(graph, indent=1) + "\n")
        state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        write_safetensors(folder / "weights.safetensors", state)
        write_safetensors(folder / "input.safetensors", {"x": x})
        with torch.no_grad():
            output = model(x)
        target = output.argmax(dim=1)
        expected = {"output": output}
        for cname, composite in composites(x, canonizers):
            seed = torch.nn.functional.one_hot(target, output.shape[1]).to(output)
            with Gradient(model=model, composite=composite) as attributor:
                _, relevance = attributor(x.clone().requires_grad_(True), seed)
            expected[cname] = relevance
            print(f"{name:9s} {cname:26s} sum {relevance.sum().item():+.6f}")
        write_safetensors(folder / "expected.safetensors", expected,
                          {"targets": ",".join(str(int(t)) for t in target), "torch": torch.__version__,
                           "zennit": "0.5.1"})


if __name__ == "__main__":
    main()
