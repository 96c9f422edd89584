#!/usr/bin/env python3
"""Writes examples/worked/: the network of the worked example in docs/RULES.md.

W = [[0.5, 0.3, 0.2], [0.1, 0.4, 0.5]], b = [0.1, 0.2], x = [1, 2, 3]; z = [1.8, 2.6];
ReLU. Standard library only, so it runs anywhere.
"""
import json
import pathlib
import struct


def write_safetensors(path, tensors):
    """tensors: name -> (shape, list of float32 values)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    out = pathlib.Path(__file__).resolve().parent.parent / "examples" / "worked"
    out.mkdir(parents=True, exist_ok=True)
    graph = {
        "format": "relprop-graph",
        "version": 1,
        "inputs": [{"name": "x", "shape": [-1, 3]}],
        "nodes": [
            {"name": "fc", "op": "linear", "inputs": ["x"], "params": {"weight": "fc.weight", "bias": "fc.bias"}},
            {"name": "act", "op": "relu", "inputs": ["fc"]},
        ],
        "outputs": ["act"],
    }
    (out / "graph.json").write_text(json.dumps(graph, indent=2) + "\n")
    write_safetensors(out / "weights.safetensors", {
        "fc.weight": ([2, 3], [0.5, 0.3, 0.2, 0.1, 0.4, 0.5]),
        "fc.bias": ([2], [0.1, 0.2]),
    })
    write_safetensors(out / "input.safetensors", {"x": ([1, 3], [1.0, 2.0, 3.0])})


if __name__ == "__main__":
    main()
