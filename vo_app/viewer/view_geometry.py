"""What the viewer draws and where it looks from, in NumPy only (tests need neither open3d nor a display).

Poses are ``[N,4,4]`` camera-to-world (x right, y down, z forward).

* Frustums: the wire pyramid of a camera (:func:`frustum_corners`), many of them
  as one line set (:func:`frustum_wires`), placed along the path every so many
  frustum sizes of travel or degrees of turn (:func:`path_frustum_indices`).
* Ground truth for display (:func:`display_ground_truth`): anchored at the
  estimate's first pose and scaled to the estimate's path length so far (a
  monocular run has its own units); it is a picture, not a metric.
* The view (:func:`follow_view`, :func:`overview`): from above and behind,
  behind the current camera while the run goes on, behind the whole path at
  the end; :func:`view_extrinsic` turns it into the world-to-camera matrix of
  the viewer's virtual camera (x right, y down, z forward).
"""
from __future__ import annotations

import numpy as np

#: wire edges of a frustum whose 5 points are (centre, TL, TR, BR, BL)
FRUSTUM_EDGES = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]], np.int32)


def frustum_corners(pose: np.ndarray, K: np.ndarray, size: tuple[int, int], depth: float) -> np.ndarray:
    """``[5,3]`` world points: camera centre, then the image corners at ``depth`` (TL, TR, BR, BL)."""
    w, h = size
    pix = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64)
    cam = (pix @ np.linalg.inv(K).T) * depth
    pts = np.concatenate([np.zeros((1, 3)), cam])
    return pts @ np.asarray(pose)[:3, :3].T + np.asarray(pose)[:3, 3]


def frustum_wires(poses: np.ndarray, K: np.ndarray, size: tuple[int, int], depth: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Frustums of ``poses [M,4,4]`` as one line set: points ``[5M,3]`` and edges ``[8M,2]`` (int32)."""
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    if len(poses) == 0:
        return np.zeros((0, 3)), np.zeros((0, 2), np.int32)
    pts = np.concatenate([frustum_corners(p, K, size, depth) for p in poses])
    edges = (FRUSTUM_EDGES[None] + 5 * np.arange(len(poses), dtype=np.int32)[:, None, None]).reshape(-1, 2)
    return pts, edges


def frustum_depth(positions: np.ndarray) -> float:
    """A frustum size that reads well: three median steps, or 2% of the path extent."""
    positions = np.asarray(positions, np.float64).reshape(-1, 3)
    if len(positions) < 2:
        return 1.0
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    extent = float(np.ptp(positions, axis=0).max())
    d = max(3.0 * float(np.median(steps)), 0.02 * extent)
    return d if d > 0 else 1.0


def recent_depth(positions: np.ndarray, recent: int = 30) -> float:
    """:func:`frustum_depth` of the last ``recent`` positions: the scale of the current motion (a long
    path's 2 % would make a frustum of tens of metres next to a camera that moves one a frame)."""
    return frustum_depth(np.asarray(positions, np.float64).reshape(-1, 3)[-recent:])


def path_frustum_indices(poses: np.ndarray, spacing: float, max_turn_deg: float = 30.0) -> np.ndarray:
    """Indices of the poses that get a frustum: the first, then each one ``spacing`` (distance) past
    the last chosen one, or turned ``max_turn_deg`` from it (a camera turning on the spot)."""
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    if len(poses) == 0:
        return np.zeros(0, np.int64)
    cos_max = np.cos(np.radians(max_turn_deg))
    chosen = [0]
    last = poses[0]
    for i in range(1, len(poses)):
        p = poses[i]
        moved = np.linalg.norm(p[:3, 3] - last[:3, 3])
        turned_cos = float(np.dot(p[:3, 2], last[:3, 2]))  # cosine between the viewing directions
        if moved >= spacing or turned_cos <= cos_max:
            chosen.append(i)
            last = p
    return np.asarray(chosen, np.int64)


def world_up(poses: np.ndarray) -> np.ndarray:
    """Unit "up" of the scene: the mean of the cameras' -y axes (y points down in a camera)."""
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    if len(poses) == 0:
        return np.array([0.0, -1.0, 0.0])
    up = -poses[:, :3, 1].mean(axis=0)
    n = np.linalg.norm(up)
    return up / n if n > 1e-9 else np.array([0.0, -1.0, 0.0])


def path_length(positions: np.ndarray) -> float:
    positions = np.asarray(positions, np.float64).reshape(-1, 3)
    return float(np.linalg.norm(np.diff(positions, axis=0), axis=1).sum()) if len(positions) > 1 else 0.0


def display_ground_truth(gt: np.ndarray, est: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``gt [G,4,4]`` moved onto the estimate for display: its row ``indices[0]`` on ``est[0]``, and scaled
    by the estimate's path length over the path length of the same rows of the ground truth.

    ``est [R,4,4]`` are the poses received so far and ``indices [R]`` their ground-truth rows.
    Returns ``[G,4,4]``; without a usable path (under two poses, zero length), scale 1.
    """
    gt = np.asarray(gt, np.float64)
    est = np.asarray(est, np.float64).reshape(-1, 4, 4)
    idx = np.asarray(indices, np.int64)
    keep = (idx >= 0) & (idx < len(gt))
    est, idx = est[keep], idx[keep]
    if len(est) == 0:
        return gt.copy()
    g_len, e_len = path_length(gt[idx, :3, 3]), path_length(est[:, :3, 3])
    s = e_len / g_len if g_len > 1e-9 and e_len > 1e-9 else 1.0
    rel = np.linalg.inv(gt[idx[0]]) @ gt  # GT in the frame of its first matched camera
    rel[:, :3, 3] *= s
    return est[0] @ rel


def _heading(direction: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``direction`` projected on the plane normal to ``up``, unit length (any horizontal vector if vertical)."""
    h = direction - np.dot(direction, up) * up
    n = np.linalg.norm(h)
    if n < 1e-9:
        h = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0])
        n = np.linalg.norm(h)
    return h / n


def chase_view(target: np.ndarray, direction: np.ndarray, up: np.ndarray, distance: float,
               elevation_deg: float = 35.0, ahead: float = 0.0, azimuth_deg: float = 0.0) -> dict:
    """Eye ``distance`` from the look-at point, behind it (against ``direction``, made horizontal),
    ``azimuth_deg`` to its left, and raised by ``elevation_deg``; the look-at point is ``ahead`` past
    ``target`` along the heading.

    Returns ``{"eye", "lookat", "up"}`` (``[3]`` each; ``up`` is the scene's up).
    """
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    h = _heading(np.asarray(direction, np.float64), up)
    lookat = np.asarray(target, np.float64) + ahead * h
    left = np.cross(h, up)  # camera frames: x right, y down, z forward, up = -y: h x up points left
    e, a = np.radians(elevation_deg), np.radians(azimuth_deg)
    back = np.cos(a) * -h + np.sin(a) * left
    eye = lookat + distance * (np.cos(e) * back + np.sin(e) * up)
    return {"eye": eye, "lookat": lookat, "up": up}


def follow_view(poses: np.ndarray, elevation_deg: float = 35.0) -> dict:
    """Behind and above the last camera, looking a little ahead of it; the distance grows with the step size."""
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    pos = poses[:, :3, 3]
    d = recent_depth(pos)  # the scale of the recent motion, not of the whole path
    return chase_view(pos[-1], poses[-1][:3, 2], world_up(poses), distance=9.0 * d, elevation_deg=elevation_deg,
                      ahead=2.0 * d)


def _image_bounds(view: dict, points: np.ndarray) -> np.ndarray | None:
    """``[4]`` min/max of ``x/z`` and ``y/z`` of ``points`` seen from ``view``; None if one is behind the eye."""
    E = view_extrinsic(view)
    c = points @ E[:3, :3].T + E[:3, 3]
    if (c[:, 2] <= 1e-9).any():
        return None
    u, v = c[:, 0] / c[:, 2], c[:, 1] / c[:, 2]
    return np.array([u.min(), u.max(), v.min(), v.max()])


def overview(poses: np.ndarray, elevation_deg: float = 30.0, azimuth_deg: float = 25.0, fov_deg: float = 60.0,
             aspect: float = 1.6, fill: float = 0.85) -> dict:
    """Above and behind the whole path (behind its start and ``azimuth_deg`` to the left, looking along
    its overall direction), centred on it and as close as lets every camera and the tip of its view
    direction fill at most ``fill`` of a ``fov_deg`` (vertical) view ``aspect`` times as wide as high."""
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    pos = poses[:, :3, 3]
    up = world_up(poses)
    direction = pos[-1] - pos[0]
    if np.linalg.norm(direction - np.dot(direction, up) * up) < 1e-6 * max(1.0, float(np.ptp(pos))):
        direction = poses[-1][:3, 2]  # no net motion: look where the camera looks
    d = frustum_depth(pos)
    pts = np.concatenate([pos, pos + d * poses[:, :3, 2]])
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    radius = 0.5 * float(np.linalg.norm(np.ptp(pts, axis=0))) + d
    half_v = np.tan(np.radians(fov_deg) / 2.0)
    limit = fill * np.array([half_v * aspect, half_v])
    view = chase_view(centre, direction, up, radius / half_v, elevation_deg, azimuth_deg=azimuth_deg)
    for _ in range(3):  # centre the picture on the path, then move in or out until it just fits
        b = _image_bounds(view, pts)
        if b is not None:
            E = view_extrinsic(view)
            dist = float(np.linalg.norm(view["lookat"] - view["eye"]))
            shift = dist * (0.5 * (b[0] + b[1]) * E[0, :3] + 0.5 * (b[2] + b[3]) * E[1, :3])
            view = {"eye": view["eye"] + shift, "lookat": view["lookat"] + shift, "up": up}
        offset = view["eye"] - view["lookat"]
        # distance factors: bisect for the closest view that fits, but no closer than 1.3 radii (a closer
        # eye blows the near end of the path up and shrinks the far end: too much perspective)
        lo, hi = 1.3 * radius / float(np.linalg.norm(offset)), 20.0
        for _ in range(30):
            mid = np.sqrt(lo * hi)
            trial = {"eye": view["lookat"] + mid * offset, "lookat": view["lookat"], "up": up}
            b = _image_bounds(trial, pts)
            fits = b is not None and max(-b[0], b[1]) <= limit[0] and max(-b[2], b[3]) <= limit[1]
            lo, hi = (lo, mid) if fits else (mid, hi)
        view = {"eye": view["lookat"] + hi * offset, "lookat": view["lookat"], "up": up}
    return view


def view_extrinsic(view: dict) -> np.ndarray:
    """``[4,4]`` world-to-camera of a virtual camera at ``view["eye"]`` looking at ``view["lookat"]``,
    with ``view["up"]`` up in the image (camera axes: x right, y down, z forward)."""
    eye, lookat, up = (np.asarray(view[k], np.float64) for k in ("eye", "lookat", "up"))
    z = lookat - eye
    z /= np.linalg.norm(z)
    x = np.cross(-up, z)  # right = down x forward
    if np.linalg.norm(x) < 1e-9:  # looking straight along up: any right vector
        x = np.cross(z, [1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    E = np.eye(4)
    E[:3, :3] = R
    E[:3, 3] = -R @ eye
    return E


def grid_spacing(extent: float) -> float:
    """A power of ten near a half of ``extent`` (60 m of path: 10 m cells), so a cell is easy to read."""
    return float(10.0 ** np.floor(np.log10(max(extent, 1e-9) / 2.0)))


def ground_grid(poses: np.ndarray, below: float | None = None, cell: float | None = None, max_lines: int = 600
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """A square grid under the path, in the plane normal to :func:`world_up`, lines along the path's
    overall direction: points ``[P,3]``, edges ``[L,2]`` and the cell size.

    ``below``: the plane's distance under the lowest camera (default: half of :func:`recent_depth`).
    ``cell``: the cell size (default: :func:`grid_spacing` of the path's extent); it grows tenfold
    while the grid would have more than ``max_lines`` lines.
    """
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    pos = poses[:, :3, 3]
    up = world_up(poses)
    fwd = _heading(pos[-1] - pos[0] if len(pos) > 1 else poses[-1][:3, 2], up)
    side = np.cross(up, fwd)
    extent = float(np.ptp(pos, axis=0).max())
    if cell is None:
        cell = grid_spacing(extent if extent > 0 else 1.0)  # a standing camera: unit cells
    while 2.0 * (extent / cell + 4.0) > max_lines:
        cell *= 10.0
    a, b, h = pos @ fwd, pos @ side, pos @ up
    a0, a1 = np.floor(a.min() / cell) - 1, np.ceil(a.max() / cell) + 1
    b0, b1 = np.floor(b.min() / cell) - 1, np.ceil(b.max() / cell) + 1
    half = max(a1 - a0, b1 - b0) / 2.0  # square: as wide as it is long
    am, bm = (a0 + a1) / 2.0, (b0 + b1) / 2.0
    a0, a1, b0, b1 = np.floor(am - half), np.ceil(am + half), np.floor(bm - half), np.ceil(bm + half)
    level = h.min() - (0.5 * recent_depth(pos) if below is None else below)
    pts, edges = [], []
    for u in np.arange(a0, a1 + 1):  # lines across the path
        pts += [u * cell * fwd + b0 * cell * side, u * cell * fwd + b1 * cell * side]
    for v in np.arange(b0, b1 + 1):  # lines along it
        pts += [a0 * cell * fwd + v * cell * side, a1 * cell * fwd + v * cell * side]
    pts = np.asarray(pts) + level * up
    edges = np.arange(len(pts), dtype=np.int32).reshape(-1, 2)
    return pts, edges, cell


def ladder(positions: np.ndarray, up: np.ndarray, tick: float, spacing: float | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """A polyline through ``positions [N,3]`` with a short horizontal rung ``tick`` wide across it at the
    first vertex past every ``spacing`` of path (default: ``2 * tick``): points ``[P,3]``, edges ``[L,2]``.
    The rungs keep a line visible where another one lies on top of it (ground truth under a good estimate)."""
    pos = np.asarray(positions, np.float64).reshape(-1, 3)
    n = len(pos)
    line = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1) if n > 1 else np.zeros((0, 2), np.int64)
    if n < 2 or tick <= 0:
        return pos, line.astype(np.int32)
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    spacing = 2.0 * tick if spacing is None else float(spacing)
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pos, axis=0), axis=1))])
    bucket = np.floor(cum / spacing)
    at = np.flatnonzero(np.concatenate([[True], np.diff(bucket) > 0]))
    side = np.cross(up, np.gradient(pos, axis=0)[at])
    norm = np.linalg.norm(side, axis=1, keepdims=True)
    ok = norm[:, 0] > 1e-12
    side, at = side[ok] / norm[ok], at[ok]
    rungs = np.concatenate([pos[at] - 0.5 * tick * side, pos[at] + 0.5 * tick * side])
    k = len(at)
    rung_edges = np.stack([n + np.arange(k), n + k + np.arange(k)], axis=1)
    return np.concatenate([pos, rungs]), np.concatenate([line, rung_edges]).astype(np.int32)
