#!/usr/bin/env python3
"""Export a PyTorch nn.Module to relprop's format: graph.json + weights.safetensors.

The module is traced with torch.fx (symbolic_trace) and every call is mapped to a relprop
op with PyTorch's attribute names; parameters keep their state_dict names, so the weights
file is the module's own state_dict (only the tensors the graph reads), and constants the
graph needs are stored beside them. Anything without a relprop op stops the export with
the fx node's name and what it calls.

As a library:
    from export_torch import export
    graph, tensors = export(model, example_input, "out_dir")          # writes both files

From the command line (torchvision definitions, random or given weights):
    python tools/export_torch.py torchvision:resnet18 --shape 1,3,224,224 --out DIR
    python tools/export_torch.py my_models.py:build --shape 1,1,28,28 --out DIR [--weights W.pt]
With --check it also writes input.safetensors and expected.safetensors (PyTorch's output
under "output"), which `relprop explain` or the tests compare against.
"""
import argparse
import importlib
import importlib.util
import json
import operator
import os
import sys

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp


class ExportError(Exception):
    """Raised for a module relprop's format cannot express; names the fx node."""


def _pair_list(v):
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v]
    return int(v)


def _save_safetensors(path, tensors, metadata=None):
    """A minimal safetensors writer (F32/I64 little-endian), so that only torch is needed."""
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.float16: "F16"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in dtypes:
            t = t.float()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, able to unpack shapes (`n, c, h, w = x.shape`) on Python 3.11,
    where torch 1.13's own bytecode check misses the UNPACK_SEQUENCE that follows."""

    def iter(self, obj):
        import dis
        import inspect
        frame = inspect.currentframe()
        while frame is not None and frame.f_code.co_filename.endswith(("fx/proxy.py", "export_torch.py")):
            frame = frame.f_back
        if frame is not None:
            after = False
            for inst in dis.get_instructions(frame.f_code):
                if inst.offset == frame.f_lasti:
                    if inst.opname == "UNPACK_SEQUENCE":  # Python 3.11: the unpack itself is running
                        return iter([obj[i] for i in range(inst.argval)])
                    after = True
                    continue
                if after and inst.opname not in ("CACHE", "PRECALL", "EXTENDED_ARG"):
                    if inst.opname == "UNPACK_SEQUENCE":
                        return iter([obj[i] for i in range(inst.argval)])
                    break
        return super().iter(obj)

    def trace(self, root, concrete_args=None):
        # torch 1.13's Proxy.__iter__ indexes the bytecode in a way Python 3.11 breaks;
        # while tracing, iteration goes straight to iter() above.
        from torch.fx.proxy import Proxy
        original = Proxy.__iter__
        Proxy.__iter__ = lambda proxy: proxy.tracer.iter(proxy)
        try:
            return super().trace(root, concrete_args)
        finally:
            Proxy.__iter__ = original


class _Exporter:
    def __init__(self, module, example):
        self.module = module
        try:
            tracer = _Tracer()
            graph = tracer.trace(module)
            self.gm = torch.fx.GraphModule(tracer.root, graph, type(module).__name__)
        except Exception as e:  # fx's TraceError and the errors of data-dependent code
            raise ExportError(f"torch.fx cannot trace {type(module).__name__}: {type(e).__name__}: {e}") from e
        ShapeProp(self.gm).propagate(example)
        self.modules = dict(self.gm.named_modules())
        self.state = dict(module.state_dict())
        self.nodes = []           # relprop nodes
        self.value = {}           # fx node -> relprop value name (or ("shape", None) for size())
        self.used_names = set()
        self.tensors = {}         # name -> tensor for the weights file
        self.inputs = []
        self.const_key = {}       # get_attr node -> its state_dict key

    # ---- helpers ------------------------------------------------------------------
    def fail(self, n, what):
        raise ExportError(f"fx node '{n.name}' ({n.op} {self._target_str(n)}): {what}")

    @staticmethod
    def _target_str(n):
        t = n.target
        if isinstance(t, str):
            return t
        return getattr(t, "__module__", "") + "." + getattr(t, "__name__", str(t))

    def unique(self, base):
        name, k = base, 1
        while name in self.used_names:
            name = f"{base}_{k}"
            k += 1
        self.used_names.add(name)
        return name

    def shape(self, n):
        meta = n.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            self.fail(n, "has no tensor shape")
        return list(meta.shape)

    def arg(self, n, a):
        """The relprop value a computed argument stands for."""
        if not isinstance(a, torch.fx.Node):
            self.fail(n, f"expected a computed tensor argument, got {a!r}")
        v = self.value.get(a)
        if v is None or isinstance(v, tuple):
            self.fail(n, f"reads '{a.name}', which is not a tensor relprop computes")
        return v

    def constant(self, n, base, t):
        name = self.unique(base)
        self.tensors[name] = torch.as_tensor(t, dtype=torch.float32).detach().clone()
        return name

    def add(self, n, op, inputs, params=None, attrs=None, name=None):
        """A node standing for fx node `n` (named `name`, already unique, or after n)."""
        out = self._node(name or n.name, op, inputs, params, attrs, fresh_name=name is None)
        self.value[n] = out
        return out

    def alias(self, n, src):
        self.value[n] = src

    # ---- the walk -----------------------------------------------------------------
    def run(self, input_names):
        k = 0
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                name = input_names[k] if k < len(input_names) else n.name
                k += 1
                shape = self.shape(n)
                self.inputs.append({"name": name, "shape": [-1] + shape[1:], "example_shape": shape})
                self.used_names.add(name)
                self.value[n] = name
            elif n.op == "call_module":
                self.call_module(n)
            elif n.op in ("call_function", "call_method"):
                self.call_function(n)
            elif n.op == "get_attr":
                obj = self.gm
                for part in n.target.split("."):
                    obj = getattr(obj, part)
                self.value[n] = ("const", obj)
                if n.target in self.state:
                    self.const_key[n] = n.target
            elif n.op == "output":
                outs = n.args[0]
                outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
                self.outputs = [self.arg(n, o) for o in outs]
        graph = {"format": "relprop-graph", "version": 1, "inputs": self.inputs, "nodes": self.nodes,
                 "outputs": self.outputs}
        return graph, self.tensors

    def call_module(self, n):
        m = self.modules[n.target]
        x = self.arg(n, n.args[0]) if n.args else None
        base = self.unique(n.target)
        p = lambda *names: {k: f"{n.target}.{k}" for k in names if getattr(m, k, None) is not None}  # noqa: E731
        if isinstance(m, nn.Linear):
            self.add(n, "linear", [x], p("weight", "bias"), name=base)
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if m.padding_mode != "zeros":
                self.fail(n, f"padding_mode '{m.padding_mode}' is not supported (zeros only)")
            attrs = {"stride": _pair_list(m.stride), "dilation": _pair_list(m.dilation), "groups": m.groups,
                     "padding": m.padding if isinstance(m.padding, str) else _pair_list(m.padding)}
            self.add(n, "conv2d" if isinstance(m, nn.Conv2d) else "conv1d", [x], p("weight", "bias"), attrs, name=base)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not m.track_running_stats or m.running_mean is None:
                self.fail(n, "batch norm without running statistics")
            op = "batch_norm2d" if isinstance(m, nn.BatchNorm2d) else "batch_norm1d"
            self.add(n, op, [x], p("weight", "bias", "running_mean", "running_var"), {"eps": float(m.eps)}, name=base)
        elif isinstance(m, nn.LayerNorm):
            if len(m.normalized_shape) != 1:
                self.fail(n, "layer norm over more than the last dimension")
            self.add(n, "layer_norm", [x], p("weight", "bias"), {"eps": float(m.eps)}, name=base)
        elif isinstance(m, nn.MultiheadAttention):
            self._attention(n, m, base)
        elif isinstance(m, nn.ReLU):
            self.add(n, "relu", [x], name=base)
        elif isinstance(m, nn.ReLU6):
            self.add(n, "relu6", [x], name=base)
        elif isinstance(m, nn.Hardtanh) and m.min_val == 0 and m.max_val == 6:
            self.add(n, "relu6", [x], name=base)
        elif isinstance(m, nn.Hardswish):
            self.add(n, "hardswish", [x], name=base)
        elif isinstance(m, nn.LeakyReLU):
            self.add(n, "leaky_relu", [x], attrs={"negative_slope": float(m.negative_slope)}, name=base)
        elif isinstance(m, nn.ELU):
            self.add(n, "elu", [x], attrs={"alpha": float(m.alpha)}, name=base)
        elif isinstance(m, nn.GELU):
            self.add(n, "gelu", [x], attrs={"approximate": getattr(m, "approximate", "none")}, name=base)
        elif isinstance(m, nn.SiLU):
            self.add(n, "silu", [x], name=base)
        elif isinstance(m, nn.Sigmoid):
            self.add(n, "sigmoid", [x], name=base)
        elif isinstance(m, nn.Tanh):
            self.add(n, "tanh", [x], name=base)
        elif isinstance(m, (nn.Softmax, nn.LogSoftmax)):
            if m.dim is None:
                self.fail(n, "softmax without an explicit dim")
            self.add(n, "softmax" if isinstance(m, nn.Softmax) else "log_softmax", [x], attrs={"dim": m.dim}, name=base)
        elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            attrs = {"kernel_size": _pair_list(m.kernel_size), "stride": _pair_list(m.stride),
                     "padding": _pair_list(m.padding), "dilation": _pair_list(m.dilation), "ceil_mode": bool(m.ceil_mode)}
            if m.return_indices:
                self.fail(n, "max pooling with return_indices")
            self.add(n, "max_pool2d" if isinstance(m, nn.MaxPool2d) else "max_pool1d", [x], attrs=attrs, name=base)
        elif isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            attrs = {"kernel_size": _pair_list(m.kernel_size), "stride": _pair_list(m.stride),
                     "padding": _pair_list(m.padding), "ceil_mode": bool(m.ceil_mode),
                     "count_include_pad": bool(m.count_include_pad)}
            if getattr(m, "divisor_override", None):
                attrs["divisor_override"] = int(m.divisor_override)
            self.add(n, "avg_pool2d" if isinstance(m, nn.AvgPool2d) else "avg_pool1d", [x], attrs=attrs, name=base)
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            self.add(n, "adaptive_avg_pool2d", [x], attrs={"output_size": self._output_size(n, m.output_size)}, name=base)
        elif isinstance(m, nn.Flatten):
            self.add(n, "flatten", [x], attrs={"start_dim": m.start_dim, "end_dim": m.end_dim}, name=base)
        elif isinstance(m, (nn.Dropout, nn.Dropout1d if hasattr(nn, "Dropout1d") else nn.Dropout, nn.Dropout2d,
                            nn.AlphaDropout)):
            self.add(n, "dropout", [x], attrs={"p": float(m.p)}, name=base)
        elif isinstance(m, nn.Identity) or type(m).__name__ == "StochasticDepth":
            # torchvision's StochasticDepth is the identity in evaluation mode.
            self.add(n, "identity", [x], name=base)
        elif isinstance(m, nn.Upsample):
            if m.mode != "nearest":
                self.fail(n, f"upsampling mode '{m.mode}' (nearest only)")
            self.add(n, "upsample_nearest2d", [x], attrs=self._upsample_attrs(n, m.size, m.scale_factor), name=base)
        else:
            self.used_names.discard(base)
            self.fail(n, f"module {type(m).__name__} has no relprop op")

    def _attention(self, n, m, base):
        """nn.MultiheadAttention (batch_first, self-attention, no masks) as relprop ops: the
        packed in-projection, heads, q·kᵀ, the softmax, ·v, heads merged, out_proj."""
        args = list(n.args) + [n.kwargs.get(k) for k in ("query", "key", "value") if k in n.kwargs]
        q_in, k_in, v_in = (args + [None, None, None])[:3]
        if not (q_in is k_in is v_in) or not m.batch_first or not m._qkv_same_embed_dim:
            self.fail(n, "multi-head attention other than batch_first self-attention (query = key = value)")
        for k in ("attn_mask", "key_padding_mask"):
            if n.kwargs.get(k) is not None:
                self.fail(n, f"multi-head attention with {k}")
        if m.bias_k is not None or m.add_zero_attn:
            self.fail(n, "multi-head attention with bias_k/add_zero_attn")
        x = self.arg(n, q_in)
        D, H = m.embed_dim, m.num_heads
        dh = D // H
        t = n.target
        params = {"weight": f"{t}.in_proj_weight"}
        if m.in_proj_bias is not None:
            params["bias"] = f"{t}.in_proj_bias"
        qkv = self._node(f"{base}.in_proj", "linear", [x], params)
        heads = {}
        for i, (which, perm) in enumerate((("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))):
            part = self._node(f"{base}.{which}", "slice", [qkv], attrs={"dim": 2, "start": i * D, "end": (i + 1) * D})
            r = self._node(f"{base}.{which}.heads", "reshape", [part], attrs={"shape": [0, 0, H, dh]})
            heads[which] = self._node(f"{base}.{which}.permute", "permute", [r], attrs={"dims": perm})
        scores = self._node(f"{base}.scores", "matmul", [heads["query"], heads["key"]])
        probs = self._node(f"{base}.softmax", "attention_softmax", [scores], attrs={"scale": 1.0 / dh ** 0.5})
        ctx = self._node(f"{base}.context", "matmul", [probs, heads["value"]])
        perm = self._node(f"{base}.context.permute", "permute", [ctx], attrs={"dims": [0, 2, 1, 3]})
        merged = self._node(f"{base}.context.merge", "reshape", [perm], attrs={"shape": [0, 0, D]})
        oparams = {"weight": f"{t}.out_proj.weight"}
        if m.out_proj.bias is not None:
            oparams["bias"] = f"{t}.out_proj.bias"
        out = self._node(f"{t}.out_proj", "linear", [merged], oparams)
        self.value[n] = ("tuple", [out, None])

    def _node(self, name, op, inputs, params=None, attrs=None, fresh_name=True):
        """Appends a relprop node; its parameters' tensors go into the weights file."""
        node = {"name": self.unique(name) if fresh_name else name, "op": op, "inputs": inputs}
        if params:
            node["params"] = params
            for p in params.values():
                if p not in self.tensors:
                    self.tensors[p] = self.state[p]
        if attrs:
            node["attrs"] = attrs
        self.nodes.append(node)
        return node["name"]

    def _output_size(self, n, size):
        out = self.shape(n)
        if isinstance(size, int):
            return [size, size]
        return [int(s) if s is not None else int(out[2 + i]) for i, s in enumerate(size)]

    def _upsample_attrs(self, n, size, scale):
        if size is not None:
            return {"size": _pair_list(size) if isinstance(size, (list, tuple)) else [int(size), int(size)]}
        if isinstance(scale, (list, tuple)):
            if len(set(float(s) for s in scale)) != 1:
                self.fail(n, "upsampling with different scale factors per axis")
            scale = scale[0]
        return {"scale_factor": float(scale)}

    def _binary(self, n, op, a, b):
        ins, params = [], None
        comp = [v for v in (a, b) if isinstance(v, torch.fx.Node) and not isinstance(self.value.get(v), tuple)]
        if len(comp) == 2:
            ins = [self.arg(n, a), self.arg(n, b)]
        elif len(comp) == 1:
            other = b if comp[0] is a else a
            if isinstance(other, torch.fx.Node):
                other = self.value[other][1]
            if op == "sub" and comp[0] is b:
                self.fail(n, "constant minus a computed tensor (sub reads the computed tensor first)")
            ins = [self.arg(n, comp[0])]
            params = {"other": self.constant(n, n.name + ".other", other)}
        else:
            self.fail(n, "arithmetic on constants only")
        node = {"name": self.unique(n.name), "op": op, "inputs": ins}
        if params:
            node["params"] = params
        self.nodes.append(node)
        self.value[n] = node["name"]

    def call_function(self, n):
        t, args, kw = n.target, list(n.args), dict(n.kwargs)
        name = t if isinstance(t, str) else getattr(t, "__name__", str(t))

        def get(i, key, default=None):
            if i < len(args):
                return args[i]
            return kw.get(key, default)

        if name in ("size", "dim") or (t is getattr and args[1] in ("shape",)):
            self.value[n] = ("shape", None)   # only reshape/view may read it (they use the traced shape)
            return
        if name == "_assert":  # torch._assert on shapes: checked by the trace itself
            self.value[n] = ("shape", None)
            return
        if t is operator.getitem and isinstance(self.value.get(args[0]), tuple):
            kind, payload = self.value[args[0]]
            if kind == "tuple":  # (attn_output, weights) of multi-head attention
                if args[1] == 0:
                    return self.alias(n, payload[0])
                self.value[n] = ("unused", None)  # the weights: any reader fails in arg()
                return
            if kind == "const":
                self.value[n] = ("const", payload[args[1]])
                return
            self.value[n] = ("shape", None)
            return
        # Arithmetic on shape values (h // p, n_h * n_w, h == size) stays shape arithmetic.
        flat = [a for a in args if isinstance(a, torch.fx.Node)]
        if flat and all(isinstance(self.value.get(a), tuple) and self.value[a][0] == "shape" for a in flat):
            self.value[n] = ("shape", None)
            return
        if name == "expand" and isinstance(self.value.get(args[0]), tuple) and self.value[args[0]][0] == "const":
            self.value[n] = self.value[args[0]]  # a constant broadcast over the batch (ViT's class token)
            return
        if name == "cat":
            tensors = get(0, "tensors")
            first = self.value.get(tensors[0]) if isinstance(tensors[0], torch.fx.Node) else None
            if isinstance(first, tuple) and first[0] == "const" and len(tensors) == 2 and int(get(1, "dim", 0)) == 1:
                key = self.const_key.get(tensors[0]) or self.constant(n, n.name + ".token", first[1])
                if key not in self.tensors:
                    self.tensors[key] = first[1].detach().float()
                return self.add(n, "prepend_token", [self.arg(n, tensors[1])], {"token": key})
        if name == "stochastic_depth":  # torchvision.ops: the identity in evaluation mode
            if bool(get(3, "training", False)):
                self.fail(n, "stochastic depth in training mode")
            return self.alias(n, self.arg(n, args[0]))
        if name in ("contiguous",) or (name == "to" and n.op == "call_method"):
            return self.alias(n, self.arg(n, args[0]))
        if t in (operator.add, torch.add) or name in ("add", "add_", "iadd"):
            return self._binary(n, "add", args[0], args[1])
        if t in (operator.sub, torch.sub) or name in ("sub", "sub_"):
            return self._binary(n, "sub", args[0], args[1])
        if t in (operator.mul, torch.mul) or name in ("mul", "mul_", "imul"):
            return self._binary(n, "mul", args[0], args[1])
        if t in (operator.truediv, torch.div) or name in ("div", "div_", "truediv", "itruediv"):
            # A computed tensor over a number: the product with its reciprocal.
            if not isinstance(args[1], (int, float)) or kw.get("rounding_mode") is not None or args[1] == 0:
                self.fail(n, "division other than by a non-zero number")
            return self._binary(n, "mul", args[0], 1.0 / float(args[1]))
        unary = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu",
                 "relu6": "relu6", "gelu": "gelu", "elu": "elu", "leaky_relu": "leaky_relu", "dropout": "dropout",
                 "hardtanh": "hardtanh", "hardswish": "hardswish"}
        if name in unary:
            x = self.arg(n, args[0])
            attrs = None
            if name == "gelu":
                attrs = {"approximate": kw.get("approximate", "none")}
            elif name == "elu":
                attrs = {"alpha": float(get(1, "alpha", 1.0))}
            elif name == "leaky_relu":
                attrs = {"negative_slope": float(get(1, "negative_slope", 0.01))}
            elif name == "hardtanh":
                if (get(1, "min_val", -1.0), get(2, "max_val", 1.0)) != (0.0, 6.0):
                    self.fail(n, "hardtanh other than relu6")
                return self.add(n, "relu6", [x])
            return self.add(n, unary[name], [x], attrs=attrs)
        if name in ("softmax", "log_softmax"):
            dim = get(1, "dim")
            if dim is None:
                self.fail(n, "softmax without dim")
            return self.add(n, name, [self.arg(n, args[0])], attrs={"dim": int(dim)})
        if name == "flatten":
            return self.add(n, "flatten", [self.arg(n, args[0])],
                            attrs={"start_dim": int(get(1, "start_dim", 0)), "end_dim": int(get(2, "end_dim", -1))})
        if name in ("view", "reshape"):
            out = self.shape(n)
            return self.add(n, "reshape", [self.arg(n, args[0])], attrs={"shape": [-1] + [int(s) for s in out[1:]]})
        if name == "adaptive_avg_pool2d":
            return self.add(n, "adaptive_avg_pool2d", [self.arg(n, args[0])],
                            attrs={"output_size": self._output_size(n, get(1, "output_size"))})
        if name in ("max_pool2d", "avg_pool2d"):
            k = get(1, "kernel_size")
            s = get(2, "stride") or k
            attrs = {"kernel_size": _pair_list(k), "stride": _pair_list(s), "padding": _pair_list(get(3, "padding", 0))}
            if name == "max_pool2d":
                attrs.update({"dilation": _pair_list(get(4, "dilation", 1)), "ceil_mode": bool(get(5, "ceil_mode", False))})
            else:
                attrs.update({"ceil_mode": bool(get(4, "ceil_mode", False)),
                              "count_include_pad": bool(get(5, "count_include_pad", True))})
            return self.add(n, name, [self.arg(n, args[0])], attrs=attrs)
        if name == "mean":
            dims = get(1, "dim")
            keep = bool(get(2, "keepdim", False))
            shape_in = self.shape(args[0])
            if len(shape_in) == 4 and sorted(d % 4 for d in (dims if isinstance(dims, (list, tuple)) else [dims])) == [2, 3]:
                pooled = self.add(n, "adaptive_avg_pool2d", [self.arg(n, args[0])], attrs={"output_size": [1, 1]},
                                  name=self.unique(n.name + ("" if keep else ".pool")))
                if not keep:
                    self.add(n, "flatten", [pooled], attrs={"start_dim": 1, "end_dim": -1})
                return
            dl = dims if isinstance(dims, (list, tuple)) else [dims]
            if len(shape_in) >= 2 and len(dl) == 1 and dl[0] is not None and int(dl[0]) % len(shape_in) == 1 and not keep:
                return self.add(n, "masked_mean", [self.arg(n, args[0])])  # over the tokens (N, T, ...)
            self.fail(n, "mean over dimensions other than the spatial ones of (N, C, H, W) or dimension 1")
        if name == "cat":
            tensors = get(0, "tensors")
            return self.add(n, "cat", [self.arg(n, a) for a in tensors], attrs={"dim": int(get(1, "dim", 0))})
        if name == "permute":
            dims = args[1:] if len(args) > 2 or not isinstance(get(1, "dims"), (list, tuple)) else get(1, "dims")
            return self.add(n, "permute", [self.arg(n, args[0])], attrs={"dims": [int(d) for d in dims]})
        if name == "transpose":
            return self.add(n, "transpose", [self.arg(n, args[0])],
                            attrs={"dim0": int(get(1, "dim0")), "dim1": int(get(2, "dim1"))})
        if t is operator.matmul or name in ("matmul", "bmm"):
            return self.add(n, "matmul", [self.arg(n, args[0]), self.arg(n, args[1])])
        if name == "scaled_dot_product_attention":  # torch >= 2.0
            if get(3, "attn_mask") is not None:
                self.fail(n, "scaled_dot_product_attention with attn_mask (relprop's op takes is_causal)")
            if float(get(4, "dropout_p", 0.0) or 0.0) != 0.0:
                self.fail(n, "scaled_dot_product_attention with dropout_p > 0")
            if kw.get("enable_gqa"):
                self.fail(n, "scaled_dot_product_attention with enable_gqa (give K/V a group dimension instead)")
            attrs = {"is_causal": bool(get(5, "is_causal", False))}
            if kw.get("scale") is not None:
                attrs["scale"] = float(kw["scale"])
            qkv = [get(i, key) for i, key in enumerate(("query", "key", "value"))]
            return self.add(n, "scaled_dot_product_attention", [self.arg(n, a) for a in qkv], attrs=attrs)
        if name == "pad":
            mode = get(2, "mode", "constant")
            if mode != "constant":
                self.fail(n, f"padding mode '{mode}' (constant only)")
            return self.add(n, "pad", [self.arg(n, args[0])],
                            attrs={"pad": [int(p) for p in get(1, "pad")], "value": float(get(3, "value", 0.0) or 0.0)})
        if name in ("interpolate", "upsample_nearest"):
            mode = get(3, "mode", "nearest")
            if mode != "nearest":
                self.fail(n, f"interpolation mode '{mode}' (nearest only)")
            return self.add(n, "upsample_nearest2d", [self.arg(n, args[0])],
                            attrs=self._upsample_attrs(n, get(1, "size"), get(2, "scale_factor")))
        if t is operator.getitem:
            return self._getitem(n, args[0], args[1])
        self.fail(n, "has no relprop op")

    def _getitem(self, n, src, index):
        index = index if isinstance(index, tuple) else (index,)
        x = self.arg(n, src)
        cuts = [(d, s) for d, s in enumerate(index) if not (isinstance(s, slice) and s == slice(None))]
        if Ellipsis in index or any(not isinstance(s, (slice, int)) for _, s in cuts):
            self.fail(n, "indexing other than slices and integers")
        ints = [(d, s) for d, s in cuts if isinstance(s, int)]
        if ints:
            # x[:, 0]: a slice of one, then the dimension dropped (the traced shape says how).
            d, i = ints[0]
            if len(cuts) != 1:
                self.fail(n, "mixed integer and slice indexing")
            cut = self._node(f"{n.name}.slice", "slice", [x], attrs={"dim": d, "start": i, "end": (i + 1) or None}
                             if i != -1 else {"dim": d, "start": -1})
            out = self.shape(n)
            return self.add(n, "reshape", [cut], attrs={"shape": [-1] + [int(v) for v in out[1:]]})
        if not cuts:
            return self.alias(n, x)
        cur = x
        for k, (d, s) in enumerate(cuts):
            attrs = {"dim": d, "start": s.start or 0, "step": s.step or 1}
            if s.stop is not None:
                attrs["end"] = s.stop
            last = k == len(cuts) - 1
            node = {"name": self.unique(n.name if last else f"{n.name}.{k}"), "op": "slice", "inputs": [cur],
                    "attrs": attrs}
            self.nodes.append(node)
            cur = node["name"]
        self.value[n] = cur


def export(module, example, out_dir=None, input_names=("x",), check=False, metadata=None):
    """Traces `module` (put in eval mode) on `example` and returns (graph, tensors); with
    out_dir, writes graph.json and weights.safetensors there (and, with check, input and
    expected output safetensors)."""
    module = module.eval()
    with torch.no_grad():
        graph, tensors = _Exporter(module, example).run(list(input_names))
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, "graph.json"), "w") as f:
                json.dump(graph, f, indent=1)
            _save_safetensors(os.path.join(out_dir, "weights.safetensors"), tensors, metadata)
            if check:
                y = module(example)
                _save_safetensors(os.path.join(out_dir, "input.safetensors"), {input_names[0]: example})
                _save_safetensors(os.path.join(out_dir, "expected.safetensors"), {"output": y})
    return graph, tensors


def _load_factory(spec):
    where, _, fn = spec.partition(":")
    if where == "torchvision":
        import torchvision
        return getattr(torchvision.models, fn)
    if where.endswith(".py"):
        s = importlib.util.spec_from_file_location("user_models", where)
        mod = importlib.util.module_from_spec(s)
        s.loader.exec_module(mod)
        return getattr(mod, fn)
    return getattr(importlib.import_module(where), fn)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="torchvision:NAME, FILE.py:FUNCTION or package.module:FUNCTION")
    ap.add_argument("--shape", required=True, help="example input shape, e.g. 1,3,224,224")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", help="a state_dict (.pt) to load into the module")
    ap.add_argument("--input-name", default="x")
    ap.add_argument("--check", action="store_true", help="also write input.safetensors and expected.safetensors")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = _load_factory(a.model)()
    if a.weights:
        model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    example = torch.randn(*[int(s) for s in a.shape.split(",")])
    try:
        graph, tensors = export(model, example, a.out, (a.input_name,), a.check, {"source": a.model})
    except ExportError as e:
        print(f"export_torch: {a.model}: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"export_torch: {a.model}: {len(graph['nodes'])} nodes, {len(tensors)} tensors -> {a.out}")


if __name__ == "__main__":
    main()
