#!/usr/bin/env python3
"""relprop side by side with the Python LRP tools, in one run on one machine.

    python3 bench/compare/compare.py resnet50            one comparison
    python3 bench/compare/compare.py all --rounds 5      every model
    python3 bench/compare/compare.py vgg16 --conv-algorithm winograd
    python3 bench/compare/compare.py --list
    python3 bench/compare/compare.py report R1.json R2.json --plot times.png

For each model it prepares the weights and input once (build/compare/<model>/), then
alternates relprop (build/<preset>/bench/relprop_time, C++, in-process timing) and the
reference (PyTorch + Zennit, LXT or DLBacktrace, each in its own interpreter and
process) for --rounds rounds; every process times --repeat calls after warm-up. It checks
that the two relevance maps agree (max |relprop - ref| / max |ref|), and prints median
times, peak RSS and the ratio. Both sides run on --threads threads (2): OMP_NUM_THREADS for
relprop, torch.set_num_threads for the reference, whose BLAS is told the real core kind
(OPENBLAS_CORETYPE=SkylakeX for Debian's OpenBLAS, which otherwise detects these CPUs
as "Prescott" and runs about 4.7x slower).

Interpreters (bench/compare/setup.sh makes both):
  the references (Zennit 0.5.1, LXT 2.1, DLBacktrace 0.0.25):
      build/lxtenv: PyPI torch 2.5.1 (MKL), transformers 4.51.3 (--zennit-python, --lxt-python)
  weights, inputs, graphs (tools/export_torch.py) and this driver:
      build/pyenv: scripts/models.sh's Debian torch 1.13 + torchvision (--prepare-python)
Debian's torch calls the system BLAS, the reference netlib one unless libopenblas is
installed: 100x slower GEMMs, so it is not used for timing.
The same file holds the reference runners (`ref-zennit`, `ref-lxt`, `ref-dlb`,
`prepare-*`), which the driver starts under those interpreters.

--conv-algorithm winograd runs relprop's 3x3 stride-1 convolutions by Winograd F(2x2,3x3)
(ops/conv.hpp; the default is direct); the table marks those rows "(winograd)".

--device cuda runs both sides on the GPU (each timed call synchronised). There
--precision fp32 (the default) runs both in IEEE float32: the reference's PyTorch is told
not to use TF32 (its default lets cuDNN convolutions use it); --precision tf32 lets both
use TF32 tensor cores. --cuda-graphs times relprop through GraphExplainer, which captures
the explanation as a CUDA Graph and replays it; the table marks those rows "(graph)"
("(graph: eager)" where a round could not capture and ran eagerly).

Results: a table on stdout, a JSON file per run in build/compare/results/, and with
--plot a PNG of the median times per model (relprop against the references).
"""
import argparse
import datetime
import json
import os
import pathlib
import statistics
import struct
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
WORK = ROOT / "build" / "compare"
THIS = pathlib.Path(__file__).resolve()

# model: reference tool, relprop composite, reference composite, what the rows mean.
MODELS = {
    "mlp": dict(ref="zennit", composite="epsilon", note="MLP 784-512-512-10, batch 1"),
    "mlp256": dict(ref="zennit", composite="epsilon", note="the same MLP at batch 256"),
    "lenet": dict(ref="zennit", composite="epsilon-plus-flat", note="LeNet-5 style CNN, 1x28x28"),
    "resnet18": dict(ref="zennit", composite="epsilon-plus-flat", note="torchvision ResNet-18, random weights"),
    "resnet50": dict(ref="zennit", composite="epsilon-plus-flat", note="torchvision ResNet-50, random weights"),
    "vgg16": dict(ref="zennit", composite="epsilon-gamma-box", note="torchvision VGG-16, random weights"),
    "efficientnet_lite0": dict(ref="zennit", composite="epsilon-plus-flat",
                               note="EfficientNet-Lite0, pretrained (PyPI)"),
    "minilm": dict(ref="lxt", composite="attnlrp", note="all-MiniLM-L6-v2 (real), seq 128, mean pooling"),
    "bert_base": dict(ref="lxt", composite="attnlrp", note="BERT-base, random weights, seq 128, pooler"),
    "gpt2": dict(ref="lxt", composite="attnlrp", note="GPT-2 small, random weights, seq 128, next token"),
    "vit_b_16": dict(ref="lxt", composite="cp-lrp", note="torchvision ViT-B/16, random weights (LXT's ViT map is CP-LRP)"),
    "mlp_dlb": dict(ref="dlb", composite="backtrace", note="MLP 784-512-512-10 + softmax, DLBacktrace 0.0.25"),
}


# ---- safetensors without the package -------------------------------------------------
def write_st(path, tensors):
    import numpy as np
    header, blobs, off = {}, [], 0
    codes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("float64"): "F64"}
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[k] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = pathlib.Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def read_st(path):
    import numpy as np
    data = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    kinds = {"F32": np.float32, "I64": np.int64, "F64": np.float64}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        if v["dtype"] not in kinds:
            raise SystemExit(f"{path}: tensor {k} has dtype {v['dtype']} (F32, F64, I64 read here)")
        out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=kinds[v["dtype"]]).reshape(v["shape"])
    return out


def torch_state_from_st(path):
    import torch
    return {k: torch.from_numpy(v.copy()) for k, v in read_st(path).items()}


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, repeat, warmup, sync=None):
    """Times fn() `repeat` times after `warmup` calls; `sync` (a GPU's synchronize) ends
    each timed call, so queued GPU work is counted."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def set_tf32(torch, on):
    """PyTorch's TF32 switches for cuDNN convolutions and cuBLAS matrix products (the
    newer fp32_precision settings where this PyTorch has them)."""
    try:
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
    except AttributeError:
        torch.backends.cudnn.allow_tf32 = on
        torch.backends.cuda.matmul.allow_tf32 = on


def device_of(a):
    """(torch.device, synchronize function or None) for --device."""
    import torch
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no GPU")
    if dev.type == "cuda":
        set_tf32(torch, a.precision == "tf32")
    return dev, (torch.cuda.synchronize if dev.type == "cuda" else None)


# ---- models on the PyTorch side -------------------------------------------------------
def torch_model(name, folder):
    """The reference's nn.Module for `name`, with the weights in folder/weights.safetensors."""
    import torch
    from torch import nn
    if name in ("mlp", "mlp256"):
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    elif name == "lenet":
        model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                              nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                              nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    elif name in ("resnet18", "resnet50", "vgg16", "vit_b_16"):
        import torchvision
        model = getattr(torchvision.models, name)()
    elif name == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet
        model = EfficientNet.from_name("efficientnet-lite0")
    else:
        raise SystemExit(f"no PyTorch definition for {name}")
    if (folder / "weights.safetensors").exists():
        state = torch_state_from_st(folder / "weights.safetensors")
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise SystemExit(f"{name}: weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def prepare_vision(name, folder):
    """Random weights (batch norms with random statistics) and a random input, or the
    pretrained EfficientNet-Lite0 on a photograph; ViT also as relprop's graph."""
    import numpy as np
    import torch
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "efficientnet_lite0":
        sys.path.insert(0, str(ROOT / "tools"))
        from export_efficientnet_lite0 import image, load_model
        model, state = load_model()
        x, _ = image()
    else:
        model = torch_model(name, folder)
        g = torch.Generator().manual_seed(1)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        if name == "vit_b_16":  # torchvision zero-initialises the head
            torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        shape = {"mlp": (1, 784), "mlp256": (256, 784), "lenet": (1, 1, 28, 28)}.get(name, (1, 3, 224, 224))
        x = torch.randn(*shape, generator=g)
        state = model.state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    write_st(folder / "weights.safetensors", {k: v.detach().float().numpy() for k, v in state.items()})
    write_st(folder / "input.safetensors", {"x": x.float().numpy()})
    if name in ("mlp", "mlp256", "lenet", "vit_b_16"):
        sys.path.insert(0, str(ROOT / "tools"))
        from export_torch import export
        model.load_state_dict(state, strict=False)
        export(model.eval(), x, str(folder / "export"), ("x",))
    print(f"prepared {folder}")


def prepare_text(name, folder):
    """Random BERT-base / GPT-2 small folders (transformers' own initialisation), or the
    real MiniLM; 128 token ids."""
    import numpy as np
    import torch
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if name == "bert_base":
        from transformers import BertConfig, BertModel
        BertModel(BertConfig()).save_pretrained(str(folder / "hf"), safe_serialization=True)
        vocab = 30522
    elif name == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel
        GPT2LMHeadModel(GPT2Config()).save_pretrained(str(folder / "hf"), safe_serialization=True)
        vocab = 50257
    else:
        vocab = 30522
    g = np.random.default_rng(3)
    ids = g.integers(1000, vocab - 1, size=(1, 128)).astype(np.int64)
    if name != "gpt2":
        ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
    write_st(folder / "input.safetensors", {"input_ids": ids})
    print(f"prepared {folder}")


def prepare_dlb(folder):
    """An MLP 784-512-512-10 + softmax in DLBacktrace's layout, and relprop's graph of it."""
    import numpy as np
    import torch
    folder.mkdir(parents=True, exist_ok=True)
    model = dlb_mlp()
    x = torch.randn(1, 784, generator=torch.Generator().manual_seed(1))
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    write_st(folder / "weights.safetensors", state)
    write_st(folder / "input.safetensors", {"x": x.numpy()})
    nodes, prev = [], "x"
    for i in (1, 2, 3):
        nodes.append({"name": f"linear{i}", "op": "linear", "inputs": [prev],
                      "params": {"weight": f"linear{i}.weight", "bias": f"linear{i}.bias"}})
        prev = f"linear{i}"
        if i < 3:
            nodes.append({"name": f"relu{i}", "op": "relu", "inputs": [prev]})
            prev = f"relu{i}"
    nodes.append({"name": "softmax", "op": "softmax", "inputs": [prev], "attrs": {"dim": 1}})
    prev = "softmax"
    graph = {"format": "relprop-graph", "version": 1, "inputs": [{"name": "x", "shape": [1, 784]}],
             "nodes": nodes, "outputs": [prev]}
    (folder / "graph.json").write_text(json.dumps(graph, indent=1))
    print(f"prepared {folder}")


def dlb_mlp():
    import torch
    from torch import nn

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.identity = nn.Identity()
            self.linear1, self.relu1 = nn.Linear(784, 512), nn.ReLU()
            self.linear2, self.relu2 = nn.Linear(512, 512), nn.ReLU()
            self.linear3, self.softmax = nn.Linear(512, 10), nn.Softmax(dim=1)

        def forward(self, x):
            x = self.relu1(self.linear1(self.identity(x)))
            return self.softmax(self.linear3(self.relu2(self.linear2(x))))
    torch.manual_seed(0)
    return Mlp().eval()


# ---- reference runners (run under the reference's interpreter) -----------------------
def zennit_composite(name, composite, model, x):
    import torch
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer
    from zennit.types import Linear
    if name.startswith("resnet"):
        canon = [ResNetCanonizer()]
    elif name == "vgg16":
        canon = [VGGCanonizer()]
    elif name == "efficientnet_lite0":
        sys.path.insert(0, str(ROOT / "tools"))
        from export_efficientnet_lite0 import merge_pairs, sum_canonize
        from zennit.canonizers import NamedMergeBatchNorm
        sum_canonize(model)
        canon = [NamedMergeBatchNorm(merge_pairs(model))]
    else:
        canon = [SequentialMergeBatchNorm()]
    if composite == "epsilon":
        return LayerMapComposite(layer_map=layer_map_base() + [(Linear, Epsilon(epsilon=1e-6))], canonizers=canon)
    if composite == "epsilon-plus-flat":
        return EpsilonPlusFlat(canonizers=canon)
    if composite == "epsilon-gamma-box":
        return EpsilonGammaBox(low=torch.full_like(x, -3.0), high=torch.full_like(x, 3.0), canonizers=canon)
    raise SystemExit(f"no Zennit composite {composite}")


def ref_zennit(a):
    import numpy as np
    import torch
    from zennit.attribution import Gradient
    torch.set_num_threads(a.threads)
    folder = pathlib.Path(a.folder)
    dev, sync = device_of(a)
    model = torch_model(a.model, folder).to(dev)
    x = torch.from_numpy(read_st(folder / "input.safetensors")["x"].copy()).to(dev)
    with torch.no_grad():
        y = model(x)
    target = y.argmax(dim=1)
    seed = torch.zeros_like(y)
    seed[torch.arange(y.shape[0]), target] = 1.0

    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        xx = x.clone().requires_grad_(True)
        out = model(xx)
        torch.autograd.grad(out, xx, seed)

    fwd = timed(forward, a.repeat, a.warmup, sync)
    grad = timed(gradient, a.repeat, a.warmup, sync)
    for p in model.parameters():
        p.requires_grad_(False)
    composite = zennit_composite(a.model, a.composite, model, x)
    with Gradient(model=model, composite=composite) as attributor:
        holder = {}

        def explain():
            _, holder["r"] = attributor(x, seed)
        exp = timed(explain, a.repeat, a.warmup, sync)
    r = holder["r"].detach().cpu().numpy().astype(np.float32)
    np.save(a.out, r)
    return {"forward_ms": statistics.median(fwd), "grad_ms": statistics.median(grad),
            "explain_ms": statistics.median(exp), "explain_all": exp, "peak_rss_mb": peak_rss_mb(),
            "target": int(target[0]), "tool": "zennit 0.5.1", "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"}


def ref_lxt(a):
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    from lxt.efficient import monkey_patch
    folder = pathlib.Path(a.folder)
    dev, sync = device_of(a)
    if a.model == "vit_b_16":
        from torchvision.models import vision_transformer
        import lxt.efficient.models as lm
        monkey_patch(vision_transformer, lm.vit_torch.cp_LRP)
        model = torch_model("vit_b_16", folder).to(dev)
        x = torch.from_numpy(read_st(folder / "input.safetensors")["x"].copy()).to(dev)
        for p in model.parameters():
            p.requires_grad_(False)

        def run(explain):
            if not explain:
                with torch.no_grad():
                    return model(x), None
            xx = x.clone().requires_grad_(True)
            y = model(xx)
            return y[0], xx
        select = lambda y: y[int(y.argmax())]  # noqa: E731
    else:
        if a.model == "gpt2":
            import transformers.models.gpt2.modeling_gpt2 as mod
            from transformers import GPT2LMHeadModel as Auto
            hf = folder / "hf"
        else:
            import transformers.models.bert.modeling_bert as mod
            from transformers import BertModel as Auto
            hf = folder / "hf" if a.model == "bert_base" else ROOT / "tests" / "data" / "models" / "all-MiniLM-L6-v2"
        monkey_patch(mod)  # LXT's default map: AttnLRP
        model = Auto.from_pretrained(str(hf), attn_implementation="eager").eval().to(dev)
        for p in model.parameters():
            p.requires_grad_(False)
        ids = torch.from_numpy(read_st(folder / "input.safetensors")["input_ids"].copy()).to(dev)
        embed = model.get_input_embeddings()

        def run(explain):
            ctx = torch.enable_grad() if explain else torch.no_grad()
            with ctx:
                e = embed(ids)
                if explain:
                    e = e.detach().requires_grad_(True)
                out = model(inputs_embeds=e)
                if a.model == "gpt2":
                    y = out.logits[0, -1]
                elif a.model == "minilm":
                    y = out.last_hidden_state.mean(dim=1)[0]
                else:
                    y = out.pooler_output[0]
                return y, e
        select = lambda y: y[int(y.argmax())]  # noqa: E731

    def forward():
        run(False)

    holder = {}

    def explain():
        y, e = run(True)
        s = select(y)
        s.backward()  # gradient 1 at the target: Gradient x Input = LRP seeded with its value
        holder["r"] = (e * e.grad).detach()
        holder["t"] = int(y.argmax())

    fwd = timed(forward, a.repeat, a.warmup, sync)
    exp = timed(explain, a.repeat, a.warmup, sync)
    r = holder["r"]
    r = r.sum(-1)[0] if a.model != "vit_b_16" else r
    np.save(a.out, r.cpu().numpy().astype(np.float32))
    import lxt
    return {"forward_ms": statistics.median(fwd), "explain_ms": statistics.median(exp), "explain_all": exp,
            "peak_rss_mb": peak_rss_mb(), "target": holder["t"], "tool": "lxt 2.1 (efficient)",
            "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"}


def ref_dlb(a):
    import numpy as np
    import torch
    from dl_backtrace.pytorch_backtrace.backtrace import Backtrace
    torch.set_num_threads(a.threads)
    folder = pathlib.Path(a.folder)
    model = dlb_mlp()
    model.load_state_dict(torch_state_from_st(folder / "weights.safetensors"))
    x = torch.from_numpy(read_st(folder / "input.safetensors")["x"].copy())
    bt = Backtrace(model=model)
    holder = {}

    def explain():
        outs = bt.predict(x)
        holder["r"] = bt.eval(outs, mode="default", multiplier=100.0, task="binary-classification")
    exp = timed(explain, a.repeat, a.warmup)
    np.save(a.out, np.asarray(holder["r"]["identity"], dtype=np.float32).reshape(1, -1))
    return {"explain_ms": statistics.median(exp), "explain_all": exp, "peak_rss_mb": peak_rss_mb(),
            "tool": "dl-backtrace 0.0.25", "torch": torch.__version__}


# ---- the driver -----------------------------------------------------------------------
def relprop_cmd(name, folder, a):
    exe = pathlib.Path(a.relprop_time)
    spec = MODELS[name]
    if name in ("mlp", "mlp256", "lenet", "vit_b_16"):
        m = ["--graph", str(folder / "export" / "graph.json"), "--weights", str(folder / "export" / "weights.safetensors")]
    elif name == "mlp_dlb":
        m = ["--graph", str(folder / "graph.json"), "--weights", str(folder / "weights.safetensors")]
    elif spec["ref"] == "lxt":
        hf = folder / "hf" if name != "minilm" else ROOT / "tests" / "data" / "models" / "all-MiniLM-L6-v2"
        m = ["--hf", str(hf)]
    else:
        m = ["--model", name, "--weights", str(folder / "weights.safetensors")]
    extra = ["--epsilon", "0"] if spec["ref"] == "lxt" else []
    seed = ["--seed-one"] if spec["ref"] == "zennit" else []
    if name == "mlp_dlb":  # DLBacktrace: value x 100 at the arg-max, the softmax gate on the last layer
        seed = ["--multiplier", "100", "--rule", "linear3=backtrace:gate"]
    return [str(exe)] + m + ["--input", str(folder / "input.safetensors"), "--composite", spec["composite"],
                             "--repeat", str(a.repeat), "--warmup", str(a.warmup),
                             "--out", str(folder / "relprop.safetensors"), "--device", a.device,
                             "--conv-algorithm", a.conv_algorithm] + extra + seed + (
        ["--precision", a.precision] if a.device == "cuda" else []) + (["--graphs"] if a.cuda_graphs else [])


def run_json(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ...: exit {p.returncode}\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def agreement(ours, ref):
    """(max |a - b| / max |b|, ||a - b|| / ||b||)."""
    import numpy as np
    a, b = ours.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    if a.size != b.size or not np.abs(b).max() > 0:
        return float("nan"), float("nan")
    return float(np.abs(a - b).max() / np.abs(b).max()), float(np.linalg.norm(a - b) / np.linalg.norm(b))


def compare(name, a):
    import numpy as np
    spec = MODELS[name]
    folder = WORK / name
    py = {"zennit": a.zennit_python, "dlb": a.zennit_python, "lxt": a.lxt_python}[spec["ref"]]
    graph_models = ("mlp", "mlp256", "lenet", "vit_b_16")
    ready = folder / ("export/graph.json" if name in graph_models else "input.safetensors")
    if not ready.exists():
        kind = "prepare-text" if name in ("minilm", "bert_base", "gpt2") else (
            "prepare-dlb" if name == "mlp_dlb" else "prepare-vision")
        prep_py = a.lxt_python if kind == "prepare-text" else a.prepare_python
        subprocess.run([prep_py, str(THIS), kind, name, str(folder)], check=True)
    env_ref = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "SkylakeX"),
                   OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    env_ours = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    ref_cmd = [py, str(THIS), f"ref-{spec['ref']}", name, str(folder), "--composite", spec["composite"],
               "--repeat", str(a.repeat if spec["ref"] != "dlb" else max(1, a.repeat // 5)),
               "--warmup", str(a.warmup if spec["ref"] != "dlb" else 1), "--threads", str(a.threads),
               "--out", str(folder / "ref.npy"), "--device", a.device, "--precision", a.precision]
    ours, refs = [], []
    for _ in range(a.rounds):
        ours.append(run_json(relprop_cmd(name, folder, a), env_ours))
        refs.append(run_json(ref_cmd, env_ref))
    r_ours = read_st(folder / "relprop.safetensors")["relevance"]
    r_ref = np.load(folder / "ref.npy")
    med = lambda rows, k: statistics.median(r[k] for r in rows) if k in rows[0] else None  # noqa: E731
    row = {
        "model": name, "note": spec["note"], "conv_algorithm": ours[0].get("conv_algorithm", "direct"),
        "reference": refs[0]["tool"], "torch": refs[0]["torch"],
        "composite": spec["composite"], "threads": a.threads, "rounds": a.rounds, "repeat": a.repeat,
        "device": refs[0].get("device", "cpu"), "precision": a.precision if a.device == "cuda" else "fp32",
        # "replayed" only when every round replayed its CUDA Graph
        "graphs": min((r.get("graphs", "off") for r in ours), key=("off", "eager", "replayed").index),
        "relprop_forward_ms": med(ours, "forward_ms"), "relprop_explain_ms": med(ours, "explain_ms"),
        "relprop_rss_mb": max(r["peak_rss_mb"] for r in ours),
        "ref_forward_ms": med(refs, "forward_ms"), "ref_grad_ms": med(refs, "grad_ms"),
        "ref_explain_ms": med(refs, "explain_ms"), "ref_rss_mb": max(r["peak_rss_mb"] for r in refs),
        "targets": [ours[-1]["target"], refs[-1].get("target")],
    }
    row["agreement"], row["agreement_l2"] = agreement(r_ours, r_ref)
    row["speedup"] = row["ref_explain_ms"] / row["relprop_explain_ms"]
    return row


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def label(r):
    """A row's model name with how relprop ran when not the default."""
    return r["model"] + (" (winograd)" if r.get("conv_algorithm") == "winograd" else "") + (
        {"off": "", "replayed": " (graph)"}.get(r.get("graphs", "off"), " (graph: eager)")) + (
        " (tf32)" if r.get("precision") == "tf32" else "")


def print_table(rows):
    head = ("model", "reference", "relprop ms", "ref ms", "speed-up", "relprop fwd", "ref fwd", "ref fwd+grad",
            "relprop RSS MB", "ref RSS MB", "max rel. diff", "L2 rel. diff")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        vals = (label(r), r["reference"], r["relprop_explain_ms"], r["ref_explain_ms"], r["speedup"],
                r["relprop_forward_ms"], r["ref_forward_ms"], r["ref_grad_ms"], r["relprop_rss_mb"], r["ref_rss_mb"],
                r["agreement"], r["agreement_l2"])
        print("| " + " | ".join(fmt(v) for v in vals) + " |", flush=True)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [label(r) for r in rows]
    fig, ax = plt.subplots(figsize=(1.2 * len(rows) + 2, 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["relprop_explain_ms"] for r in rows], 0.4, label="relprop")
    ax.bar([x + 0.2 for x in xs], [r["ref_explain_ms"] for r in rows], 0.4, label="reference (Zennit / LXT / DLBacktrace)")
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("explanation, median ms (log)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                    help="cuda: relprop and the reference both on GPU 0 (DLBacktrace stays on the CPU)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "tf32"),
                    help="on the GPU: IEEE float32 on both sides (default), or TF32 tensor cores on both")
    ap.add_argument("--cuda-graphs", action="store_true",
                    help="relprop through GraphExplainer (CUDA Graph capture and replay)")
    ap.add_argument("--conv-algorithm", default="direct", choices=("direct", "winograd"),
                    help="relprop's 3x3 stride-1 CPU convolutions: direct GEMMs (default) or Winograd F(2x2,3x3)")
    ap.add_argument("--composite", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--plot", default="")
    ap.add_argument("--relprop-time", default=str(ROOT / "build" / "bench" / "bench" / "relprop_time"))
    # The references run on PyPI's torch (MKL): Debian's torch 1.13 calls the system BLAS,
    # which is the reference (netlib) BLAS unless libopenblas is installed (100x slower).
    ap.add_argument("--zennit-python", default=str(ROOT / "build" / "lxtenv" / "bin" / "python"))
    # Weights, inputs and graphs are made with scripts/models.sh's interpreter (Debian's
    # torch 1.13 with torchvision and the EfficientNet packages), as the tests' exports are.
    ap.add_argument("--prepare-python", default=str(ROOT / "build" / "pyenv" / "bin" / "python"))
    ap.add_argument("--lxt-python", default=str(ROOT / "build" / "lxtenv" / "bin" / "python"))
    a = ap.parse_args()
    try:
        import numpy  # noqa: F401
    except ImportError:  # the driver needs numpy: run it under the Zennit interpreter
        if pathlib.Path(a.prepare_python).exists() and os.path.realpath(sys.executable) != os.path.realpath(a.prepare_python):
            os.execv(a.prepare_python, [a.prepare_python, str(THIS)] + sys.argv[1:])
        raise SystemExit("compare.py needs numpy (run bench/compare/setup.sh)")
    if a.list:
        for k, v in MODELS.items():
            print(f"{k:20s} {v['ref']:7s} {v['composite']:18s} {v['note']}")
        return
    if a.what.startswith("ref-"):
        a.model, a.folder = a.args
        result = {"ref-zennit": ref_zennit, "ref-lxt": ref_lxt, "ref-dlb": ref_dlb}[a.what](a)
        print(json.dumps(result))
        return
    if a.what == "report":  # tables (and --plot) from saved result files
        rows = [r for f in a.args for r in json.loads(pathlib.Path(f).read_text())]
        keys = ("relprop_explain_ms", "ref_explain_ms", "speedup", "relprop_forward_ms", "ref_forward_ms",
                "ref_grad_ms", "relprop_rss_mb", "ref_rss_mb", "agreement", "agreement_l2")
        for r in rows:
            for k in keys:
                r.setdefault(k, None)
        print_table(rows)
        if a.plot:
            plot(rows, a.plot)
            print(f"wrote {a.plot}")
        return
    if a.what == "prepare-vision":
        return prepare_vision(a.args[0], pathlib.Path(a.args[1]))
    if a.what == "prepare-text":
        return prepare_text(a.args[0], pathlib.Path(a.args[1]))
    if a.what == "prepare-dlb":
        return prepare_dlb(pathlib.Path(a.args[1]))
    if a.device != "cuda" and (a.precision != "fp32" or a.cuda_graphs):
        raise SystemExit("--precision tf32 and --cuda-graphs need --device cuda")
    names = list(MODELS) if a.what == "all" else [a.what] + a.args
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"unknown model '{n}' (--list shows them)")
    rows = []
    for n in names:
        try:
            rows.append(compare(n, a))
        except (RuntimeError, subprocess.CalledProcessError) as e:
            print(f"{n}: FAILED: {e}", file=sys.stderr)
            continue
        print_table(rows[-1:])
    print()
    print(f"{datetime.date.today()}, {a.threads} threads, {a.rounds} alternating rounds x {a.repeat} timed calls; "
          "medians; relevance maps compared by max |relprop - ref| / max |ref| and the L2 ratio")
    print_table(rows)
    out = pathlib.Path(a.out) if a.out else WORK / "results" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")
    if a.plot and rows:
        plot(rows, a.plot)
        print(f"wrote {a.plot}")


if __name__ == "__main__":
    main()
