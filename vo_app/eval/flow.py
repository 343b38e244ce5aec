"""Optical-flow accuracy: EPE and Fl-all on Middlebury and on the held-out synthetic set.

Metrics of one pair (flows ``[H,W,2]`` in pixels)::

    epe      mean |pred - gt|_2 over pixels with known ground truth
    epe_noc  the same over non-occluded pixels (only where an occlusion mask is known)
    fl_all   fraction of known pixels with error > 3 px and > 5 % of |gt| (KITTI's outlier rule)

A dataset's numbers are the mean over its pairs.  Backends are callables
``(img1, img2) -> (flow_fwd, flow_bwd)`` like :class:`vo_app.models.dis.DISFlow`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

MIDDLEBURY_REAL = ("Dimetrodon", "Hydrangea", "RubberWhale", "Venus")
MIDDLEBURY_SYNTHETIC = ("Grove2", "Grove3", "Urban2", "Urban3")
#: .flo values above this mark unknown flow.
UNKNOWN_FLOW = 1e9
#: the held-out synthetic set of the tables: size and count (its seed is fixed in HELDOUT).
SYNTH_SIZE = (256, 192)
SYNTH_PAIRS = 64


@dataclass
class FlowPair:
    """One evaluation pair: images float32 ``[H,W]`` or ``[H,W,3]`` in [0,1], ``gt [H,W,2]``,
    ``valid [H,W]`` bool (ground truth known), ``noc [H,W]`` bool or None (non-occluded)."""

    name: str
    img1: np.ndarray
    img2: np.ndarray
    gt: np.ndarray
    valid: np.ndarray
    noc: np.ndarray | None = None


def pair_metrics(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, noc: np.ndarray | None = None) -> dict:
    """``{"epe", "epe_noc", "fl_all"}`` of one pair; ``epe_noc`` is NaN without an occlusion mask."""
    err = np.linalg.norm(pred.astype(np.float64) - gt, axis=-1)
    mag = np.linalg.norm(gt.astype(np.float64), axis=-1)
    v = valid.astype(bool)
    if not v.any():
        return {"epe": math.nan, "epe_noc": math.nan, "fl_all": math.nan}
    out = {"epe": float(err[v].mean()), "epe_noc": math.nan,
           "fl_all": float(((err > 3.0) & (err > 0.05 * mag))[v].mean())}
    if noc is not None:
        n = v & noc.astype(bool)
        if n.any():
            out["epe_noc"] = float(err[n].mean())
    return out


def mean_metrics(rows: list[dict]) -> dict:
    """Mean of each metric over pairs (NaNs ignored; NaN if all are NaN)."""
    out = {}
    for k in ("epe", "epe_noc", "fl_all"):
        vals = [r[k] for r in rows if not math.isnan(r[k])]
        out[k] = float(np.mean(vals)) if vals else math.nan
    out["pairs"] = len(rows)
    return out


def middlebury_pairs(root: "str | Path", names=MIDDLEBURY_REAL + MIDDLEBURY_SYNTHETIC) -> list[FlowPair]:
    """frame10 -> frame11 of the Middlebury "other" sequences with ground truth.

    Layout: ``<root>/other-data-gray/<seq>/frame10.png, frame11.png`` and
    ``<root>/other-gt-flow/<seq>/flow10.flo``.  Gray images are returned ``[H,W]``.
    """
    import cv2

    from ..io.flo import read_flo

    root = Path(root)
    if not (root / "other-gt-flow").is_dir():
        raise UserError("not a Middlebury flow folder (no other-gt-flow/)", path=root,
                        fix="pass the folder that holds other-data-gray/ and other-gt-flow/")
    pairs = []
    for name in names:
        imgs = []
        for frame in ("frame10.png", "frame11.png"):
            p = root / "other-data-gray" / name / frame
            im = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if im is None:
                raise UserError("missing or unreadable image", path=p, fix="restore the Middlebury folder")
            imgs.append(im.astype(np.float32) / 255.0)
        gt = read_flo(root / "other-gt-flow" / name / "flow10.flo")
        valid = np.all(np.abs(gt) < UNKNOWN_FLOW, axis=-1) & np.all(np.isfinite(gt), axis=-1)
        pairs.append(FlowPair(name, imgs[0], imgs[1], np.where(valid[..., None], gt, 0.0).astype(np.float32), valid))
    return pairs


def synthetic_pairs(n: int = SYNTH_PAIRS, size: tuple[int, int] = SYNTH_SIZE) -> list[FlowPair]:
    """The fixed held-out synthetic set (seeds and scenes never used for training)."""
    from ..synth.samples.synthetic import heldout_set

    out = []
    for i, s in enumerate(heldout_set(n, size[0], size[1])):
        out.append(FlowPair(f"synth{i:03d}", s["img1"], s["img2"], s["flow"], s["mask"] > 0, s["noc"] > 0))
    return out


class ZeroFlow:
    """The zero-motion baseline (``img1(p) ~ img2(p)``)."""

    name = "zero"

    def __call__(self, img1, img2):
        z = np.zeros(img1.shape[:2] + (2,), np.float32)
        return z, z.copy()


def evaluate_backend(flow_fn, pairs: list[FlowPair]) -> tuple[dict, list[dict]]:
    """Run ``flow_fn`` on every pair; returns (means incl. ``sec_per_pair``, per-pair rows)."""
    rows = []
    t = 0.0
    for p in pairs:
        t0 = time.perf_counter()
        fwd, _ = flow_fn(p.img1, p.img2)
        t += time.perf_counter() - t0
        rows.append({"name": p.name, **pair_metrics(fwd, p.gt, p.valid, p.noc)})
    means = mean_metrics(rows)
    means["sec_per_pair"] = t / max(len(pairs), 1)
    return means, rows


def evaluate_flows(backends: dict, datasets: dict) -> dict:
    """``{backend: {dataset: means}}`` for every backend callable and every ``{name: [FlowPair]}`` dataset."""
    return {b: {d: evaluate_backend(fn, pairs)[0] for d, pairs in datasets.items()} for b, fn in backends.items()}


def standard_datasets(middlebury: "str | Path | None", synth_pairs: int = SYNTH_PAIRS,
                      synth_size: tuple[int, int] = SYNTH_SIZE) -> dict:
    """The datasets of the README table: held-out synthetic, Middlebury real, Middlebury synthetic."""
    data = {}
    if synth_pairs > 0:
        data["synthetic (held-out)"] = synthetic_pairs(synth_pairs, synth_size)
    if middlebury is not None:
        data["Middlebury real"] = middlebury_pairs(middlebury, MIDDLEBURY_REAL)
        data["Middlebury synthetic"] = middlebury_pairs(middlebury, MIDDLEBURY_SYNTHETIC)
    return data


def _fmt(v: float, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def format_flow_table(results: dict, markdown: bool = True) -> str:
    """One row per (dataset, backend): EPE all, EPE noc, Fl-all, seconds per pair."""
    head = ["data", "backend", "EPE all", "EPE noc", "Fl-all", "s/pair"]
    rows = []
    datasets = list(dict.fromkeys(d for per in results.values() for d in per))
    for d in datasets:
        for b, per in results.items():
            if d in per:
                m = per[d]
                rows.append([f"{d} ({m['pairs']})", b, _fmt(m["epe"]), _fmt(m["epe_noc"]), _fmt(m["fl_all"], True),
                             f"{m['sec_per_pair']:.3f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in [head, *rows])
