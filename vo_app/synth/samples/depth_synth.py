"""Synthetic frames with exact depth for the depth network: an index-addressable stream.

Sample ``i`` is a pure function of ``(spec.seed, i)`` (as in :mod:`.synthetic`), so a resumed
run sees the batches an uninterrupted run would have seen, with any number of workers.

Cameras are the ones users have:
- driving: the street renderer with a KITTI-like camera (focal ``0.58 W``, a few percent of
  jitter) at ``camera_height`` (1.65 m, KITTI's) above the road, forward motion; with
  ``turn_fraction`` that share of driving frames is seen with the camera turned about its
  vertical axis by a uniform angle (a car turning at a junction looks across the street, a view
  the forward camera never has), and with ``junction_fraction`` that share ends its street at a
  T-junction 15-60 m ahead, buildings across it (``make_scene(junction=...)``), where the other
  streets run on to a far wall;
- handheld: walking through the street with 6-DoF wobble, a wider range of focal lengths;
- indoor: a handheld camera in a furnished room (7-Scenes-like focal ``~0.9 W``), when the
  renderer has the ``indoor`` scene kind (``indoor_fraction``).

``pair=True`` adds a second frame ``gap`` frames later with its depth and the exact relative
motion ``T_21`` (points of camera 1 -> camera 2), for the self-supervised losses' tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...synth import default_intrinsics, make_scene, make_trajectory, render_frame
from ...synth.scene import GROUND_Y, SCENE_KINDS
from .augment import gray3, photometric
from .pool import RenderCache, augment_rng, cache_tag, pool_entry
from .scene_cache import LRU



@dataclass(frozen=True)
class SynthDepthSpec:
    """What the stream contains (stored in checkpoints; a resumed run must use the same)."""

    seed: int = 0
    scene_base: int = 2000  # scenes are seeds scene_base .. scene_base + scenes - 1
    scenes: int = 24
    handheld_fraction: float = 0.2
    indoor_fraction: float = 0.0
    gray_fraction: float = 0.5
    camera_height: float = 1.65
    turn_fraction: float = 0.0
    augment: bool = True
    pool: int = 0  # > 0: a finite set of that many renders, re-augmented each epoch (.pool)
    road_objects: bool = False  # street scenes with traffic beside the camera's line (make_scene)
    junction_fraction: float = 0.0  # share of driving frames where the street ends at a T-junction ahead

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, default in (("pool", 0), ("road_objects", False), ("junction_fraction", 0.0)):
            if d[k] == default:  # absent at their defaults, so runs from before the options still resume
                del d[k]
        return d


#: held-out frames (validation, ``vo-eval depth``): other seeds and scenes never trained on.
HELDOUT_DEPTH = SynthDepthSpec(seed=20241123, scene_base=910000, scenes=6, augment=False, gray_fraction=0.0)

#: (scene kind, trajectory kind, frames, scene length m, focal ratio range, fps)
_CAMERAS = {
    "driving": ("forward", "forward", 80, 90.0, (0.55, 0.61), 10.0),
    "handheld": ("handheld", "handheld", 100, 40.0, (0.5, 0.9), 10.0),
    "indoor": ("indoor", "indoor", 150, None, (0.8, 1.0), 30.0),
}
#: every (scene, camera) of a 24-scene stream stays cached (~2-4 GB per process)
_SCENES = LRU(64)


#: T-junction streets (``junction_fraction``): street lengths (m) and the cross street's width (m); the
#: driving camera is placed 15-60 m before the buildings across, at least 3 m before the junction
JUNCTION_LENGTHS = (40.0, 55.0, 70.0)
JUNCTION_WIDTH = 14.0


def _build(seed: int, camera: str, road_objects: bool = False, length: float | None = None):
    skind, mkind, n, default_length, _, fps = _CAMERAS[camera]
    extra = {"road_objects": True} if road_objects and skind != "indoor" else {}
    if length is not None:  # a T-junction street (driving only)
        extra.update(length=length, junction=JUNCTION_WIDTH)
    elif default_length is not None:
        extra["length"] = default_length
    return make_scene(seed, skind, **extra), make_trajectory(mkind, n, seed=seed, fps=fps)[0]


def _scene(seed: int, camera: str, road_objects: bool = False, length: float | None = None):
    key = (seed, camera, bool(road_objects)) + (() if length is None else (float(length),))
    return _SCENES.get(key, lambda: _build(seed, camera, road_objects, length))


def _junction_frames(poses: list, length: float, gap: int) -> np.ndarray:
    """Frame indices whose camera is 15-60 m before the buildings across a T-junction street of
    ``length`` and at least 3 m before the junction (the street's far end is at ``length + 30``)."""
    far = length + 30.0
    z = np.array([p[2, 3] for p in poses[: len(poses) - gap]])
    ok = np.flatnonzero((far - z >= 15.0) & (far - z <= 60.0) & (z <= far - JUNCTION_WIDTH - 3.0))
    return ok if len(ok) else np.arange(len(poses) - gap)


def _yaw(angle: float) -> np.ndarray:
    """``[4,4]`` rotation by ``angle`` (radians) about the camera's vertical (y) axis."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.eye(4)
    out[0, 0], out[0, 2], out[2, 0], out[2, 2] = c, s, -s, c
    return out


def _pick_camera(rng: np.random.Generator, spec: SynthDepthSpec) -> str:
    u = rng.random()
    if u < spec.indoor_fraction and "indoor" in SCENE_KINDS:
        return "indoor"
    if u < spec.indoor_fraction + spec.handheld_fraction:
        return "handheld"
    return "driving"


def render_cache(spec: SynthDepthSpec, width: int, height: int, cache_dir: "str | None", pair: bool = False,
                 gap: int = 1) -> "RenderCache | None":
    """Where the pool entries of this stream are stored under ``cache_dir`` (None: no cache)."""
    if not cache_dir:
        return None
    return RenderCache(cache_dir, cache_tag(f"depth-pair{gap}" if pair else "depth", spec.to_dict(), width, height))


def make_depth_sample(spec: SynthDepthSpec, index: int, width: int, height: int, *, pair: bool = False,
                      gap: int = 1, cache_dir: "str | None" = None) -> dict:
    """Sample ``index``: ``img1 [H,W,3]`` float32 in [0,1], ``depth1 [H,W]`` (metres, 0 = sky),
    ``K [3,3]`` float64 at ``(width, height)``, ``fx_ratio`` (= fx / W), ``camera`` (its kind);
    with ``pair``: also ``img2``, ``depth2`` and ``T_21 [4,4]`` (camera-1 points -> camera 2).
    With ``spec.pool`` the frames are pool entry ``index mod pool`` (read from ``cache_dir``
    when stored there, see :mod:`.pool`).
    """
    if spec.pool:
        def render(j: int) -> dict:
            rng_j = np.random.default_rng([int(spec.seed) & 0xFFFFFFFF, 11, j])
            return _render(spec, rng_j, width, height, pair, gap)

        out = dict(pool_entry(int(index) % spec.pool, render, render_cache(spec, width, height, cache_dir, pair, gap)))
        return _augment(spec, augment_rng(spec.seed, index), out, width, pair)
    rng = np.random.default_rng([int(spec.seed) & 0xFFFFFFFF, 11, int(index)])
    return _augment(spec, rng, _render(spec, rng, width, height, pair, gap), width, pair)


def _render(spec: SynthDepthSpec, rng: np.random.Generator, width: int, height: int, pair: bool, gap: int) -> dict:
    """The frame(s) of a sample before augmentation (draws from ``rng``)."""
    camera = _pick_camera(rng, spec)
    seed = int(spec.scene_base + int(rng.integers(0, spec.scenes)))
    # drawn only when asked for, so that streams without junctions keep their samples
    junction = camera == "driving" and spec.junction_fraction > 0 and rng.random() < spec.junction_fraction
    length = float(JUNCTION_LENGTHS[int(rng.integers(0, len(JUNCTION_LENGTHS)))]) if junction else None
    scene, poses = _scene(seed, camera, spec.road_objects, length)
    lo, hi = _CAMERAS[camera][4]
    fr = float(rng.uniform(lo, hi))
    intr = default_intrinsics(int(width), int(height), fr)
    if junction:
        frames = _junction_frames(poses, length, gap)
        t = int(frames[int(rng.integers(0, len(frames)))])
    else:
        t = int(rng.integers(0, len(poses) - gap))
    pose1 = poses[t].copy()
    turn = np.eye(4)
    if camera == "driving":
        # trajectories start GROUND_Y above the road (y down): move the camera to camera_height
        pose1[1, 3] += GROUND_Y - spec.camera_height
        # drawn only when asked for, so that streams without turns keep their samples
        if spec.turn_fraction > 0 and rng.random() < spec.turn_fraction:
            turn = _yaw(float(rng.uniform(-np.pi, np.pi)))
            pose1 = pose1 @ turn
    img1, depth1 = render_frame(scene, intr, pose1)
    out = {"img1": img1, "depth1": depth1, "K": intr.K.astype(np.float64), "fx_ratio": np.float32(fr),
           "camera": camera}
    if pair:
        pose2 = poses[t + gap].copy()
        if camera == "driving":
            pose2[1, 3] += GROUND_Y - spec.camera_height
            pose2 = pose2 @ turn
        out["img2"], out["depth2"] = render_frame(scene, intr, pose2)
        out["T_21"] = np.linalg.inv(pose2) @ pose1
    return out


def _augment(spec: SynthDepthSpec, rng: np.random.Generator, out: dict, width: int, pair: bool) -> dict:
    flip = False
    if spec.augment:  # the flow stream's augmentation (synth/samples/augment.py), shared by the two frames
        out["img1"], second = photometric(rng, out["img1"], out.get("img2", out["img1"]), spec.gray_fraction)
        if pair:
            out["img2"] = second
        flip = (not pair) and rng.random() < 0.5  # a mirrored pair would need a mirrored pose
    elif rng.random() < spec.gray_fraction:
        for k in ("img1", "img2"):
            if k in out:
                out[k] = gray3(out[k])
    if flip:
        for k in ("img1", "depth1"):
            out[k] = np.ascontiguousarray(out[k][:, ::-1])
        out["K"] = out["K"].copy()
        out["K"][0, 2] = (width - 1) - out["K"][0, 2]
    return out


def depth_tensors(s: dict) -> dict:
    """NumPy sample -> tensors: images ``[3,H,W]``, depths ``[1,H,W]``, ``K [3,3]`` float32, ``fx_ratio []``."""
    out = {}
    for k, v in s.items():
        if k == "camera":
            continue
        v = np.asarray(v)
        if k.startswith("img"):
            out[k] = torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1), np.float32))
        elif k.startswith("depth"):
            out[k] = torch.from_numpy(np.ascontiguousarray(v[None], np.float32))
        else:
            out[k] = torch.from_numpy(np.ascontiguousarray(v, np.float32))
    return out


class SynthDepthDataset(torch.utils.data.Dataset):
    """``ds[i]``: sample ``i`` of the stream as tensors (see :func:`depth_tensors`)."""

    def __init__(self, spec: SynthDepthSpec, width: int, height: int, pair: bool = False,
                 cache_dir: "str | None" = None):
        self.spec, self.width, self.height, self.pair = spec, int(width), int(height), bool(pair)
        self.cache_dir = cache_dir or None

    def __len__(self) -> int:
        return 2 ** 40

    def __getitem__(self, i: int) -> dict:
        return depth_tensors(make_depth_sample(self.spec, int(i), self.width, self.height, pair=self.pair,
                                               cache_dir=self.cache_dir))


def heldout_depth_set(n: int, width: int, height: int, spec: SynthDepthSpec = HELDOUT_DEPTH) -> list[dict]:
    """The first ``n`` frames of the held-out stream (NumPy samples, see :func:`make_depth_sample`)."""
    return [make_depth_sample(spec, i, width, height) for i in range(int(n))]
