#!/usr/bin/env python3
"""Golden fixtures from DLBacktrace for relprop's Backtrace rule.

DLBacktrace 0.0.25 (the last release whose PyTorch engine has both the default and the
contrastive mode; 0.1.x keeps the default mode only) runs on small sequential models with
fixed random weights:

  mlp       linear-relu-linear-relu-linear                       default, contrastive
  mlp_tanh  linear-tanh-linear-sigmoid-linear (saturation gate)  default
  cnn       conv-relu-maxpool-conv-relu-flatten-linear           default, contrastive
  cnn_avg   conv-relu-maxpool-conv-relu-avgpool-flatten-linear   default

and writes into tests/data/dlbacktrace/<model>/: graph.json, weights.safetensors,
input.safetensors (x, batch 1) and expected.safetensors: 'output', 'default' (input
relevance), and for the contrastive runs 'positive' and 'negative'.

Seeds, as DLBacktrace's eval() makes them (scaler 0, multiplier 100): default, the
arg-max output's own value x 100 at the arg-max (relprop: --seed value --multiplier 100);
contrastive, that for the positive map and every other output's value x 100 for the
negative one (relprop: contrastive_negative_seed with SeedForm::Value, multiplier 100).

DLBacktrace 0.0.25 builds its layer list from consecutive module pairs and drops the last
module unless an activation follows it, so every model here ends in a softmax (which then
gates the last dense layer with softmax's bounds (-1, 2)). It reads the activation after
each layer from the module names ('linear1' then 'relu1'). Its ReLU saturation gate never
fires: the bound test is `if act["range"]["l"]:` and ReLU's lower bound is 0. Its
tanh/sigmoid/softmax gates do fire in dense layers; relprop's `backtrace:gate` is that
gate. The contrastive mode has no gate.

    python3 tools/make_dlbacktrace_fixtures.py      (needs torch, numpy, dl-backtrace==0.0.25)
"""
import json
import pathlib
import sys

import numpy as np
import torch
from torch import nn

from dl_backtrace.pytorch_backtrace.backtrace import Backtrace

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_zennit_fixtures import node, wb, write_safetensors  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "dlbacktrace"


class Mlp(nn.Module):
    def __init__(self, act1=nn.ReLU, act2=nn.ReLU, names=("relu1", "relu2")):
        super().__init__()
        self.identity = nn.Identity()
        self.linear1 = nn.Linear(8, 16)
        setattr(self, names[0], act1())
        self.linear2 = nn.Linear(16, 12)
        setattr(self, names[1], act2())
        self.linear3 = nn.Linear(12, 4)
        self.softmax = nn.Softmax(dim=1)
        self.names = names

    def forward(self, x):
        x = getattr(self, self.names[0])(self.linear1(x))
        x = getattr(self, self.names[1])(self.linear2(x))
        return self.softmax(self.linear3(x))


class Cnn(nn.Module):
    def __init__(self, avg_pool):
        super().__init__()
        self.identity = nn.Identity()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.avg_pool = avg_pool
        if avg_pool:  # 0.0.25's AdaptiveAvgPool2d expects (C,) outputs, not (C, 1, 1): AvgPool2d(4)
            self.gap = nn.AvgPool2d(4)
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(6 if avg_pool else 96, 5)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        x = self.relu2(self.conv2(self.pool1(self.relu1(self.conv1(x)))))
        if self.avg_pool:
            x = self.gap(x)
        return self.softmax(self.linear1(self.flatten(x)))


def mlp_graph(acts):
    return [node("linear1", "linear", ["x"], wb("linear1")), node("act1", acts[0], ["linear1"]),
            node("linear2", "linear", ["act1"], wb("linear2")), node("act2", acts[1], ["linear2"]),
            node("linear3", "linear", ["act2"], wb("linear3")), node("softmax", "softmax", ["linear3"], attrs={"dim": 1})]


def cnn_graph(avg_pool):
    nodes = [node("conv1", "conv2d", ["x"], wb("conv1"), {"padding": 1}), node("relu1", "relu", ["conv1"]),
             node("pool1", "max_pool2d", ["relu1"], attrs={"kernel_size": 2}),
             node("conv2", "conv2d", ["pool1"], wb("conv2"), {"padding": 1}), node("relu2", "relu", ["conv2"])]
    last = "relu2"
    if avg_pool:
        nodes.append(node("gap", "avg_pool2d", ["relu2"], attrs={"kernel_size": 4}))
        last = "gap"
    return nodes + [node("flatten", "flatten", [last]), node("linear1", "linear", ["flatten"], wb("linear1")),
                    node("softmax", "softmax", ["linear1"], attrs={"dim": 1})]


def models():
    gen = torch.Generator().manual_seed(4321)
    torch.manual_seed(4321)
    yield "mlp", Mlp(), torch.randn(1, 8, generator=gen), mlp_graph(["relu", "relu"]), "softmax", True
    # Inputs scaled up so that some pre-activations pass tanh's (-2, 2) and sigmoid's (-4, 4).
    yield ("mlp_tanh", Mlp(nn.Tanh, nn.Sigmoid, ("tanh1", "sigmoid1")), 4.0 * torch.randn(1, 8, generator=gen),
           mlp_graph(["tanh", "sigmoid"]), "softmax", False)
    yield "cnn", Cnn(False), torch.randn(1, 2, 8, 8, generator=gen), cnn_graph(False), "softmax", True
    # 0.0.25's contrastive average pooling indexes (C, 1, 1) maps out of range: default only.
    yield "cnn_avg", Cnn(True), torch.randn(1, 2, 8, 8, generator=gen), cnn_graph(True), "softmax", False


def main():
    for name, model, x, nodes, out_name, contrastive in models():
        model.eval()
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        graph = {"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [-1] + list(x.shape[1:])}],
                 "nodes": nodes, "outputs": [out_name]}
        (folder / "graph.json").write_text(json.dumps(graph, indent=1) + "\n")
        write_safetensors(folder / "weights.safetensors", model.state_dict())
        write_safetensors(folder / "input.safetensors", {"x": x})
        with torch.no_grad():
            output = model(x)
        bt = Backtrace(model=model)
        layer_outputs = bt.predict(x)
        default = bt.eval(layer_outputs, mode="default", multiplier=100.0, task="binary-classification")
        expected = {"output": output, "default": torch.from_numpy(np.asarray(default["identity"])).reshape(x.shape)}
        if contrastive:
            both = bt.eval(layer_outputs, mode="contrast", multiplier=100.0, task="binary-classification")
            for key, out in (("Positive", "positive"), ("Negative", "negative")):
                expected[out] = torch.from_numpy(np.asarray(both["identity"][key])).reshape(x.shape)
        write_safetensors(folder / "expected.safetensors", expected,
                          {"target": str(int(output.argmax())), "dl_backtrace": "0.0.25",
                           "seed": "value x 100 at the arg-max (positive); other outputs' values x 100 (negative)"})
        sums = ", ".join(f"{k} {float(v.sum()):+.4f}" for k, v in expected.items() if k != "output")
        print(f"{name:9s} target {int(output.argmax())}: {sums}")


if __name__ == "__main__":
    main()
