"""Depth accuracy: the standard single-image depth metrics on synthetic, TartanAir and KITTI frames.

Metrics of one image (Eigen et al.'s set) over the valid ground-truth pixels ``0 < gt <= cap``,
with the prediction clipped to ``[MIN_DEPTH, cap]`` (after median scaling, when asked)::

    abs_rel   mean |pred - gt| / gt            sq_rel    mean (pred - gt)^2 / gt
    rmse      sqrt mean (pred - gt)^2  [m]     rmse_log  sqrt mean (log pred - log gt)^2
    a1/a2/a3  fraction with max(pred/gt, gt/pred) < 1.25, 1.25^2, 1.25^3

Each is computed metric (the prediction as is) and median-scaled (``pred *= median(gt) /
median(pred)`` per image, which removes the unknown scale of a monocular method); a dataset's
number is the mean over its images.

Datasets are lists of :class:`DepthSample` ``(name, image, gt, fx_ratio, K)``; methods are
callables ``samples -> [pred [H,W]]`` (:class:`NetworkDepth`, :class:`ConstantDepth`,
:class:`GroundPlaneDepth`).  :func:`evaluate_depth` runs every method on every dataset it
applies to; :func:`format_depth_table`, :func:`write_depth_json` and :func:`write_depth_pictures`
report the results.
"""
from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import UserError

#: the usual depth cap for driving data (KITTI, the synthetic street), metres.
DRIVING_CAP = 80.0
#: predictions are clipped below at this depth (metres) so that log and ratios stay finite.
MIN_DEPTH = 1e-3
METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
#: KITTI's camera height above the road, metres (also the synthetic driving camera's).
CAMERA_HEIGHT = 1.65
#: frames of the held-out synthetic set evaluated by default.
SYNTH_FRAMES = 48
#: frames of the training stream averaged for the mean-depth baseline when the checkpoint has none.
MEAN_DEPTH_SAMPLES = 64
#: folders under the shared data root, per dataset name.
DATA_FOLDERS = {"tartanair": "tartanair_hospital", "kitti": "kitti_raw_2011_09_26_drive_0005"}
DATASETS = ("synthetic", "tartanair", "kitti")
#: TartanAir's pinhole camera: fx = 320 px for 640 px wide images.
TARTANAIR_FX_RATIO = 0.5


class DepthSample(NamedTuple):
    """One evaluation frame.

    ``image`` float32 ``[H,W,3]`` (or ``[H,W]``) in [0,1]; ``gt`` float32 ``[H,W]`` metric
    z-depth, 0 where unknown; ``fx_ratio`` focal length in pixels over the image width;
    ``K`` float64 ``[3,3]`` at the image size, or None (needed only by the ground-plane baseline).
    """

    name: str
    image: np.ndarray
    gt: np.ndarray
    fx_ratio: float
    K: "np.ndarray | None" = None


@dataclass
class DepthDataset:
    """A named list of samples, its depth cap (None: no cap) and where it came from."""

    name: str
    samples: list
    cap: "float | None"
    source: str
    notes: str = ""
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------ metrics
def valid_mask(gt: np.ndarray, cap: "float | None") -> np.ndarray:
    """bool ``[H,W]``: finite ground truth with ``0 < gt`` (and ``gt <= cap`` when a cap is given)."""
    gt = np.asarray(gt)
    m = np.isfinite(gt) & (gt > 0)
    if cap is not None:
        m &= gt <= cap
    return m


def depth_metrics(pred: np.ndarray, gt: np.ndarray, cap: "float | None" = DRIVING_CAP,
                  median_scale: bool = False) -> dict:
    """The metrics of one image (see the module docstring).

    Args:
        pred, gt: ``[H,W]`` depths in metres (gt 0 where unknown).
        cap: largest ground-truth depth used and largest predicted depth (metres); None: no cap.
        median_scale: multiply the prediction by ``median(gt) / median(pred)`` over the valid pixels.

    Returns:
        ``{metric: float}`` for :data:`METRICS`, plus ``pixels`` (valid pixel count) and ``scale``
        (the factor applied, 1 without median scaling); metrics are NaN when no pixel is valid.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    m = valid_mask(gt, cap)
    n = int(m.sum())
    if n == 0:
        return {**{k: math.nan for k in METRICS}, "pixels": 0, "scale": math.nan}
    g, p = gt[m], pred[m]
    scale = 1.0
    if median_scale:
        mp = float(np.median(p))
        scale = float(np.median(g)) / mp if mp > 0 else math.nan
        p = p * scale
    p = np.clip(np.nan_to_num(p, nan=MIN_DEPTH), MIN_DEPTH, np.inf if cap is None else cap)
    ratio = np.maximum(g / p, p / g)
    d = p - g
    return {"abs_rel": float(np.mean(np.abs(d) / g)), "sq_rel": float(np.mean(d * d / g)),
            "rmse": float(np.sqrt(np.mean(d * d))), "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
            "a1": float(np.mean(ratio < 1.25)), "a2": float(np.mean(ratio < 1.25 ** 2)),
            "a3": float(np.mean(ratio < 1.25 ** 3)), "pixels": n, "scale": scale}


def mean_depth_metrics(rows: list) -> dict:
    """Mean of each metric over images with valid pixels; ``frames`` (those images), ``pixels`` (total),
    ``scale_median`` / ``scale_std`` (of the per-image median-scaling factors)."""
    used = [r for r in rows if r["pixels"] > 0]
    out = {k: float(np.mean([r[k] for r in used])) if used else math.nan for k in METRICS}
    out["frames"] = len(used)
    out["pixels"] = int(sum(r["pixels"] for r in rows))
    scales = np.array([r["scale"] for r in used], np.float64)
    scales = scales[np.isfinite(scales)]
    out["scale_median"] = float(np.median(scales)) if scales.size else math.nan
    out["scale_std"] = float(np.std(scales / np.median(scales))) if scales.size else math.nan
    return out


# ----------------------------------------------------------------------------------- datasets
def synthetic_dataset(n: int = SYNTH_FRAMES, size: tuple[int, int] = (416, 128)) -> DepthDataset:
    """The first ``n`` held-out synthetic frames at ``size = (W, H)`` (exact depth, 0 = sky); cap 80 m."""
    from ..train.data.depth_synth import heldout_depth_set

    samples = [DepthSample(f"synth{i:03d}", s["img1"], s["depth1"].astype(np.float32), float(s["fx_ratio"]),
                           np.asarray(s["K"], np.float64))
               for i, s in enumerate(heldout_depth_set(int(n), int(size[0]), int(size[1])))]
    return DepthDataset("synthetic", samples, DRIVING_CAP, "heldout_depth_set (vo_app/train/data/depth_synth.py)",
                        f"rendered at {size[0]}x{size[1]}")


def _index(name: str) -> int | None:
    m = re.match(r"^(\d+)", name)
    return int(m.group(1)) if m else None


def tartanair_dataset(root: "str | Path") -> DepthDataset:
    """TartanAir frames with depth: ``image_left/<i>_left.png`` + ``depth_left/<i>_left_depth.npy``.

    Matched by the leading index of the file names; native size (640x480), ``fx_ratio`` 0.5;
    no depth cap (indoor metres).
    """
    from ..io.images import ImageReadError, list_images, read_image

    root = Path(root)
    depth_dir = root / "depth_left"
    depths = {_index(p.name): p for p in sorted(depth_dir.glob("*.npy"))}
    depths.pop(None, None)
    images = {_index(p.name): p for p in list_images(root / "image_left")}
    common = sorted(set(depths) & set(images))
    if not common:
        raise UserError("no image_left/<i>_left.png with a depth_left/<i>_left_depth.npy", path=root,
                        fix="pass the TartanAir folder that holds image_left/ and depth_left/")
    samples = []
    for i in common:
        try:
            img = read_image(images[i], color=True)
        except ImageReadError as e:
            raise UserError(f"cannot read image ({e})", path=images[i], fix="restore the TartanAir folder") from None
        try:
            gt = np.load(depths[i]).astype(np.float32)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read depth ({e})", path=depths[i], fix="restore the TartanAir folder") from None
        if gt.shape != img.shape[:2]:
            raise UserError(f"depth is {gt.shape[1]}x{gt.shape[0]} but the image is {img.shape[1]}x{img.shape[0]}",
                            path=depths[i], fix="restore the TartanAir folder")
        H, W = gt.shape
        f = TARTANAIR_FX_RATIO * W
        K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], np.float64)  # 320, 320, 240 at 640x480
        samples.append(DepthSample(images[i].stem, img, gt, TARTANAIR_FX_RATIO, K))
    return DepthDataset("tartanair", samples, None, str(root), "native size, float32 depth, no cap")


def kitti_raw_dataset(root: "str | Path", camera: int = 2, cap: float = DRIVING_CAP) -> DepthDataset:
    """The frames of a KITTI raw drive that have a Velodyne scan, at native size, no crop.

    Ground truth: :func:`vo_app.io.kitti_raw.velodyne_depth` (sparse);
    ``fx_ratio = P_rect_0<camera> fx / native width``.
    """
    from ..io.images import ImageReadError, list_images, read_image
    from ..io.kitti_raw import rectified_projection, velodyne_depth

    root = Path(root)
    images = list_images(root / f"image_0{camera}" / "data")
    scans = {p.stem for p in (root / "velodyne_points" / "data").glob("*.bin")}
    chosen = [p for p in images if p.stem in scans]
    if not chosen:
        raise UserError(f"no image_0{camera}/data frame has a velodyne_points/data/<index>.bin scan", path=root,
                        fix="pass a KITTI raw drive with Velodyne scans")
    P = rectified_projection(root, camera)
    samples = []
    for p in chosen:
        try:
            img = read_image(p, color=True)
        except ImageReadError as e:
            raise UserError(f"cannot read image ({e})", path=p, fix="restore the drive folder") from None
        gt = velodyne_depth(root, int(p.stem) if p.stem.isdigit() else 0, camera, image_path=str(p))
        W = img.shape[1]
        samples.append(DepthSample(p.stem, img, gt, float(P[0, 0] / W), P[:, :3].copy()))
    return DepthDataset("kitti", samples, cap, str(root),
                        f"native size, no crop, Velodyne points projected to image_0{camera}; all pixels with a "
                        f"point and depth <= {cap:g} m are used")


def default_shared_root() -> Path:
    """``$VO_DATA``, else ``../shared/data`` relative to the current directory."""
    env = os.environ.get("VO_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


def standard_depth_datasets(names, shared: "str | Path", synth_frames: int = SYNTH_FRAMES,
                            size: tuple[int, int] = (416, 128)) -> tuple[dict, list[str]]:
    """``({name: DepthDataset}, notices)`` for ``names`` (subset of :data:`DATASETS`, in that order).

    A dataset whose folder under ``shared`` is missing is skipped with a one-line notice, as is the
    synthetic set when ``synth_frames`` is 0.
    """
    shared = Path(shared)
    out, notices = {}, []
    for name in [d for d in DATASETS if d in set(names)]:
        if name == "synthetic":
            if synth_frames > 0:
                out[name] = synthetic_dataset(synth_frames, size)
            else:
                notices.append("skipped synthetic (--synthetic-pairs 0)")
            continue
        folder = shared / DATA_FOLDERS[name]
        if not folder.is_dir():
            notices.append(f"skipped {name}: folder not found: {folder}")
            continue
        out[name] = tartanair_dataset(folder) if name == "tartanair" else kitti_raw_dataset(folder)
    return out, notices


# ------------------------------------------------------------------------------------ methods
class NetworkDepth:
    """A :class:`vo_app.models.depth.DepthPredictor` as a method: predicts each frame at its own size."""

    applies_to = None  # every dataset

    def __init__(self, predictor, batch: int = 8):
        self.predictor, self.batch = predictor, int(batch)

    def __call__(self, samples: list) -> list:
        out = []
        for i in range(0, len(samples), self.batch):
            chunk = samples[i:i + self.batch]
            by_size: dict = {}
            for j, s in enumerate(chunk):
                by_size.setdefault(s.image.shape[:2], []).append(j)
            preds = [None] * len(chunk)
            for idx in by_size.values():
                fx = np.array([chunk[j].fx_ratio for j in idx], np.float32)
                for j, d in zip(idx, self.predictor.predict([chunk[j].image for j in idx], fx)):
                    preds[j] = d
            out += preds
        return out


class ConstantDepth:
    """The same depth (metres) everywhere: the "mean training depth" baseline."""

    applies_to = None

    def __init__(self, depth: float):
        self.depth = float(depth)

    def __call__(self, samples: list) -> list:
        return [np.full(s.gt.shape, self.depth, np.float32) for s in samples]


class GroundPlaneDepth:
    """A flat road ``height`` metres below the camera: ``depth = height * fy / (v - cy)`` below the horizon.

    Rows with ``v <= cy + 1`` (the horizon and above) get ``far`` metres.  Needs each sample's ``K``.
    """

    applies_to = ("kitti",)

    def __init__(self, height: float = CAMERA_HEIGHT, far: float = DRIVING_CAP):
        self.height, self.far = float(height), float(far)

    def depth(self, K: np.ndarray, width: int, height: int) -> np.ndarray:
        """float32 ``[height, width]`` metres for intrinsics ``K [3,3]`` at that size."""
        fy, cy = float(K[1, 1]), float(K[1, 2])
        v = np.arange(height, dtype=np.float64)
        below = v > cy + 1.0
        d = np.full(height, self.far)
        d[below] = np.minimum(self.height * fy / (v[below] - cy), self.far)
        return np.repeat(d[:, None], width, axis=1).astype(np.float32)

    def __call__(self, samples: list) -> list:
        if any(s.K is None for s in samples):
            raise ValueError("the ground-plane baseline needs the intrinsics K of every sample")
        return [self.depth(s.K, s.gt.shape[1], s.gt.shape[0]) for s in samples]


def mean_training_depth(ckpt: dict, samples: int = MEAN_DEPTH_SAMPLES) -> tuple[float, str]:
    """``(metres, where it came from)``: ``ckpt["training"]["mean_depth"]`` when present, else the mean
    valid depth (all pixels pooled) of the first ``samples`` frames of the default training stream
    (``make_depth_sample(SynthDepthSpec(), i, W, H)``, vo_app/train/data/depth_synth.py) at the
    checkpoint's working size."""
    v = (ckpt.get("training") or {}).get("mean_depth")
    if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
        return float(v), "checkpoint training.mean_depth"
    from ..train.data.depth_synth import SynthDepthSpec, make_depth_sample

    W, H = ckpt["image_size"]
    total, count = 0.0, 0
    for i in range(int(samples)):
        d = make_depth_sample(SynthDepthSpec(), i, W, H)["depth1"]
        m = d > 0
        total += float(d[m].sum(dtype=np.float64))
        count += int(m.sum())
    return total / max(count, 1), f"mean valid depth of {samples} synthetic training frames"


# --------------------------------------------------------------------------------- evaluation
def evaluate_method(method, dataset: DepthDataset, keep: "set[int] | None" = None) -> tuple[dict, dict]:
    """Run ``method`` on ``dataset``.

    Returns ``(result, kept)``: ``result = {"median_scaled": means, "metric": means, "per_frame": [...]}``
    (means of :func:`mean_depth_metrics`) and ``kept = {index: pred [H,W]}`` for the indices in ``keep``.
    """
    preds = method(dataset.samples)
    rows_s, rows_m, per_frame, kept = [], [], [], {}
    for i, (s, p) in enumerate(zip(dataset.samples, preds)):
        ms = depth_metrics(p, s.gt, dataset.cap, median_scale=True)
        mm = depth_metrics(p, s.gt, dataset.cap, median_scale=False)
        rows_s.append(ms)
        rows_m.append(mm)
        per_frame.append({"name": s.name, "pixels": ms["pixels"], "median_scaled": ms, "metric": mm})
        if keep is not None and i in keep:
            kept[i] = p
    return {"median_scaled": mean_depth_metrics(rows_s), "metric": mean_depth_metrics(rows_m),
            "per_frame": per_frame}, kept


def picture_indices(n: int, count: int) -> list[int]:
    """Up to ``count`` frame indices spread over ``0..n-1`` (first, last, evenly between)."""
    if n <= 0 or count <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(count, n))})


def evaluate_depth(methods: dict, datasets: dict, pictures_dir: "str | Path | None" = None,
                   pictures_per_dataset: int = 3) -> tuple[dict, list]:
    """``({dataset: {method: result}}, written picture paths)`` for every method that applies.

    ``methods``: ``{label: callable}`` (the first one is drawn in the pictures); a method with an
    ``applies_to`` tuple runs only on those dataset names.
    """
    results, written = {}, []
    first = next(iter(methods), None)
    for dname, ds in datasets.items():
        results[dname] = {}
        for label, fn in methods.items():
            if getattr(fn, "applies_to", None) is not None and dname not in fn.applies_to:
                continue
            keep = set(picture_indices(len(ds.samples), pictures_per_dataset)) if (
                pictures_dir is not None and label == first) else None
            res, kept = evaluate_method(fn, ds, keep)
            results[dname][label] = res
            for i, pred in sorted(kept.items()):
                out = Path(pictures_dir) / f"{dname}_{i:03d}_{ds.samples[i].name}.png"
                written.append(write_depth_picture(out, ds.samples[i], pred, ds.cap, f"{dname} {ds.samples[i].name}"
                                                   f" - {label}"))
    return results, written


# ----------------------------------------------------------------------------------- reports
def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def format_depth_table(results: dict, datasets: "dict | None" = None) -> str:
    """Markdown table: a row per (dataset, method); median-scaled AbsRel..d3, then metric AbsRel, RMSE, d1."""
    head = ["data", "method", "AbsRel", "SqRel", "RMSE", "RMSElog", "d1", "d2", "d3", "AbsRel (metric)",
            "RMSE (metric)", "d1 (metric)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dname, per in results.items():
        n = len(datasets[dname].samples) if datasets and dname in datasets else None
        for label, r in per.items():
            s, m = r["median_scaled"], r["metric"]
            cells = [f"{dname} ({n if n is not None else s['frames']})", label]
            cells += [_fmt(s[k]) for k in METRICS] + [_fmt(m["abs_rel"]), _fmt(m["rmse"]), _fmt(m["a1"])]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("AbsRel..d3: median-scaled per image; (metric): the prediction as is. d1..d3: delta < 1.25^k.")
    return "\n".join(lines)


def dataset_summary(datasets: dict) -> dict:
    """``{name: {"frames", "cap", "source", "notes", "gt_pixels"}}`` for the JSON report.

    ``gt_pixels`` counts the pixels the metrics use: ground truth ``> 0`` (and ``<= cap``).
    """
    return {n: {"frames": len(d.samples), "cap": d.cap, "source": d.source, "notes": d.notes,
                "gt_pixels": int(sum(valid_mask(s.gt, d.cap).sum() for s in d.samples)),
                "image_sizes": sorted({f"{s.gt.shape[1]}x{s.gt.shape[0]}" for s in d.samples}), **d.info}
            for n, d in datasets.items()}


def write_depth_json(path: "str | Path", results: dict, meta: dict) -> Path:
    """Write ``{**meta, "results": results}`` atomically (NaN and inf as null)."""
    from ..io.atomic import atomic_write_json

    return atomic_write_json(path, {**meta, "metrics": list(METRICS), "results": results})


def _dilate_sparse(gt: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """For display only: sparse ground truth (< 20 % of pixels) and its error map grown by 3x3.

    Returns ``(gt [H,W] with the nearest depth of each neighbourhood, err [H,W] with its largest
    error (NaN where none), dilated)``.
    """
    if (gt > 0).mean() >= 0.2:
        return gt, err, False
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    inv = cv2.dilate(np.where(gt > 0, 1.0 / np.maximum(gt, 1e-6), 0).astype(np.float32), kernel)
    big = cv2.dilate(np.nan_to_num(err, nan=-1.0).astype(np.float32), kernel)
    return (np.where(inv > 0, 1.0 / np.maximum(inv, 1e-12), 0).astype(np.float32),
            np.where(big >= 0, big, np.nan).astype(np.float32), True)


def write_depth_picture(path: "str | Path", sample: DepthSample, pred: np.ndarray, cap: "float | None",
                        title: str = "") -> Path:
    """PNG grid (image | prediction / ground truth | abs-rel error of the median-scaled prediction), atomic.

    Depths share a log colour scale in metres (near bright); the error map spans 0..0.5.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from ..io.atomic import atomic_write_bytes

    gt = np.asarray(sample.gt, np.float32)
    pred = np.asarray(pred, np.float32)
    m = valid_mask(gt, cap)
    H, W = gt.shape
    lo, hi = (np.percentile(gt[m], [2, 98]) if m.any() else (1.0, 50.0))
    lo, hi = max(float(lo), 0.1), max(float(hi), float(lo) * 1.5, 0.2)
    norm = LogNorm(vmin=lo, vmax=hi)
    err = np.full(gt.shape, np.nan, np.float32)
    sm = depth_metrics(pred, gt, cap, median_scale=True)
    if m.any():
        ps = np.clip(pred[m] * sm["scale"], MIN_DEPTH, np.inf if cap is None else cap)
        err[m] = np.abs(ps - gt[m]) / gt[m]
    shown_gt, shown_err, dilated = _dilate_sparse(gt, err)
    panel_w = 6.0
    fig = Figure(figsize=(2 * panel_w, 2 * panel_w * H / W + 1.2))
    axes = fig.subplots(2, 2)
    img = np.clip(sample.image, 0, 1)
    axes[0, 0].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    axes[0, 0].set_title("image", fontsize=9)
    im = axes[0, 1].imshow(np.clip(pred, lo, hi), cmap="magma_r", norm=norm)
    axes[0, 1].set_title(f"prediction (metric, x{sm['scale']:.2f} to median-scale)", fontsize=9)
    fig.colorbar(im, ax=axes[0, 1], fraction=0.03, label="m")
    im = axes[1, 0].imshow(np.ma.masked_where(shown_gt <= 0, np.clip(shown_gt, lo, hi)), cmap="magma_r", norm=norm)
    sparse = " (dilated for display)" if dilated else ""
    axes[1, 0].set_title(f"ground truth, {int(m.sum())} px{sparse}", fontsize=9)
    fig.colorbar(im, ax=axes[1, 0], fraction=0.03, label="m")
    im = axes[1, 1].imshow(np.ma.masked_invalid(shown_err), cmap="inferno", vmin=0, vmax=0.5)
    axes[1, 1].set_title(f"abs-rel error, median-scaled (mean {_fmt(sm['abs_rel'])})", fontsize=9)
    fig.colorbar(im, ax=axes[1, 1], fraction=0.03)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("0.85")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return atomic_write_bytes(path, buf.getvalue())
