"""A finite pool of renders, re-augmented every epoch, with an on-disk cache shared by all workers.

The synthetic streams (:mod:`.synthetic`, :mod:`.depth_synth`) render every sample afresh, so a
data loader feeds a GPU only as fast as its CPU cores render (about 43 frames/s at 832x256 with
5 processes on the GPU machine, docs/learned_models.md, "Depth network").  With ``data.pool: N`` sample ``i`` is
instead the render of pool entry ``j = i mod N`` (a pure function of ``(seed, j)``) with the
photometric augmentation and flip of sample ``i`` (a pure function of ``(seed, i)``): a finite
training set seen in epochs, FlyingChairs-style.  Renders are then worth keeping:
``runtime.cache_dir`` stores each entry once (``vo-train cache`` fills it ahead with every
core), and later epochs read it instead of rendering.

A pool entry's images are quantized to 8 bits (what a camera gives) before augmentation, whether
they were just rendered or read back, so a sample is bit-identical with a cold or a warm cache,
and ``--resume`` and DDP keep their guarantees.  Cache files are written atomically; an
unreadable one is rendered again and replaced.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

#: bump when the stored layout of an entry changes (old entries are then ignored)
CACHE_VERSION = 1
#: the entries of a sample that are images (quantized to 8 bits in the pool)
IMAGE_KEYS = ("img1", "img2")


def quantize_images(s: dict) -> dict:
    """Round the images of ``s`` to the 8-bit grid, as float32 in [0, 1] (in place; returns ``s``)."""
    for k in IMAGE_KEYS:
        if k in s:
            s[k] = (np.round(np.clip(s[k], 0.0, 1.0) * 255.0).astype(np.uint8)).astype(np.float32) / 255.0
    return s


def cache_tag(kind: str, spec: dict, width: int, height: int) -> str:
    """The folder name of a stream's entries: what they depend on, hashed."""
    key = json.dumps({"v": CACHE_VERSION, "kind": kind, "spec": spec, "size": [int(width), int(height)]},
                     sort_keys=True)
    return f"{kind}-{width}x{height}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class RenderCache:
    """Entries ``j`` of one stream under ``<root>/<tag>/<j>.npz`` (a plain path: cheap to pickle to workers)."""

    def __init__(self, root: "str | os.PathLike[str]", tag: str):
        self.folder = Path(root) / tag

    def path(self, j: int) -> Path:
        return self.folder / f"{int(j):07d}.npz"

    def get(self, j: int) -> "dict | None":
        p = self.path(j)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except Exception:  # noqa: BLE001 - a damaged entry is rendered again
            return None
        for k in IMAGE_KEYS:
            if k in out:
                out[k] = out[k].astype(np.float32) / 255.0
        for k, v in list(out.items()):
            if v.ndim == 0:  # scalars and strings (the depth stream's camera kind) come back as 0-d arrays
                out[k] = str(v) if v.dtype.kind == "U" else v[()]
        return out

    def put(self, j: int, s: dict) -> None:
        from ...io.atomic import atomic_write_bytes

        arrays = {}
        for k, v in s.items():
            if k in IMAGE_KEYS:
                arrays[k] = np.round(np.asarray(v) * 255.0).astype(np.uint8)
            else:
                arrays[k] = np.asarray(v)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        try:
            atomic_write_bytes(self.path(j), buf.getvalue())
        except Exception:  # noqa: BLE001 - a full disk slows training down, it does not stop it
            pass


def pool_entry(j: int, render: Callable[[int], dict], cache: "RenderCache | None") -> dict:
    """Entry ``j``: from the cache, else ``render(j)`` quantized (and stored when there is a cache)."""
    if cache is not None:
        hit = cache.get(j)
        if hit is not None:
            return hit
    s = quantize_images(render(j))
    if cache is not None:
        cache.put(j, s)
    return s


def augment_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index``'s augmentation in pool mode (independent of the render's)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, 97, int(index)])
