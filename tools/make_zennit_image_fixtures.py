#!/usr/bin/env python3
"""Golden pictures from Zennit 0.5.1 for relprop's viz/: every built-in colour map's
palette (levels 0.5, 1, 2) and heatmaps of random relevance under the three
normalisations of Zennit's examples (symmetric, absolute, unaligned), made the way those
examples make them: relevance summed over channels (float32), normalised, then
zennit.image.imgify(..., vmin=0, vmax=1, cmap, level) and converted to RGB.

    build/pyenv/bin/python tools/make_zennit_image_fixtures.py   (zennit, numpy, Pillow)
writes tests/data/zennit/images.safetensors (uint8 tensors, stored as F32 by value).
"""
import os
import pathlib
import sys

import numpy as np
import torch
from zennit.image import CMAPS, imgify, palette

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_zennit_fixtures import write_safetensors  # noqa: E402


def normalise(relevance, how):
    # As Zennit's share/example/feed_forward.py does, on a (1, H, W) float32 array.
    if how == "symmetric":
        amax = np.abs(relevance).max((1, 2), keepdims=True)
        return (relevance + amax) / 2 / amax
    if how == "absolute":
        r = np.abs(relevance)
        return r / r.max((1, 2), keepdims=True)
    rmin = relevance.min((1, 2), keepdims=True)
    rmax = relevance.max((1, 2), keepdims=True)
    return (relevance - rmin) / (rmax - rmin)


def main():
    out = {}
    for name in CMAPS:
        for level in (0.5, 1.0, 2.0):
            out[f"palette.{name}.{level:g}"] = torch.tensor(np.array(palette(name, level)).reshape(256, 3))
    gen = torch.Generator().manual_seed(7)
    for k, (c, h, w) in enumerate([(3, 9, 11), (1, 16, 16), (3, 5, 4)]):
        r = torch.randn(1, c, h, w, generator=gen) * (10.0 ** (k - 1))
        out[f"relevance.{k}"] = r
        summed = np.array(r.sum(1))
        for how in ("symmetric", "absolute", "unaligned"):
            for cmap, level in (("bwr", 1.0), ("coldnhot", 1.0), ("hot", 1.5), ("gray", 1.0)):
                img = imgify(normalise(summed, how)[0], vmin=0., vmax=1., cmap=cmap, level=level)
                out[f"heatmap.{k}.{how}.{cmap}.{level:g}"] = torch.tensor(np.array(img.convert("RGB")))
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "zennit" / "images.safetensors"
    write_safetensors(path, {k: v.float() for k, v in out.items()}, {"zennit": "0.5.1"})
    print(f"wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main()
