#!/usr/bin/env python3
"""Golden fixtures from DLBacktrace 0.1.x ("v2") for relprop's `backtrace` composite.

DLBacktrace 0.1.24 (PyPI dl-backtrace; a rewrite on torch.export) runs on small models
with fixed random weights and writes, per model, into tests/data/dlbacktrace/v2/<model>/:

  mlp              linear-relu-linear-relu-linear
  mlp_one_sign     as mlp, the target's weight row made positive: its contributions all
                   share one sign, where v2's CPU linear code adds 1 to the denominator
  mlp_tanh         linear-tanh-linear-sigmoid-linear, inputs x4 (v1's gate would fire)
  cnn_avg          conv-relu-avgpool 2x2-conv-relu-flatten-linear
  cnn_max          as cnn_avg with max pooling 2x2, stride 2
  cnn_max_overlap  as cnn_avg with max pooling 3x3, stride 2, padding 1 (windows overlap)
  residual         conv-relu-[conv-relu-conv]+skip-relu-flatten-linear-relu-[linear]+skip
                   -relu-linear

graph.json, weights.safetensors, input.safetensors (x, batch 1) and expected.safetensors:
'output' (the logits), 'default' (v2's input relevance) and where they differ from it,
'corrected' (v2 without its +1, float64) and 'window_uniform' (pooling that shares each
window's relevance equally over the window's in-bounds positions, float64).

How v2 computes (read from its source, and checked here against a float64 model of it,
`reference`, to ~1e-7 on every fixture):
- seed: one-hot at the arg-max of the model's output x multiplier (100); `mode`
  ("contrast" too), `task` (other than "generation"), `scaler`, `thresholding` and
  `start_wt` change nothing (checked on mlp). A trailing softmax is an activation and
  passes.
- linear and conv2d: R_j = sum_k R_k |z_jk| / (P_k + N_k + |b_k|); no saturation gate
  (every layer's activation is recorded as "None"). The CPU linear code replaces P_k = 0
  or N_k = 0 by 1 before dividing; the convolution code does not.
- activations, flatten (`view`): pass. add: R / 2 to each side.
- max and average pooling alike: no pooling rule at all; the relevance of the pooled map
  is copied into blocks of (H / HO) x (W / WO) input positions (np.repeat) and the whole
  map rescaled to its previous total. With windows that tile the input (2x2, stride 2) that
  is an equal share of each window; with overlapping windows it is not the windows.

    build/pyenv-dlb/bin/python tools/make_dlbacktrace_v2_fixtures.py
        (needs torch 2.6, numpy, zennit==0.5.1 for the shared helpers and dl-backtrace
        0.1.24 with --no-deps plus transformers 4.51.3, graphviz, ipython, tqdm; see
        tests/data/dlbacktrace/README.md)
"""
import contextlib
import io
import json
import pathlib
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# 0.1.24 imports three CUDA extensions at start-up; its wheel carries them built for a
# torch with the C++11 ABI (its pinned torch 2.6.0 from PyPI has the old one), so they
# cannot load. The CPU path never calls them: empty modules stand in.
for _ext in ("wt_fc_v3_ops", "wt_embedding_v2_ops", "wt_selfattention_v3_ops"):
    sys.modules.setdefault(_ext, types.ModuleType(_ext))

import dl_backtrace  # noqa: E402
from dl_backtrace import DLBacktrace  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_zennit_fixtures import node, wb, write_safetensors  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "dlbacktrace" / "v2"
MULTIPLIER = 100.0


class Mlp(nn.Module):
    def __init__(self, act1=torch.relu, act2=torch.relu, softmax=False):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 12)
        self.fc3 = nn.Linear(12, 4)
        self.acts, self.softmax = (act1, act2), softmax

    def forward(self, x):
        y = self.fc3(self.acts[1](self.fc2(self.acts[0](self.fc1(x)))))
        return torch.softmax(y, dim=1) if self.softmax else y


class Cnn(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.pool1 = pool
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(96, 5)

    def forward(self, x):
        x = torch.relu(self.conv2(self.pool1(torch.relu(self.conv1(x)))))
        return self.fc(torch.flatten(x, 1))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc1 = nn.Linear(144, 8)
        self.fc2 = nn.Linear(8, 8)
        self.fc3 = nn.Linear(8, 5)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        h = torch.relu(h + self.conv3(torch.relu(self.conv2(h))))
        h = torch.relu(self.fc1(torch.flatten(h, 1)))
        return self.fc3(torch.relu(h + self.fc2(h)))


def mlp_graph(acts=("relu", "relu")):
    return [node("fc1", "linear", ["x"], wb("fc1")), node("act1", acts[0], ["fc1"]),
            node("fc2", "linear", ["act1"], wb("fc2")), node("act2", acts[1], ["fc2"]),
            node("fc3", "linear", ["act2"], wb("fc3"))]


def cnn_graph(pool_op, pool_attrs):
    return [node("conv1", "conv2d", ["x"], wb("conv1"), {"padding": 1}), node("relu1", "relu", ["conv1"]),
            node("pool1", pool_op, ["relu1"], attrs=pool_attrs),
            node("conv2", "conv2d", ["pool1"], wb("conv2"), {"padding": 1}), node("relu2", "relu", ["conv2"]),
            node("flatten", "flatten", ["relu2"]), node("fc", "linear", ["flatten"], wb("fc"))]


def residual_graph():
    return [node("conv1", "conv2d", ["x"], wb("conv1"), {"padding": 1}), node("relu1", "relu", ["conv1"]),
            node("conv2", "conv2d", ["relu1"], wb("conv2"), {"padding": 1}), node("relu2", "relu", ["conv2"]),
            node("conv3", "conv2d", ["relu2"], wb("conv3"), {"padding": 1}),
            node("add1", "add", ["relu1", "conv3"]), node("relu3", "relu", ["add1"]),
            node("flatten", "flatten", ["relu3"]), node("fc1", "linear", ["flatten"], wb("fc1")),
            node("relu4", "relu", ["fc1"]), node("fc2", "linear", ["relu4"], wb("fc2")),
            node("add2", "add", ["relu4", "fc2"]), node("relu5", "relu", ["add2"]),
            node("fc3", "linear", ["relu5"], wb("fc3"))]


# --- a float64 model of what v2 computes, on relprop's graph ----------------------------

def forward(nodes, p, x):
    """Every node's output, float64."""
    a = {"x": x.double()}
    for n in nodes:
        ins = [a[i] for i in n["inputs"]]
        op, at = n["op"], n.get("attrs", {})
        w = lambda k: p[n["params"][k]].double()  # noqa: E731
        if op == "linear":
            a[n["name"]] = F.linear(ins[0], w("weight"), w("bias"))
        elif op == "conv2d":
            a[n["name"]] = F.conv2d(ins[0], w("weight"), w("bias"), padding=at.get("padding", 0))
        elif op in ("relu", "tanh", "sigmoid"):
            a[n["name"]] = getattr(torch, op)(ins[0])
        elif op == "max_pool2d":
            a[n["name"]] = F.max_pool2d(ins[0], at["kernel_size"], at.get("stride"), at.get("padding", 0))
        elif op == "avg_pool2d":
            a[n["name"]] = F.avg_pool2d(ins[0], at["kernel_size"], at.get("stride"), at.get("padding", 0))
        elif op == "flatten":
            a[n["name"]] = torch.flatten(ins[0], 1)
        elif op == "add":
            a[n["name"]] = ins[0] + ins[1]
        else:
            raise ValueError(op)
    return a


def backtrace_dense(R, z, b, plus_one):
    """R (K,), z (K, J) contributions, b (K,): R_j = sum_k R_k |z_kj| / (P_k + N_k + |b_k|)."""
    P = np.clip(z, 0, None).sum(1)
    N = np.clip(-z, 0, None).sum(1)
    if plus_one:  # v2's CPU linear code: a side without contributions counts as 1
        P, N = np.where(P == 0, 1.0, P), np.where(N == 0, 1.0, N)
    D = P + N + np.abs(b)
    D = np.where(D == 0, 1.0, D)
    return (np.abs(z) * (R / D)[:, None]).sum(0)


def pool_blocks(R, in_shape):
    """v2's pooling: np.repeat into (H/HO) x (W/WO) blocks, rescaled to the previous total."""
    fh, fw = in_shape[-2] // R.shape[-2], in_shape[-1] // R.shape[-1]
    assert fh * R.shape[-2] == in_shape[-2] and fw * R.shape[-1] == in_shape[-1]
    r = np.repeat(np.repeat(R, fh, -2), fw, -1)
    if r.sum() > 0 and not np.isclose(r.sum(), R.sum(), rtol=1e-3):
        r = r * (R.sum() / r.sum())
    return r


def pool_windows(R, in_shape, at):
    """Each window output's relevance shared equally by its in-bounds positions."""
    k, s, pad = at["kernel_size"], at.get("stride", at["kernel_size"]), at.get("padding", 0)
    r = np.zeros(in_shape)
    for oh in range(R.shape[-2]):
        for ow in range(R.shape[-1]):
            h0, w0 = max(oh * s - pad, 0), max(ow * s - pad, 0)
            h1, w1 = min(oh * s - pad + k, in_shape[-2]), min(ow * s - pad + k, in_shape[-1])
            r[..., h0:h1, w0:w1] += R[..., oh, ow, None, None] / ((h1 - h0) * (w1 - w0))
    return r


def reference(nodes, p, x, target, plus_one=True, pool="blocks"):
    """Input relevance, float64: v2 (plus_one, pool='blocks') or the variants."""
    a = forward(nodes, p, x)
    out = nodes[-1]["name"]
    R = {out: np.zeros(a[out].shape)}
    R[out][0, target] = MULTIPLIER
    for n in reversed(nodes):
        r = R.pop(n["name"], None)
        if r is None:
            continue
        ins, op = n["inputs"], n["op"]
        xin = a[ins[0]].numpy()
        if op == "linear":
            W, b = p[n["params"]["weight"]].double().numpy(), p[n["params"]["bias"]].double().numpy()
            back = [backtrace_dense(r[0], W * xin[0][None, :], b, plus_one)[None]]
        elif op == "conv2d":
            W, b = p[n["params"]["weight"]].double().numpy(), p[n["params"]["bias"]].double().numpy()
            pad, k = n.get("attrs", {}).get("padding", 0), W.shape[-1]
            xp = np.pad(xin[0], ((0, 0), (pad, pad), (pad, pad)))
            rp = np.zeros_like(xp)
            for i in range(r.shape[2]):
                for j in range(r.shape[3]):
                    z = (W * xp[None, :, i:i + k, j:j + k]).reshape(W.shape[0], -1)
                    rp[:, i:i + k, j:j + k] += backtrace_dense(r[0, :, i, j], z, b, False).reshape(W.shape[1:])
            back = [rp[None, :, pad:pad + xin.shape[2], pad:pad + xin.shape[3]]]
        elif op in ("max_pool2d", "avg_pool2d"):
            back = [pool_blocks(r, xin.shape) if pool == "blocks" else pool_windows(r, xin.shape, n["attrs"])]
        elif op == "add":
            back = [r / 2, r / 2]
        else:  # activations, flatten
            back = [r.reshape(xin.shape)]
        for i, ri in zip(ins, back):
            R[i] = R.get(i, 0) + ri
    return R["x"]


# --- v2 -----------------------------------------------------------------------------------

def run_v2(model, x, **evaluation):
    """v2's input relevance (and its console output swallowed)."""
    args = {"mode": "default", "multiplier": MULTIPLIER, "task": "binary-classification", **evaluation}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        dlb = DLBacktrace(model, input_for_graph=(x,), device="cpu")
        dlb.predict(x)
        rel = dlb.evaluation(**args)
        r = torch.from_numpy(np.array(rel["x"], dtype=np.float32))  # copied: close() clears the dict
        dlb.close()
    return r.reshape(x.shape)


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def models():
    gen = torch.Generator().manual_seed(2468)
    torch.manual_seed(2468)
    yield "mlp", Mlp(), torch.randn(1, 8, generator=gen), mlp_graph()
    one_sign = Mlp()
    x = torch.randn(1, 8, generator=gen)
    with torch.no_grad():
        one_sign.fc3.weight[int(one_sign(x).argmax())].abs_()
    yield "mlp_one_sign", one_sign, x, mlp_graph()
    yield ("mlp_tanh", Mlp(torch.tanh, torch.sigmoid), 4.0 * torch.randn(1, 8, generator=gen),
           mlp_graph(("tanh", "sigmoid")))
    yield "cnn_avg", Cnn(nn.AvgPool2d(2)), torch.randn(1, 2, 8, 8, generator=gen), cnn_graph("avg_pool2d", {"kernel_size": 2})
    yield "cnn_max", Cnn(nn.MaxPool2d(2)), torch.randn(1, 2, 8, 8, generator=gen), cnn_graph("max_pool2d", {"kernel_size": 2})
    yield ("cnn_max_overlap", Cnn(nn.MaxPool2d(3, 2, 1)), torch.randn(1, 2, 8, 8, generator=gen),
           cnn_graph("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}))
    yield "residual", Residual(), torch.randn(1, 2, 6, 6, generator=gen), residual_graph()


def main():
    meta_common = {"dl_backtrace": dl_backtrace.__version__, "torch": torch.__version__.split("+")[0],
                   "seed": f"one-hot x {MULTIPLIER:g} at the arg-max of the output"}
    for name, model, x, nodes in list(models()):  # built before v2 reseeds torch
        model.eval()
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        graph = {"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [-1] + list(x.shape[1:])}],
                 "nodes": nodes, "outputs": [nodes[-1]["name"]]}
        (folder / "graph.json").write_text(json.dumps(graph, indent=1) + "\n")
        params = model.state_dict()
        write_safetensors(folder / "weights.safetensors", params)
        write_safetensors(folder / "input.safetensors", {"x": x})
        with torch.no_grad():
            output = model(x)
        target = int(output.argmax())
        v2 = run_v2(model, x)
        expected = {"output": output, "default": v2}
        # The description above, checked: v2 equals its float64 model on every fixture.
        model_err = rel_err(v2, reference(nodes, params, x, target))
        assert model_err < 1e-5, (name, model_err)
        notes = [f"v2 vs its float64 model {model_err:.1e}"]
        corrected = reference(nodes, params, x, target, plus_one=False)
        gap = rel_err(v2, corrected)
        if name == "mlp_one_sign":
            assert gap > 1e-3, gap  # the +1 is exercised
            expected["corrected"] = torch.from_numpy(corrected)
            notes.append(f"v2 vs corrected {gap:.2e}")
        else:
            assert gap < 1e-5, (name, gap)  # no other fixture has a one-signed neuron that matters
        if "pool" in json.dumps(nodes):
            windows = reference(nodes, params, x, target, plus_one=False, pool="windows")
            notes.append(f"v2 vs window_uniform {rel_err(v2, windows):.2e}")
            if name == "cnn_max_overlap":
                expected["window_uniform"] = torch.from_numpy(windows)
        if name == "mlp":
            # Arguments v2 takes and does not use: the maps are identical.
            for extra in ({"mode": "contrast"}, {"task": "multi-class classification"}, {"scaler": 5.0},
                          {"thresholding": 0.9}, {"start_wt": [np.ones((1, 4))]}):
                assert torch.equal(run_v2(model, x, **extra), v2), extra
            # A trailing softmax passes: the same map.
            soft = Mlp(softmax=True)
            soft.load_state_dict(params)
            assert rel_err(run_v2(soft.eval(), x), v2) < 1e-6
            notes.append("mode/task/scaler/thresholding/start_wt and a trailing softmax change nothing")
        if name == "mlp_one_sign":
            # P + |b| of the target neuron (its contributions are all >= 0): v2 = corrected * (P + |b|) / (P + |b| + 1)
            a = forward(nodes, params, x)["act2"].numpy()[0]
            W, b = params["fc3.weight"].double().numpy()[target], params["fc3.bias"].double().numpy()[target]
            P = float(np.clip(W * a, 0, None).sum())
            assert (W * a).min() >= 0
            factor = (P + abs(b)) / (P + abs(b) + 1.0)
            assert rel_err(v2, corrected * factor) < 1e-5  # the target is the only neuron the +1 changes
            meta_common_one = {"plus_one_factor": repr(factor)}
            notes.append(f"plus_one_factor {factor:.6f}")
        else:
            meta_common_one = {}
        write_safetensors(folder / "expected.safetensors", expected,
                          {"target": str(target), **meta_common, **meta_common_one})
        print(f"{name:16s} target {target}: sum {float(v2.sum()):+.4f}; " + "; ".join(notes))


if __name__ == "__main__":
    main()
