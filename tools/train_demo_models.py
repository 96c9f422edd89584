#!/usr/bin/env python3
"""Train the two small models `relprop demo` explains, on real data from scikit-learn, and
write them with tools/export_torch.py into examples/demo/:

  digits/  a CNN on scikit-learn's handwritten digits (8x8, 1797 images; pixel values
           0..16 scaled to 0..1): conv-bn-relu, conv-relu, max-pool, two linear layers.
  cancer/  an MLP on the Wisconsin breast-cancer table (569 patients, 30 features,
           standardised with the training split's mean and std): 30-32-16-2.

Each folder gets graph.json, weights.safetensors, samples.safetensors (held-out test
samples: x, label, and for the table the raw feature values) with the model's outputs on
them (expected.safetensors, for the forward check), and meta.json (class and feature
names, test accuracy, the standardisation). Deterministic (fixed seeds, one thread).

    /usr/bin/python3 tools/train_demo_models.py [--out examples/demo]
(Debian: python3-torch python3-sklearn.)
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torch import _save_safetensors, export  # noqa: E402


def train(model, x, y, epochs, lr, batch=64, weight_decay=0.0):
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    return model


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(self.relu2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


class CancerMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(30, 32)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(32, 16)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


def write_meta(path, meta):
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def digits(out):
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    torch.manual_seed(0)
    model = train(DigitsCNN(), xtr, ytr, epochs=40, lr=2e-3)
    acc = accuracy(model, xte, yte)
    # Two held-out digits of each class, in class order.
    pick = []
    for k in range(10):
        pick += [i for i in range(len(yte)) if int(yte[i]) == k][:2]
    xs, ys = xte[pick], yte[pick]
    export(model, xs, out, ("x",), check=True, metadata={"dataset": "sklearn digits", "test_accuracy": f"{acc:.4f}"})
    os.replace(os.path.join(out, "input.safetensors"), os.path.join(out, "samples.safetensors"))
    _save_safetensors(os.path.join(out, "samples.safetensors"), {"x": xs, "label": ys})
    write_meta(os.path.join(out, "meta.json"), {
        "task": "image", "dataset": "scikit-learn handwritten digits (UCI optdigits), 8x8, values/16",
        "classes": [str(k) for k in range(10)], "test_accuracy": round(acc, 4),
        "train_samples": len(xtr), "test_samples": len(xte)})
    print(f"digits: test accuracy {acc:.4f} on {len(xte)} held-out images -> {out}")


def cancer(out):
    d = load_breast_cancer()
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.25, random_state=0, stratify=d.target)
    mean, std = xtr.mean(0), xtr.std(0)
    f = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    torch.manual_seed(0)
    model = train(CancerMLP(), f(xtr), torch.tensor(ytr), epochs=60, lr=1e-3, batch=32, weight_decay=1e-4)
    acc = accuracy(model, f(xte), torch.tensor(yte))
    pick = list(range(8))
    xs = f(xte[pick])
    export(model, xs, out, ("x",), check=True, metadata={"dataset": "sklearn breast cancer", "test_accuracy": f"{acc:.4f}"})
    os.remove(os.path.join(out, "input.safetensors"))
    _save_safetensors(os.path.join(out, "samples.safetensors"),
                      {"x": xs, "label": torch.tensor(yte[pick]), "raw": torch.tensor(xte[pick], dtype=torch.float32)})
    write_meta(os.path.join(out, "meta.json"), {
        "task": "table", "dataset": "scikit-learn breast cancer (Wisconsin diagnostic), standardised",
        "classes": [str(c) for c in d.target_names], "features": [str(n) for n in d.feature_names],
        "mean": [float(v) for v in mean], "std": [float(v) for v in std], "test_accuracy": round(acc, 4),
        "train_samples": len(xtr), "test_samples": len(xte)})
    print(f"cancer: test accuracy {acc:.4f} on {len(xte)} held-out patients -> {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "examples", "demo"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    digits(os.path.join(a.out, "digits"))
    cancer(os.path.join(a.out, "cancer"))


if __name__ == "__main__":
    main()
