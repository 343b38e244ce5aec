"""Depth evaluation data: the held-out synthetic frames, TartanAir hospital, KITTI raw Velodyne."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...errors import UserError
from .metrics import DRIVING_CAP


#: frames of the held-out synthetic set evaluated by default.
SYNTH_FRAMES = 48

#: folders under the shared data root, per dataset name.
DATA_FOLDERS = {"tartanair": "tartanair_hospital", "kitti": "kitti_raw_2011_09_26_drive_0005"}
DATASETS = ("synthetic", "tartanair", "kitti")
#: TartanAir's pinhole camera: fx = 320 px for 640 px wide images.
TARTANAIR_FX_RATIO = 0.5
#: KITTI crops of the ground truth: "none" (every projected point), or "garg": the window
#: (rows 0.408-0.992 of the height, columns 0.036-0.964 of the width) that Garg et al. (ECCV
#: 2016) introduced and the monocular-depth papers (TrianFlow among them) evaluate in.
KITTI_CROPS = ("none", "garg")
_GARG = (0.40810811, 0.99189189, 0.03594771, 0.96405229)  # top, bottom, left, right (fractions)


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

# ----------------------------------------------------------------------------------- datasets
def synthetic_dataset(n: int = SYNTH_FRAMES, size: tuple[int, int] = (416, 128)) -> DepthDataset:
    """The first ``n`` held-out synthetic frames at ``size = (W, H)`` (exact depth, 0 = sky); cap 80 m."""
    from ...synth.samples.depth_synth import heldout_depth_set

    samples = [DepthSample(f"synth{i:03d}", s["img1"], s["depth1"].astype(np.float32), float(s["fx_ratio"]),
                           np.asarray(s["K"], np.float64))
               for i, s in enumerate(heldout_depth_set(int(n), int(size[0]), int(size[1])))]
    return DepthDataset("synthetic", samples, DRIVING_CAP, "heldout_depth_set (vo_app/synth/samples/depth_synth.py)",
                        f"rendered at {size[0]}x{size[1]}")


def _index(name: str) -> int | None:
    m = re.match(r"^(\d+)", name)
    return int(m.group(1)) if m else None


def tartanair_dataset(root: "str | Path") -> DepthDataset:
    """TartanAir frames with depth: ``image_left/<i>_left.png`` + ``depth_left/<i>_left_depth.npy``.

    Matched by the leading index of the file names; native size (640x480), ``fx_ratio`` 0.5;
    no depth cap (indoor metres).
    """
    from ...io.images import ImageReadError, list_images, read_image

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


def crop_window(height: int, width: int, crop: str = "none") -> np.ndarray:
    """``[H,W]`` bool: the pixels whose ground truth is scored under ``crop`` (:data:`KITTI_CROPS`)."""
    if crop not in KITTI_CROPS:
        raise ValueError(f"unknown crop {crop!r}; one of {', '.join(KITTI_CROPS)}")
    if crop == "none":
        return np.ones((height, width), bool)
    t, b, l, r = _GARG  # as the papers' code: fractions times the size, truncated, end-exclusive
    keep = np.zeros((height, width), bool)
    keep[int(t * height):int(b * height), int(l * width):int(r * width)] = True
    return keep


def kitti_raw_dataset(root: "str | Path", camera: int = 2, cap: float = DRIVING_CAP, crop: str = "none") -> DepthDataset:
    """The frames of a KITTI raw drive that have a Velodyne scan, at native size.

    Ground truth: :func:`vo_app.io.kitti_raw.velodyne_depth` (sparse), set to 0 (unknown)
    outside :func:`crop_window` (``crop``: "none" keeps every point, "garg" the papers' window);
    ``fx_ratio = P_rect_0<camera> fx / native width``.
    """
    from ...io.images import ImageReadError, list_images, read_image
    from ...io.kitti_raw import rectified_projection, velodyne_depth

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
        gt = np.where(crop_window(*gt.shape, crop), gt, 0).astype(np.float32)
        W = img.shape[1]
        samples.append(DepthSample(p.stem, img, gt, float(P[0, 0] / W), P[:, :3].copy()))
    where = "no crop" if crop == "none" else "Garg crop (rows 0.408-0.992, columns 0.036-0.964)"
    return DepthDataset("kitti", samples, cap, str(root),
                        f"native size, {where}, Velodyne points projected to image_0{camera}; all pixels with a "
                        f"point and depth <= {cap:g} m are used", info={"crop": crop})


def default_shared_root() -> Path:
    """``$VO_DATA``, else ``../shared/data`` relative to the current directory."""
    env = os.environ.get("VO_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


def standard_depth_datasets(names, shared: "str | Path", synth_frames: int = SYNTH_FRAMES,
                            size: tuple[int, int] = (416, 128), kitti_crop: str = "none") -> tuple[dict, list[str]]:
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
        out[name] = tartanair_dataset(folder) if name == "tartanair" else kitti_raw_dataset(folder, crop=kitti_crop)
    return out, notices
