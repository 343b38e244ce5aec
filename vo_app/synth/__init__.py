"""Deterministic synthetic sequences: textured street and room scenes with exact ground truth.

Public API::

    make_scene(seed=0, kind="forward", *, length=None, texel=None) -> Scene   (kind "indoor": a room)
    make_trajectory(kind, n_frames, seed=0, fps=10.0) -> (poses [N,4,4], timestamps [N])
    default_intrinsics(width, height, focal_ratio=0.58) -> Intrinsics
    render_frame(scene, intrinsics, pose, *, return_ids=False) -> (rgb [H,W,3], depth [H,W])
    compute_flow(depth_i, pose_i, pose_j, intrinsics, depth_j=None) -> (flow [H,W,2], valid [H,W])
    write_sequence(out_dir, *, layout="kitti", n_frames=100, width=416, height=128,
                   motion="forward", seed=0, fps=None, write_flow=True, focal_ratio=None) -> Path
                   (fps / focal_ratio None: 10 Hz / 0.58, or 30 Hz / 0.91 for motion "indoor")
    ensure_demo_sequence(cache_dir, **overrides) -> Path

Conventions: camera x right, y down, z forward; poses are float64 4x4
camera-to-world; pixel (0, 0) is the centre of the top-left pixel; depth is
z-depth in metres with 0 for sky.
"""
from .camera import DEFAULT_FOCAL_RATIO, default_intrinsics, pixel_rays
from .flow import compute_flow
from .layout import DEMO_PARAMS, LAYOUTS, ensure_demo_sequence, read_params, write_sequence
from .motion import MOTIONS, make_trajectory
from .render import render_frame
from .scene import GROUND_Y, Scene, make_scene

__all__ = [
    "DEFAULT_FOCAL_RATIO", "DEMO_PARAMS", "GROUND_Y", "LAYOUTS", "MOTIONS", "Scene", "compute_flow",
    "default_intrinsics", "ensure_demo_sequence", "make_scene", "make_trajectory", "pixel_rays",
    "read_params", "render_frame", "write_sequence",
]
