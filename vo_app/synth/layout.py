"""Writing rendered sequences in the KITTI odometry and TUM RGB-D folder layouts.

Every file is written through a temporary file and a rename.  A hidden
``.synth-in-progress`` marker exists while a folder is being written and
``synth.json`` (the parameters) is written last: its presence means the
folder is complete.  The ground-truth trajectories (``poses.txt``,
``groundtruth.txt``) are formatted by ``vo_app.io.trajectory``, the one
writer of each format (full float64 precision, like ``vo-run``'s own files).
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from vo_app.errors import UserError

from .camera import DEFAULT_FOCAL_RATIO, default_intrinsics
from ..io.flo import flo_bytes
from ..io.trajectory import format_kitti, format_tum
from .fileio import (depth_to_uint16, rgb_to_uint8, write_atomic, write_png,
                     write_text)
from .flow import compute_flow
from .motion import MOTIONS, make_trajectory
from .render import render_frame
from .scene import DEFAULT_LENGTH, make_scene

LAYOUTS = ("kitti", "tum", "both")
#: bump when the rendered content changes, so cached demo sequences are re-rendered.
GENERATOR_VERSION = 1
MARKER = "synth.json"
IN_PROGRESS = ".synth-in-progress"
KITTI_DEPTH_SCALE = 256.0
TUM_DEPTH_SCALE = 5000.0
TUM_TIME_OFFSET = 1.0
DEMO_PARAMS = dict(layout="kitti", n_frames=100, width=416, height=128, motion="forward", seed=0, fps=10.0,
                   write_flow=True)
#: ``(fps, focal_ratio)`` of each motion when the caller gives none: KITTI-like for the street
#: motions, 7-Scenes-like (30 Hz, 585 px at 640 px wide) for the ``indoor`` room.
MOTION_DEFAULTS = {"forward": (10.0, DEFAULT_FOCAL_RATIO), "handheld": (10.0, DEFAULT_FOCAL_RATIO),
                   "rotation": (10.0, DEFAULT_FOCAL_RATIO), "static": (10.0, DEFAULT_FOCAL_RATIO),
                   "indoor": (30.0, 0.91), "stopgo": (10.0, DEFAULT_FOCAL_RATIO)}
#: the scene kind (:data:`.scene.SCENE_KINDS`) of motions that have none of their own: ``stopgo``
#: drives in the ``forward`` street (sized for its path by :func:`scene_length`).
SCENE_OF_MOTION = {"stopgo": "forward"}
_OURS = {
    "kitti": {"image_2", "depth", "flow", "calib.txt", "times.txt", "poses.txt"},
    "tum": {"rgb", "depth", "flow", "rgb.txt", "depth.txt", "groundtruth.txt", "intrinsics.txt"},
    "both": {"kitti", "tum"},
}


class _KittiWriter:
    def __init__(self, root: Path, intr, write_flow: bool):
        self.root, self.intr, self.write_flow = root, intr, write_flow
        for sub in ("image_2", "depth") + (("flow",) if write_flow else ()):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def frame(self, i, t, rgb, depth):
        write_png(self.root / "image_2" / f"{i:06d}.png", rgb_to_uint8(rgb))
        write_png(self.root / "depth" / f"{i:06d}.png", depth_to_uint16(depth, KITTI_DEPTH_SCALE, clip=True))

    def flow(self, i, flow, valid):
        write_atomic(self.root / "flow" / f"{i:06d}.flo", flo_bytes(flow))
        write_png(self.root / "flow" / f"{i:06d}_valid.png", valid.astype(np.uint8) * 255)

    def finish(self, poses, times):
        K = self.intr.K
        P = np.hstack([K, np.zeros((3, 1))]).reshape(-1)
        row = " ".join(f"{x:.12e}" for x in P)
        write_text(self.root / "calib.txt", "".join(f"P{c}: {row}\n" for c in range(4)))
        write_text(self.root / "times.txt", "".join(f"{t:.6e}\n" for t in times))
        write_text(self.root / "poses.txt", format_kitti(poses))


class _TumWriter:
    def __init__(self, root: Path, intr, write_flow: bool):
        self.root, self.intr, self.write_flow = root, intr, write_flow
        for sub in ("rgb", "depth") + (("flow",) if write_flow else ()):
            (root / sub).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def stamp(t):
        return f"{t + TUM_TIME_OFFSET:.6f}"

    def frame(self, i, t, rgb, depth):
        s = self.stamp(t)
        write_png(self.root / "rgb" / f"{s}.png", rgb_to_uint8(rgb))
        write_png(self.root / "depth" / f"{s}.png", depth_to_uint16(depth, TUM_DEPTH_SCALE, clip=False))

    def flow(self, i, flow, valid):
        write_atomic(self.root / "flow" / f"{i:06d}.flo", flo_bytes(flow))
        write_png(self.root / "flow" / f"{i:06d}_valid.png", valid.astype(np.uint8) * 255)

    def finish(self, poses, times):
        stamps = [self.stamp(t) for t in times]
        head = "# synthetic sequence written by vo_app.synth\n# timestamp filename\n"
        write_text(self.root / "rgb.txt", head + "".join(f"{s} rgb/{s}.png\n" for s in stamps))
        write_text(self.root / "depth.txt", head + "".join(f"{s} depth/{s}.png\n" for s in stamps))
        # the stamps of rgb.txt: format_tum prints times with the same 6 decimals
        write_text(self.root / "groundtruth.txt", format_tum(np.asarray(times) + TUM_TIME_OFFSET, poses))
        k = self.intr
        write_text(self.root / "intrinsics.txt", f"{k.fx:.9f} {k.fy:.9f} {k.cx:.9f} {k.cy:.9f}\n")


def _check_params(layout, n_frames, width, height, motion, fps, focal_ratio):
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}", fix=f"use one of {', '.join(LAYOUTS)}")
    if motion not in MOTIONS:
        raise UserError(f"unknown motion {motion!r}", fix=f"use one of {', '.join(MOTIONS)}")
    if int(n_frames) != n_frames or n_frames < 2:
        raise UserError(f"frame count must be an integer >= 2, got {n_frames}", fix="pass --frames 2 or more")
    if width < 16 or height < 16 or int(width) != width or int(height) != height:
        raise UserError(f"image size {width}x{height} is too small", fix="use at least 16x16, e.g. --size 416x128")
    if not (fps > 0 and math.isfinite(fps)):
        raise UserError(f"frame rate must be positive, got {fps}", fix="pass a positive fps")
    if not (focal_ratio > 0 and math.isfinite(focal_ratio)):
        raise UserError(f"focal ratio must be positive, got {focal_ratio}")


def _prepare_dir(out: Path) -> None:
    """Create ``out``, make sure it is writable and holds nothing but an earlier synthetic sequence."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the output folder ({exc.strerror or exc})", path=out,
                        fix="choose a writable folder") from None
    entries = [e for e in os.listdir(out) if not e.startswith(".")]
    ours = (out / MARKER).exists() or (out / IN_PROGRESS).exists()
    if entries and not ours:
        raise UserError("output folder is not empty and was not written by vo-synth", path=out,
                        fix="choose a new or empty folder")
    (out / IN_PROGRESS).write_bytes(b"")
    for name in (MARKER, "kitti/" + MARKER, "tum/" + MARKER):
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass
    # drop every earlier sequence's files so that no stale frames survive
    for e in entries:
        p = out / e
        if e in _OURS["kitti"] | _OURS["tum"] | _OURS["both"]:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()


def motion_defaults(motion: str, fps: float | None = None, focal_ratio: float | None = None) -> tuple:
    """``(fps, focal_ratio)``: the given values, or ``motion``'s defaults (:data:`MOTION_DEFAULTS`) for ``None``."""
    d_fps, d_focal = MOTION_DEFAULTS.get(motion, (10.0, DEFAULT_FOCAL_RATIO))
    return (d_fps if fps is None else fps), (d_focal if focal_ratio is None else focal_ratio)


def scene_length(motion: str, poses: np.ndarray) -> float:
    """Street length that covers the trajectory with room to see ahead."""
    need = float(np.abs(poses[:, 2, 3]).max()) + 60.0
    return max(DEFAULT_LENGTH[SCENE_OF_MOTION.get(motion, motion)], math.ceil(need / 10.0) * 10.0)


def scene_for(motion: str, seed: int, poses: np.ndarray):
    """The scene a sequence of ``motion`` is rendered in: the room of ``seed`` for ``indoor``,
    else a street of the motion's kind (:data:`SCENE_OF_MOTION`) long enough for ``poses`` (``[N, 4, 4]``)."""
    if motion == "indoor":
        return make_scene(seed, "indoor")
    return make_scene(seed, SCENE_OF_MOTION.get(motion, motion), length=scene_length(motion, poses))


def sequence_params(*, layout, n_frames, width, height, motion, seed, fps, write_flow, focal_ratio) -> dict:
    return dict(generator="vo_app.synth", version=GENERATOR_VERSION, layout=layout, n_frames=int(n_frames),
                width=int(width), height=int(height), motion=motion, seed=int(seed), fps=float(fps),
                write_flow=bool(write_flow), focal_ratio=float(focal_ratio))


def write_sequence(out_dir, *, layout: str = "kitti", n_frames: int = 100, width: int = 416, height: int = 128,
                   motion: str = "forward", seed: int = 0, fps: float | None = None, write_flow: bool = True,
                   focal_ratio: float | None = None) -> Path:
    """Render a synthetic sequence with exact ground truth into ``out_dir``.

    ``layout`` is ``kitti``, ``tum`` or ``both`` (``out_dir/kitti`` and
    ``out_dir/tum``).  ``motion`` also picks the scene: a street, or a
    furnished room for ``indoor``.  ``fps`` (Hz) and ``focal_ratio`` (fx / width)
    default to the motion's (:data:`MOTION_DEFAULTS`: 10 Hz and 0.58, 30 Hz and
    0.91 for ``indoor``).  Returns ``out_dir`` as a :class:`~pathlib.Path`.
    Raises :class:`~vo_app.errors.UserError` for bad parameters or an
    unusable folder.
    """
    fps, focal_ratio = motion_defaults(motion, fps, focal_ratio)
    _check_params(layout, n_frames, width, height, motion, fps, focal_ratio)
    n_frames, width, height = int(n_frames), int(width), int(height)
    out = Path(out_dir)
    _prepare_dir(out)
    intr = default_intrinsics(width, height, focal_ratio)
    poses, times = make_trajectory(motion, n_frames, seed, fps)
    scene = scene_for(motion, seed, poses)
    roots = {"kitti": [out], "tum": [out], "both": [out / "kitti", out / "tum"]}[layout]
    kinds = ["kitti", "tum"] if layout == "both" else [layout]
    try:
        writers = [(_KittiWriter if k == "kitti" else _TumWriter)(r, intr, write_flow) for k, r in zip(kinds, roots)]
        cur = render_frame(scene, intr, poses[0])
        for i in range(n_frames):
            rgb, depth = cur
            for w in writers:
                w.frame(i, times[i], rgb, depth)
            if i + 1 < n_frames:
                nxt = render_frame(scene, intr, poses[i + 1])
                if write_flow:
                    flow, valid = compute_flow(depth, poses[i], poses[i + 1], intr, nxt[1])
                    for w in writers:
                        w.flow(i, flow, valid)
                cur = nxt
        params = sequence_params(layout=layout, n_frames=n_frames, width=width, height=height, motion=motion,
                                 seed=seed, fps=fps, write_flow=write_flow, focal_ratio=focal_ratio)
        info = dict(intrinsics=dict(fx=intr.fx, fy=intr.fy, cx=intr.cx, cy=intr.cy, width=width, height=height),
                    pose_convention="camera-to-world, x right, y down, z forward",
                    kitti_depth_scale=KITTI_DEPTH_SCALE, tum_depth_scale=TUM_DEPTH_SCALE,
                    tum_time_offset=TUM_TIME_OFFSET, flow="frame i -> i+1, Middlebury .flo; *_valid.png 255 = valid")
        for k, r, w in zip(kinds, roots, writers):
            w.finish(poses, times)
            if layout == "both":
                write_text(r / MARKER, json.dumps(dict(params, layout=k, **info), indent=2) + "\n")
        write_text(out / MARKER, json.dumps(dict(params, **info), indent=2) + "\n")
        (out / IN_PROGRESS).unlink()
    except OSError as exc:
        where = getattr(exc, "filename", None) or out
        raise UserError(f"writing the sequence failed ({exc.strerror or exc})", path=where,
                        fix="check free disk space and permissions") from None
    return out


def read_params(folder) -> dict | None:
    """The parameters of a complete synthetic sequence in ``folder``, or ``None``."""
    try:
        return json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _matches(folder: Path, params: dict) -> bool:
    got = read_params(folder)
    return got is not None and all(got.get(k) == v for k, v in params.items())


def ensure_demo_sequence(cache_dir, **overrides) -> Path:
    """The default demo sequence under ``cache_dir``, rendered on first use.

    Defaults: forward motion, 100 frames, 416x128, seed 0, KITTI layout
    (see :data:`DEMO_PARAMS`; keyword arguments of :func:`write_sequence`
    override them; ``fps`` and ``focal_ratio`` follow the motion, see
    :func:`motion_defaults`, unless given).  A complete folder with matching parameters is reused;
    otherwise the sequence is rendered into a temporary folder that is then
    renamed into place, so a crash never leaves a half-written demo behind.
    """
    kw = dict(DEMO_PARAMS, focal_ratio=DEFAULT_FOCAL_RATIO)
    unknown = set(overrides) - set(kw)
    if unknown:
        raise TypeError(f"unknown parameters: {sorted(unknown)}")
    kw["fps"], kw["focal_ratio"] = motion_defaults(overrides.get("motion", kw["motion"]))
    kw.update(overrides)
    kw["fps"], kw["focal_ratio"] = motion_defaults(kw["motion"], kw["fps"], kw["focal_ratio"])
    params = sequence_params(**kw)
    cache = Path(cache_dir)
    name = f"synth_{kw['motion']}_{kw['width']}x{kw['height']}_n{kw['n_frames']}_s{kw['seed']}_{kw['layout']}"
    final = cache / name
    if _matches(final, params):
        return final
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the cache folder ({exc.strerror or exc})", path=cache,
                        fix="choose a writable cache folder") from None
    tmp = cache / f".{name}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_sequence(tmp, **kw)
    if final.exists():
        if _matches(final, params):  # another process finished first
            shutil.rmtree(tmp)
            return final
        if not ((final / MARKER).exists() or (final / IN_PROGRESS).exists() or not any(final.iterdir())):
            shutil.rmtree(tmp)
            raise UserError("cache entry exists and was not written by vo-synth", path=final,
                            fix="remove it or use another cache folder")
        shutil.rmtree(final)
    try:
        os.replace(tmp, final)
    except OSError:
        if _matches(final, params):
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        raise
    return final
