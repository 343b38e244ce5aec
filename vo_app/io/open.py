"""``open_sequence``: one entry point for every supported folder layout."""
from __future__ import annotations

import os
from pathlib import Path

from vo_app.errors import UserError
from vo_app.io.folder import image_folder, open_folder
from vo_app.io.kitti import is_kitti, open_kitti
from vo_app.io.kitti_raw import is_kitti_raw, open_kitti_raw
from vo_app.io.sequence import ReadOptions, Sequence
from vo_app.io.tum import is_tum, open_tum
from vo_app.io.types import Intrinsics
from vo_app.io.video import VIDEO_EXTENSIONS, is_video, open_video

LAYOUTS = ("auto", "kitti", "tum", "folder", "kitti_raw", "video")
_OPENERS = {"kitti": open_kitti, "tum": open_tum, "folder": open_folder, "kitti_raw": open_kitti_raw,
            "video": open_video}
_NO_IMAGES_FIX = ("pass a folder of images (png/jpg/...), a video (" + "/".join(e[1:] for e in VIDEO_EXTENSIONS)
                  + "), a KITTI sequence (image_0/ + calib.txt) or a TUM folder (rgb.txt)")


def detect_layout(root: "str | os.PathLike[str]") -> str:
    """``"kitti"``, ``"tum"``, ``"kitti_raw"`` or ``"folder"`` for an existing directory, ``"video"`` for a
    video file (mp4, mov, avi, mkv); UserError otherwise.

    KITTI: ``calib.txt`` and ``image_0/`` (or ``image_2/``); TUM: ``rgb.txt``;
    KITTI raw drive: ``image_02/data/`` (or ``image_00/data/``) and ``calib_cam_to_cam.txt``
    (here or in the parent folder);
    folder: images directly inside or in a color/, rgb/, images/, image_left/ subfolder.
    A folder with ``depth.txt`` or ``groundtruth.txt`` but no ``rgb.txt`` and no
    images of its own is a TUM folder missing its image list, an error.
    """
    root = Path(root)
    if not root.exists():
        raise UserError("not found", path=root, fix="check the path")
    if is_video(root):
        return "video"
    if not root.is_dir():
        raise UserError("not a directory", path=root, fix=_NO_IMAGES_FIX)
    if is_kitti(root):
        return "kitti"
    if is_tum(root):
        return "tum"
    if is_kitti_raw(root):
        return "kitti_raw"
    if any((root / f"image_{c}").is_dir() for c in range(4)) and not (root / "calib.txt").exists():
        raise UserError("KITTI-style folder (image_0/ or image_2/) without calib.txt", path=root,
                        fix="add calib.txt with a 'P0: <12 numbers>' line, or pass --layout kitti --intrinsics FILE")
    tum_like = (root / "depth.txt").is_file() or (root / "groundtruth.txt").is_file()
    images = image_folder(root)
    if tum_like and images != root:
        raise UserError("no rgb.txt in this TUM-style folder (it has depth.txt or groundtruth.txt)", path=root,
                        fix="add rgb.txt ('timestamp rgb/file.png' per line) or pass --layout folder")
    if images is None:
        raise UserError("no images found", path=root, fix=_NO_IMAGES_FIX)
    return "folder"


def open_sequence(path: "str | os.PathLike[str]", *, layout: str = "auto",
                  intrinsics: "str | os.PathLike[str] | Intrinsics | None" = None,
                  size: tuple[int, int] | None = None, stride: int = 1, start: int = 0,
                  max_frames: int | None = None, color: bool = False, camera: int | None = None,
                  undistort: bool = True, fps: float | None = None, fov: float | None = None) -> Sequence:
    """Open an image sequence for streaming.

    Args:
        path: a KITTI odometry sequence, a TUM RGB-D folder, a KITTI raw drive, a folder of images or a
            video file.
        layout: "auto" (detect), "kitti", "tum", "folder", "kitti_raw" or "video".
        intrinsics: file with ``fx fy cx cy [k1 k2 p1 p2 [k3]]`` or a 3x3 ``K``
            (or an :class:`Intrinsics`), for the images' native size; overrides
            whatever the folder provides.
        size: working ``(W, H)``; a single width keeps the native aspect ratio
            (:func:`vo_app.io.images.working_size`); None keeps the native size.
        stride, start, max_frames: read frames ``start, start + stride, ...``, at most ``max_frames``.
        color: False -> gray float32 ``[H, W]``; True -> RGB float32 ``[H, W, 3]``.
        camera: KITTI camera (0 gray, 2 colour); default image_0 if present else image_2
            (KITTI raw: image_02 if present else image_00).
        undistort: remove lens distortion (the returned intrinsics then have ``dist=None``).
        fps: frame rate for synthesised timestamps ``index / fps`` when the data have none (a video:
            replaces the container's times).
        fov: horizontal field of view in degrees: a centred pinhole camera when ``intrinsics`` is None
            (overrides whatever the folder provides, as ``intrinsics`` does).

    Returns:
        A :class:`Sequence`; iterating it decodes one frame at a time.  Unreadable
        images are yielded with ``image=None`` and ``extra["error"]`` (see :class:`Sequence`).

    Raises:
        UserError: missing folder, no images, bad calibration, fewer than 2 selected frames...
    """
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}", fix=f"pass --layout one of {', '.join(LAYOUTS)}")
    opts = ReadOptions(intrinsics=intrinsics, size=size, stride=stride, start=start, max_frames=max_frames,
                       color=color, camera=camera, undistort=undistort, fps=fps, fov=fov)
    root = Path(path).expanduser()
    detected = detect_layout(root) if layout == "auto" else None
    if layout == "video":
        return open_video(root, opts)
    if detected is None and not root.is_dir():
        raise UserError("directory not found" if not root.exists() else "not a directory", path=root,
                        fix="check the path")
    return _OPENERS[detected or layout](root, opts)
