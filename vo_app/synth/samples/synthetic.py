"""The supervised training set: an endless, index-addressable stream of synthetic flow pairs.

Sample ``i`` is a pure function of ``(seed, i)``: generating it needs no state, so a data
loader can start anywhere (``--resume`` continues at the next index) and any number of workers
produce exactly the same stream.  Half of the pairs (``street_fraction``) come from the street
renderer of :mod:`vo_app.synth` (camera motion through a 3-D scene), the rest from layered 2-D
motion of textured shapes (:mod:`.layers`).

A curriculum by displacement (``curriculum`` > 0) is a function of the sample index too: sample
``i`` allows motions up to ``p(i) = min(1, start + (1 - start) * i / curriculum)`` of the full
range, so it survives ``--resume`` and DDP unchanged.  Layered pairs scale their shifts by
``p(i)``; street pairs whose 90th-percentile flow exceeds ``p(i) * max_flow * W`` are drawn
again (up to the 8 draws a sample gets).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from .augment import gray3, hflip, photometric
from .layers import LayerParams, render_layers
from .pool import RenderCache, augment_rng, cache_tag, pool_entry
from .street import render_street


@dataclass(frozen=True)
class SynthSpec:
    """What the stream contains (stored in checkpoints; a resumed run must use the same)."""

    seed: int = 0
    street_fraction: float = 0.5
    scene_base: int = 1000  # street scenes are seeds scene_base .. scene_base + scenes - 1
    scenes: int = 24
    gray_fraction: float = 0.5
    max_flow: float = 0.5  # street pixels whose flow exceeds this fraction of W are not supervised
    augment: bool = True
    layer_shift_scale: float = 1.0  # multiplies the layered pairs' shifts (2.5: up to ~0.3 W at full range)
    curriculum: int = 0  # samples over which the largest displacement grows to full (0: no curriculum)
    curriculum_start: float = 0.3  # the fraction of the full range at sample 0
    pool: int = 0  # > 0: a finite set of that many renders, re-augmented each epoch (.pool)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in _OPTIONAL:  # absent at their defaults, so runs from before these options still resume
            if d[k] == _OPTIONAL[k]:
                del d[k]
        return d

    def progress(self, index: int) -> float:
        """The fraction of the full displacement range that sample ``index`` may use."""
        if self.curriculum <= 0:
            return 1.0
        return float(min(1.0, self.curriculum_start + (1.0 - self.curriculum_start) * index / self.curriculum))


_OPTIONAL = {"layer_shift_scale": 1.0, "curriculum": 0, "curriculum_start": 0.3, "pool": 0}


#: the fixed held-out set (validation during training, ``vo-eval flow``): other seeds, other scenes.
HELDOUT = SynthSpec(seed=20240917, scene_base=900000, scenes=6, augment=False, gray_fraction=0.5)


def _render(spec: SynthSpec, rng: np.random.Generator, index: int, width: int, height: int) -> dict:
    """The pair of sample ``index`` before augmentation (draws from ``rng``)."""
    scenes = list(range(spec.scene_base, spec.scene_base + spec.scenes))
    p = spec.progress(index)
    scale = spec.layer_shift_scale * p
    layer_params = replace(LayerParams(), bg_shift=LayerParams.bg_shift * scale, fg_shift=LayerParams.fg_shift * scale)
    for _ in range(8):  # a view into a close wall can have almost no usable flow: draw again
        street = rng.random() < spec.street_fraction
        s = render_street(rng, width, height, scenes) if street else render_layers(rng, width, height, layer_params)
        mag = np.linalg.norm(s["flow"], axis=-1)
        s["mask"] = (np.isfinite(mag) & (mag <= spec.max_flow * width)).astype(np.float32)
        p90 = np.percentile(np.where(np.isfinite(mag), mag, 0.0), 90) if street and p < 1.0 else 0.0
        too_far = p90 > p * spec.max_flow * width
        if s["mask"].mean() > 0.6 and not too_far:
            break
    s["flow"] = np.where(s["mask"][..., None] > 0, s["flow"], 0.0).astype(np.float32)
    s["noc"] = s["noc"] * s["mask"]
    return s


def _augment(spec: SynthSpec, rng: np.random.Generator, s: dict) -> dict:
    if spec.augment:
        s["img1"], s["img2"] = photometric(rng, s["img1"], s["img2"], spec.gray_fraction)
        if rng.random() < 0.5:
            s = hflip(s)
    elif rng.random() < spec.gray_fraction:
        s["img1"], s["img2"] = (gray3(s[k]) for k in ("img1", "img2"))
    return s


def render_cache(spec: SynthSpec, width: int, height: int, cache_dir: "str | None") -> "RenderCache | None":
    """Where the pool entries of this stream are stored under ``cache_dir`` (None: no cache)."""
    return RenderCache(cache_dir, cache_tag("flow", spec.to_dict(), width, height)) if cache_dir else None


def make_sample(spec: SynthSpec, index: int, width: int, height: int, cache_dir: "str | None" = None) -> dict:
    """Sample ``index`` as float32 arrays: ``img1, img2 [H,W,3]``, ``flow [H,W,2]``, ``noc, mask [H,W]``.

    ``noc``: visible in frame 2 (for the non-occluded EPE); ``mask``: ground truth usable for
    supervision (flow defined and not absurdly large).  With ``spec.pool`` the pair is pool
    entry ``index mod pool`` (read from ``cache_dir`` when stored there, see :mod:`.pool`).
    """
    if spec.pool:
        def render(j: int) -> dict:
            return _render(spec, np.random.default_rng([int(spec.seed) & 0xFFFFFFFF, j]), j, width, height)

        s = dict(pool_entry(int(index) % spec.pool, render, render_cache(spec, width, height, cache_dir)))
        return _augment(spec, augment_rng(spec.seed, index), s)
    rng = np.random.default_rng([int(spec.seed) & 0xFFFFFFFF, int(index)])
    return _augment(spec, rng, _render(spec, rng, index, width, height))


def to_tensors(s: dict) -> dict:
    """NumPy sample -> CHW float32 tensors (``img1, img2 [3,H,W]``, ``flow [2,H,W]``, ``noc, mask [1,H,W]``)."""
    out = {}
    for k, v in s.items():
        v = np.ascontiguousarray(v, np.float32)
        out[k] = torch.from_numpy(v.transpose(2, 0, 1).copy() if v.ndim == 3 else v[None].copy())
    return out


class SynthFlowDataset(torch.utils.data.Dataset):
    """Map-style view of the stream for a DataLoader: ``ds[i]`` is sample ``i`` as tensors."""

    def __init__(self, spec: SynthSpec, width: int, height: int, cache_dir: "str | None" = None):
        self.spec, self.width, self.height, self.cache_dir = spec, int(width), int(height), cache_dir or None

    def __len__(self) -> int:
        return 2 ** 40

    def __getitem__(self, i: int) -> dict:
        return to_tensors(make_sample(self.spec, int(i), self.width, self.height, self.cache_dir))


def heldout_set(n: int, width: int, height: int, spec: SynthSpec = HELDOUT) -> list[dict]:
    """The first ``n`` pairs of the held-out stream (NumPy samples)."""
    return [make_sample(spec, i, width, height) for i in range(int(n))]
