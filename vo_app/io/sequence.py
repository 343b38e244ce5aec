"""The :class:`Sequence` base class: a lazily loaded, selected list of frames.

A reader (kitti.py, tum.py, folder.py) lists the files, applies the frame
selection (:func:`select_indices`), finds intrinsics, timestamps, ground truth
and depth for the selected frames, and builds a :class:`Sequence`.  The
sequence keeps only paths and small arrays; each image is decoded when it is
iterated, so memory does not grow with the sequence length.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vo_app.errors import UserError
from vo_app.io.images import ImageReadError, ImageTransform, image_size, read_depth, read_image, working_size
from vo_app.io.types import Frame, Intrinsics


@dataclass(frozen=True)
class ReadOptions:
    """The user's reading options (see :func:`vo_app.io.open_sequence`)."""

    intrinsics: "str | os.PathLike[str] | Intrinsics | None" = None
    size: "tuple[int, int] | int | None" = None  # (W, H); a single W keeps the aspect ratio (images.working_size)
    stride: int = 1
    start: int = 0
    max_frames: int | None = None
    color: bool = False
    camera: int | None = None
    undistort: bool = True
    fps: float | None = None
    fov: float | None = None  # horizontal field of view (degrees) when no intrinsics are known

    def __post_init__(self):
        if isinstance(self.size, (int, np.integer)) and not isinstance(self.size, bool):
            if self.size < 16:
                raise UserError(f"invalid working width {self.size}", fix="use a width of 16 or more")
            object.__setattr__(self, "size", int(self.size))
        elif self.size is not None:
            ok = len(self.size) == 2 and all(int(v) == v and v > 0 for v in self.size)
            if not ok:
                raise UserError(f"invalid size {self.size!r}", fix="pass --size W H with positive integers")
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.fov is not None:
            if not 0 < float(self.fov) < 180:
                raise UserError(f"invalid field of view {self.fov}", fix="pass --fov DEG between 0 and 180 (e.g. 70)")
            if self.intrinsics is not None:
                raise UserError("both --intrinsics and --fov given", fix="pass only one of them")
        if int(self.stride) < 1:
            raise UserError(f"invalid stride {self.stride}", fix="pass --stride 1 or more")
        if int(self.start) < 0:
            raise UserError(f"invalid start {self.start}", fix="pass --start 0 or more")
        if self.max_frames is not None and int(self.max_frames) < 2:
            raise UserError(f"invalid max-frames {self.max_frames}", fix="pass --max-frames 2 or more")
        if self.fps is not None and not float(self.fps) > 0:
            raise UserError(f"invalid fps {self.fps}", fix="pass --fps with a positive number")
        if self.camera is not None and int(self.camera) not in (0, 1, 2, 3):
            raise UserError(f"invalid camera {self.camera}", fix="pass --camera 0 (gray) or 2 (colour)")


def select_indices(n_total: int, opts: ReadOptions, root: "str | os.PathLike[str]") -> np.ndarray:
    """Source indices ``start, start + stride, ...`` (at most ``max_frames``); at least 2 or UserError."""
    idx = np.arange(int(opts.start), n_total, int(opts.stride))
    if opts.max_frames is not None:
        idx = idx[: int(opts.max_frames)]
    if len(idx) < 2:
        raise UserError(
            f"only {len(idx)} frame(s) selected out of {n_total} (start={opts.start}, stride={opts.stride})",
            path=root, fix="a sequence needs at least 2 frames: lower --start/--stride or add images")
    return idx


def probe_size(paths: list[str], root: "str | os.PathLike[str]") -> tuple[int, int]:
    """``(W, H)`` of the first readable image in ``paths`` (the size every frame must have)."""
    for p in paths:
        try:
            return image_size(p)
        except ImageReadError:
            continue
    raise UserError(f"none of the {len(paths)} selected images can be read", path=root,
                    fix="check that the files are valid png/jpg images")


def rows_for_frames(all_paths: list, selected: np.ndarray, n_rows: int, table: "str | os.PathLike[str]",
                    what: str) -> np.ndarray:
    """Row of a per-frame table (times.txt, poses.txt) for each selected frame.

    Numeric file names (``000123.png``) index the table directly, which keeps
    a cropped folder aligned with a full table; otherwise the table must have
    one row per image, in order.
    """
    stems = [Path(all_paths[i]).stem for i in selected]
    if all(s.isdigit() for s in stems):
        rows = np.array([int(s) for s in stems], dtype=np.int64)
        if rows.max() < n_rows and (n_rows != len(all_paths) or np.array_equal(rows, selected)):
            return rows
    if n_rows == len(all_paths):
        return np.asarray(selected, dtype=np.int64)
    raise UserError(f"{n_rows} {what} rows for {len(all_paths)} images", path=table,
                    fix=f"give one {what} row per image, in order")


class Sequence:
    """A monocular image sequence, read lazily.

    Attributes (all for the *selected* frames, N of them):
        name, layout, root: sequence name, reader name ("kitti", "tum", "folder"), folder.
        intrinsics: :class:`Intrinsics` at the working size, after undistortion
            (undistorted images keep ``K`` and have ``dist=None``).
        size: working ``(W, H)``; native_size: the files' ``(W, H)``.
        timestamps: float64 ``[N]`` seconds; has_real_timestamps: False when they are ``index / fps``.
        gt_poses: float64 ``[N, 4, 4]`` camera-to-world, or None.
        has_depth: whether (some) frames come with a depth map.
        image_paths: ``list[str]``; source_indices: int ``[N]`` positions in the full listing.

    Iterating yields :class:`Frame` objects, decoding one image at a time.  A
    frame whose file is missing or cannot be decoded is *not* an error: it is
    yielded with ``image=None`` and ``extra={"error": "<one-line reason>"}``
    so the pipeline can skip it and list it in its report.  A readable image
    whose size differs from the first image's raises :class:`UserError`.
    """

    layout = "sequence"

    def __init__(self, root: "str | os.PathLike[str]", *, image_paths: list, source_indices, timestamps,
                 has_real_timestamps: bool, intrinsics: Intrinsics, options: ReadOptions,
                 gt_poses: np.ndarray | None = None, depth_paths: list | None = None,
                 depth_scale: float = 1.0, name: str | None = None):
        self.root = Path(root)
        self.name = name or self.root.resolve().name
        self.image_paths = [os.fspath(p) for p in image_paths]
        n = len(self.image_paths)
        self.source_indices = _frozen(np.asarray(source_indices, dtype=np.int64))
        self.timestamps = _frozen(np.asarray(timestamps, dtype=np.float64))
        self.has_real_timestamps = bool(has_real_timestamps)
        self.gt_poses = None if gt_poses is None else _frozen(np.asarray(gt_poses, dtype=np.float64))
        self._depth_paths = None if depth_paths is None else [None if d is None else os.fspath(d) for d in depth_paths]
        self._depth_scale = float(depth_scale)
        self.color = bool(options.color)
        self.native_intrinsics = intrinsics
        self.native_size = (intrinsics.width, intrinsics.height)
        self._transform = ImageTransform(intrinsics, working_size(options.size, self.native_size), options.undistort)
        self.intrinsics = self._transform.intrinsics
        self.size = self._transform.size
        for what, arr in (("timestamps", self.timestamps), ("source_indices", self.source_indices)):
            assert len(arr) == n, f"{what}: {len(arr)} entries for {n} images"
        assert self.gt_poses is None or self.gt_poses.shape == (n, 4, 4)
        assert self._depth_paths is None or len(self._depth_paths) == n

    @property
    def has_depth(self) -> bool:
        return self._depth_paths is not None and any(d is not None for d in self._depth_paths)

    def __len__(self) -> int:
        return len(self.image_paths)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(len(self)):
            yield self.load(i)

    def load(self, i: int) -> Frame:
        """Decode frame ``i`` (0..N-1) at the working size; see the class docstring for errors."""
        path = self.image_paths[i]
        frame = Frame(index=i, source_index=int(self.source_indices[i]), timestamp=float(self.timestamps[i]),
                      image=None, depth=None, path=path)
        try:
            img = self.read(i)
        except ImageReadError as exc:
            frame.extra["error"] = f"{os.path.basename(path)}: {exc}"
            return frame
        h, w = img.shape[:2]
        if (w, h) != self.native_size:
            W, H = self.native_size
            raise UserError(f"image is {w}x{h} but the first image is {W}x{H}", path=path,
                            fix="all images of a sequence must have the same size")
        frame.image = self._transform.image(img)
        dpath = None if self._depth_paths is None else self._depth_paths[i]
        if dpath is not None:
            try:
                frame.depth = self._transform.depth(read_depth(dpath, self._depth_scale))
            except ImageReadError as exc:
                frame.extra["depth_error"] = f"{os.path.basename(dpath)}: {exc}"
        return frame

    def read(self, i: int) -> np.ndarray:
        """Frame ``i``'s image at its native size (float32, see :func:`read_image`); raises ImageReadError."""
        return read_image(self.image_paths[i], self.color)

    def __repr__(self) -> str:
        W, H = self.size
        return (f"{type(self).__name__}(name={self.name!r}, layout={self.layout!r}, frames={len(self)}, "
                f"size={W}x{H}, gt={self.gt_poses is not None}, depth={self.has_depth})")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a
