"""Video files (mp4, mov, avi, mkv), decoded by OpenCV's FFmpeg backend (docs/video.md says why).

Opening a video scans the frames it needs once (``grab``: demux and decode, no colour
conversion) to count them and read each one's presentation time from the container, so
``--start``, ``--stride`` and ``--max-frames`` select frames exactly as in a folder and variable
frame rates keep their real times.  Iterating then decodes the selected frames one at a time, in
order, from a second pass; the capture is released when the iteration ends.

* intrinsics (required): ``--intrinsics FILE`` (for the video's frame size) or ``--fov DEG``;
  a video carries none and no file beside it is searched;
* timestamps: the container's, or ``index / fps`` when ``fps`` is given;
* no ground truth, no depth.

Phone videos with a rotation tag come out upright (OpenCV applies the tag), and the frame size
is taken from the first decoded frame, after that rotation.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vo_app.errors import UserError
from vo_app.io.calib import resolve_intrinsics
from vo_app.io.images import ImageReadError, decoded_to_float
from vo_app.io.sequence import ReadOptions, Sequence, select_indices

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv")
_CANNOT_OPEN_FIX = ("check that it is a video OpenCV's FFmpeg can decode (re-encode it, e.g. "
                    "'ffmpeg -i IN -c:v libx264 OUT.mp4', or extract its frames into a folder)")


def is_video(path: "str | os.PathLike[str]") -> bool:
    """A regular file whose name ends in one of :data:`VIDEO_EXTENSIONS`."""
    p = Path(path)
    return p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()


def _capture(path: Path) -> cv2.VideoCapture:
    """An open capture of ``path``; FFmpeg's and OpenCV's own log lines are silenced (a file that cannot be
    opened is one UserError line, a frame that cannot be decoded is reported like an unreadable image)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when FFmpeg is first used
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        cap = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        cap.release()
        raise UserError("cannot open the video", path=path, fix=_CANNOT_OPEN_FIX)
    return cap


def scan_video(path: Path, last: int | None = None) -> tuple[np.ndarray, tuple[int, int], float]:
    """Presentation times (seconds, float64 ``[n]``) of frames ``0..last`` (all with None), the frame
    size ``(W, H)`` and the container's nominal frame rate (0 when it gives none)."""
    cap = _capture(path)
    times: list[float] = []
    size = None
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        while last is None or len(times) <= last:
            if not cap.grab():
                break
            times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
            if size is None:
                ok, img = cap.retrieve()
                if ok and img is not None and img.size:
                    size = (int(img.shape[1]), int(img.shape[0]))
    finally:
        cap.release()
    if size is None:
        raise UserError("no decodable frame in the video", path=path, fix=_CANNOT_OPEN_FIX)
    return np.asarray(times, dtype=np.float64), size, fps


def _container_times(times: np.ndarray, fps: float) -> tuple[np.ndarray, bool]:
    """The scanned times if they are finite and strictly increasing, else ``index / fps`` (False)."""
    if len(times) and np.all(np.isfinite(times)) and np.all(np.diff(times) > 0):
        return times, True
    return np.arange(len(times)) / (fps if fps > 0 else 30.0), False


class VideoSequence(Sequence):
    """The frames of one video file; ``image_paths`` are ``"<video>#<frame number>"`` labels."""

    layout = "video"

    def __init__(self, video: Path, **kwargs):
        super().__init__(video, name=video.stem, **kwargs)
        self.video = video
        self._cap: cv2.VideoCapture | None = None
        self._next = 0  # the frame number the open capture decodes next

    def read(self, i: int) -> np.ndarray:
        """Decode frame ``i`` (native size, float32).  Reading forwards continues the open capture;
        going back reopens the video (slow, but no iteration does it)."""
        src = int(self.source_indices[i])
        if self._cap is None or src < self._next:
            self.close()
            self._cap, self._next = _capture(self.video), 0
        cap = self._cap
        while self._next < src:
            if not cap.grab():
                raise ImageReadError("the video ended before this frame")
            self._next += 1
        self._next += 1
        ok = cap.grab()
        ok, img = cap.retrieve() if ok else (False, None)
        if not ok or img is None or img.size == 0:
            raise ImageReadError("cannot decode this video frame")
        if not self.color and img.ndim == 3:  # gray in uint8: a video of gray frames gives them back exactly
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return decoded_to_float(img, self.color)

    def __iter__(self):
        try:
            yield from super().__iter__()
        finally:
            self.close()

    def close(self) -> None:
        """Release the decoder (a later read reopens the video)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_video(path: "str | os.PathLike[str]", opts: ReadOptions) -> VideoSequence:
    """Open a video file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UserError("video file not found", path=path, fix="check the path")
    last = None
    if opts.max_frames is not None:
        last = int(opts.start) + int(opts.stride) * (int(opts.max_frames) - 1)
    times, (W, H), fps = scan_video(path, last)
    sel = select_indices(len(times), opts, path)
    K = resolve_intrinsics(opts.intrinsics, W, H, opts.fov)
    if K is None:
        raise UserError("a video has no camera intrinsics", path=path,
                        fix=f"pass --intrinsics FILE ('fx fy cx cy' for its {W}x{H} frames) "
                            "or --fov DEG (its horizontal field of view, e.g. 70)")
    if opts.fps:
        t, real = sel / float(opts.fps), False
    else:
        t_all, real = _container_times(times, fps)
        t = t_all[sel]
    return VideoSequence(path, image_paths=[f"{path}#{i}" for i in sel], source_indices=sel, timestamps=t,
                         has_real_timestamps=real, intrinsics=K, options=opts)
