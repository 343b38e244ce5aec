"""Input and output: image sequences in, trajectories and result files out.

* :func:`open_sequence` -> :class:`Sequence` of :class:`Frame` (KITTI, TUM RGB-D, plain folders);
* trajectory files (KITTI / TUM): :func:`read_trajectory`, :func:`write_kitti`, :func:`write_tum`, ...;
* :func:`atomic_write_text` / :func:`atomic_write_json` for every output file.

Conventions: poses are float64 ``[4, 4]`` camera-to-world; images float32 in
[0, 1]; pixel (0, 0) is the centre of the top-left pixel.
"""
from vo_app.io.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from vo_app.io.calib import read_intrinsics_file, read_kitti_calib
from vo_app.io.open import LAYOUTS, detect_layout, open_sequence
from vo_app.io.rotations import quat_to_rotation, rotation_to_quat
from vo_app.io.sequence import ReadOptions, Sequence
from vo_app.io.trajectory import (Trajectory, detect_format, format_kitti, format_tum, read_kitti,
                                  read_trajectory, read_tum, write_kitti, write_tum)
from vo_app.io.types import Frame, Intrinsics

__all__ = [
    "Frame", "Intrinsics", "Sequence", "ReadOptions", "LAYOUTS", "open_sequence", "detect_layout",
    "read_intrinsics_file", "read_kitti_calib",
    "Trajectory", "format_kitti", "format_tum", "write_kitti", "write_tum", "read_kitti", "read_tum",
    "detect_format", "read_trajectory", "rotation_to_quat", "quat_to_rotation",
    "atomic_write_text", "atomic_write_bytes", "atomic_write_json",
]
