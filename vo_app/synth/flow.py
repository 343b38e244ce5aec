"""Exact optical flow and its validity mask from depth and poses."""
from __future__ import annotations

import numpy as np

from vo_app.io.types import Intrinsics

from .camera import pixel_rays

#: relative depth tolerance of the occlusion test.
OCCLUSION_TOL = 0.01


def _bilinear_inverse_depth(depth: np.ndarray, u: np.ndarray, v: np.ndarray):
    """Bilinear inverse depth (0 for sky) at (u, v) and whether the weighted neighbours are all sky."""
    h, w = depth.shape
    inv = np.zeros(depth.shape, np.float64)
    np.divide(1.0, depth, out=inv, where=depth > 0)
    u0 = np.clip(np.floor(u).astype(np.int64), 0, w - 1)
    v0 = np.clip(np.floor(v).astype(np.int64), 0, h - 1)
    u1 = np.minimum(u0 + 1, w - 1)
    v1 = np.minimum(v0 + 1, h - 1)
    fu = np.clip(u - u0, 0.0, 1.0)
    fv = np.clip(v - v0, 0.0, 1.0)
    wa, wb, wc, wd = (1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv
    a, b, c, d = inv[v0, u0], inv[v0, u1], inv[v1, u0], inv[v1, u1]
    val = a * wa + b * wb + c * wc + d * wd
    # sky only if every neighbour that carries weight is sky
    all_sky = ((a == 0) | (wa == 0)) & ((b == 0) | (wb == 0)) & ((c == 0) | (wc == 0)) & ((d == 0) | (wd == 0))
    return val, all_sky


def compute_flow(depth_i: np.ndarray, pose_i: np.ndarray, pose_j: np.ndarray, intrinsics: Intrinsics,
                 depth_j: np.ndarray | None = None):
    """Flow from frame i to frame j by re-projection.

    Each pixel of frame i is lifted with its z-depth to the world and projected
    into frame j; sky pixels (depth 0) are directions at infinity and get the
    rotation-only flow.

    Args:
        depth_i: float ``[H, W]`` z-depth of frame i (0 = sky).
        pose_i, pose_j: 4x4 camera-to-world poses.
        intrinsics: the camera of both frames.
        depth_j: z-depth of frame j, for the occlusion test; without it only
            "in front of camera j and inside image j" is checked.

    Returns:
        ``(flow, valid)``: float32 ``[H, W, 2]`` (dx, dy) in pixels and bool
        ``[H, W]``.  Valid means the target lies inside image j (within the
        pixel-centre grid), in front of the camera, and is not occluded: its
        depth agrees (within 1 %) with frame j's surface there, or for sky,
        frame j shows sky there too.  Flow is 0 where the point falls
        behind camera j.
    """
    h, w = depth_i.shape
    rays = pixel_rays(intrinsics).astype(np.float64)
    pi = np.asarray(pose_i, np.float64)
    pj = np.asarray(pose_j, np.float64)
    rel = np.linalg.solve(pj, pi)  # camera i -> camera j
    z = depth_i.astype(np.float64)
    sky = z <= 0
    pts = rays * np.where(sky, 1.0, z)[..., None]
    pj_pts = pts @ rel[:3, :3].T
    pj_pts += np.where(sky, 0.0, 1.0)[..., None] * rel[:3, 3]  # directions do not translate
    zj = pj_pts[..., 2]
    front = zj > 1e-9
    safe = np.where(front, zj, 1.0)
    u = intrinsics.fx * pj_pts[..., 0] / safe + intrinsics.cx
    v = intrinsics.fy * pj_pts[..., 1] / safe + intrinsics.cy
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    flow = np.stack([u - uu, v - vv], axis=-1)
    flow[~front] = 0.0
    eps = 1e-3  # rounding slack at the border
    valid = front & (u >= -eps) & (u <= w - 1 + eps) & (v >= -eps) & (v <= h - 1 + eps)
    if depth_j is not None:
        inv_t, all_sky = _bilinear_inverse_depth(np.asarray(depth_j), np.where(valid, u, 0.0), np.where(valid, v, 0.0))
        inv_p = np.where(sky, 0.0, 1.0 / safe)
        visible = np.where(sky, all_sky, inv_p * (1.0 + OCCLUSION_TOL) >= inv_t)
        valid &= visible
    return flow.astype(np.float32), valid


class ExactFlow:
    """A flow backend with the exact flow of a rendered sequence, for ``run_odometry(..., flow_net=)``.

    ``seq`` is the opened sequence (KITTI or TUM layout, with its depth images and ground-truth
    poses, at its native size).  Called with two of its frames' images, it finds the frames by
    their pixels and returns ``(flow_fwd, flow_bwd)`` from depth and poses (:func:`compute_flow`):
    what the pipeline would get from a perfect flow network (``benchmarks/rotation_bias.py``).
    """

    def __init__(self, seq):
        self.poses, self.intrinsics = seq.gt_poses, seq.intrinsics
        self._depth = {}
        for frame in seq:
            if frame.depth is None:
                raise ValueError(f"frame {frame.index} of {seq.root} has no depth image")
            self._depth[self._key(frame.image)] = (frame.index, frame.depth)

    @staticmethod
    def _key(image: np.ndarray) -> str:
        import hashlib

        return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()

    def __call__(self, image1: np.ndarray, image2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (i, d_i), (j, d_j) = self._depth[self._key(image1)], self._depth[self._key(image2)]
        fwd, _ = compute_flow(d_i, self.poses[i], self.poses[j], self.intrinsics)
        bwd, _ = compute_flow(d_j, self.poses[j], self.poses[i], self.intrinsics)
        return fwd, bwd
