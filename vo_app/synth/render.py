"""Ray casting of a quad scene: colour and z-depth of one frame.

Per frame all quads are moved into the camera frame at once, back-face and
frustum culled, and projected to a pixel bounding box (quads crossing the
near plane are clipped first).  Then, front to back, each quad intersects
only the pixel rays inside its box and keeps the hits that are nearer than
the z-buffer; a quad whose box is already covered by nearer surfaces is
skipped.  Colours are trilinear mip-map samples whose level comes from the
pixel footprint on the surface, so distant surfaces do not alias.
"""
from __future__ import annotations

import numpy as np

from vo_app.io.types import Intrinsics

from .camera import pixel_rays
from .scene import Scene

#: surfaces nearer than this (metres, z-depth) are not drawn.
NEAR = 0.05
#: how strongly an oblique view coarsens the mip level (0.5: area-equivalent, 1: longest axis).
_OBLIQUE_LOD = 0.6
#: mip level offset; the pyramid filter and bilinear lookup already blur, so sharpen a little.
#: Both were tuned against 8x supersampled renders (and DIS flow accuracy).
_LOD_BIAS = -0.25


def _clip_near(poly: np.ndarray) -> np.ndarray:
    """Clip a convex camera-frame polygon ``[K, 3]`` to ``z >= NEAR``."""
    out = []
    k = len(poly)
    for i in range(k):
        a, b = poly[i], poly[(i + 1) % k]
        ina, inb = a[2] >= NEAR, b[2] >= NEAR
        if ina:
            out.append(a)
        if ina != inb:
            f = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + f * (b - a))
    return np.asarray(out).reshape(-1, 3)


def _screen_boxes(corners: np.ndarray, intr: Intrinsics, cand: np.ndarray):
    """Pixel boxes ``[Q, 4]`` (v0, v1, u0, u1; half-open) and nearest depth of candidate quads."""
    z = corners[..., 2]
    q_all = np.flatnonzero(cand)
    boxes = np.zeros((len(q_all), 4), np.int64)
    zmin = np.zeros(len(q_all))
    front = z[q_all].min(axis=1) >= NEAR
    pts = corners[q_all]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intr.fx * pts[..., 0] / pts[..., 2] + intr.cx
        v = intr.fy * pts[..., 1] / pts[..., 2] + intr.cy
    umin, umax = u.min(axis=1), u.max(axis=1)
    vmin, vmax = v.min(axis=1), v.max(axis=1)
    zmin[:] = z[q_all].min(axis=1)
    for i in np.flatnonzero(~front):  # few quads cross the near plane
        poly = _clip_near(pts[i])
        if len(poly) < 3:
            umin[i], umax[i] = 1.0, 0.0  # empty
            continue
        pu = intr.fx * poly[:, 0] / poly[:, 2] + intr.cx
        pv = intr.fy * poly[:, 1] / poly[:, 2] + intr.cy
        umin[i], umax[i], vmin[i], vmax[i] = pu.min(), pu.max(), pv.min(), pv.max()
        zmin[i] = poly[:, 2].min()
    big = 1e6  # keep the float->int conversion finite
    boxes[:, 0] = np.clip(np.floor(np.clip(vmin, -big, big)), 0, intr.height)
    boxes[:, 1] = np.clip(np.ceil(np.clip(vmax, -big, big)) + 1, 0, intr.height)
    boxes[:, 2] = np.clip(np.floor(np.clip(umin, -big, big)), 0, intr.width)
    boxes[:, 3] = np.clip(np.ceil(np.clip(umax, -big, big)) + 1, 0, intr.width)
    keep = (boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2]) & (umax >= umin)
    return q_all[keep], boxes[keep], zmin[keep]


def rasterize(scene: Scene, intr: Intrinsics, pose: np.ndarray):
    """Nearest-surface buffers of one view.

    Returns ``(quad_id [H, W] int32 (-1 = sky), z [H, W] float32 (inf = sky),
    s [H, W], t [H, W] float32 quad-local metres, nd [Q] float64 = n . p0 in
    the camera frame)``.
    """
    pose = np.asarray(pose, np.float64)
    R, C = pose[:3, :3], pose[:3, 3]
    p0 = (scene.p0 - C) @ R
    e1 = scene.e1 @ R
    e2 = scene.e2 @ R
    n = scene.normal @ R
    nd = np.einsum("ij,ij->i", n, p0)
    corners = np.stack([p0, p0 + e1, p0 + e1 + e2, p0 + e2], axis=1)
    cand = (nd < -1e-9) & (corners[..., 2].max(axis=1) > NEAR)
    quads, boxes, zmin = _screen_boxes(corners, intr, cand)
    order = np.argsort(zmin, kind="stable")

    ha, wa = intr.height, intr.width
    rays = pixel_rays(intr)
    zbuf = np.full((ha, wa), np.inf, np.float32)
    qbuf = np.full((ha, wa), -1, np.int32)
    sbuf = np.zeros((ha, wa), np.float32)
    tbuf = np.zeros((ha, wa), np.float32)
    ln = scene.size
    e1n = e1 / ln[:, :1]
    e2n = e2 / ln[:, 1:]
    c1 = np.einsum("ij,ij->i", p0, e1n)
    c2 = np.einsum("ij,ij->i", p0, e2n)
    mats = np.stack([n, e1n, e2n], axis=2).astype(np.float32)  # [Q, 3, 3]: columns n, e1n, e2n
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in order:
            q = int(quads[k])
            v0, v1, u0, u1 = boxes[k]
            zb = zbuf[v0:v1, u0:u1]
            if zmin[k] >= zb.max():
                continue  # hidden behind nearer surfaces everywhere in its box
            r = rays[v0:v1, u0:u1] @ mats[q]
            t = np.float32(nd[q]) / r[..., 0]
            s = t * r[..., 1]
            s -= np.float32(c1[q])
            u = t * r[..., 2]
            u -= np.float32(c2[q])
            m = t < zb
            m &= t > NEAR
            m &= s >= 0
            m &= s <= np.float32(ln[q, 0])
            m &= u >= 0
            m &= u <= np.float32(ln[q, 1])
            np.copyto(zb, t, where=m)
            np.copyto(qbuf[v0:v1, u0:u1], q, where=m)
            np.copyto(sbuf[v0:v1, u0:u1], s, where=m)
            np.copyto(tbuf[v0:v1, u0:u1], u, where=m)
    return qbuf, zbuf, sbuf, tbuf, nd


def render_frame(scene: Scene, intrinsics: Intrinsics, pose: np.ndarray, *, return_ids: bool = False):
    """Render one view of ``scene``.

    Args:
        scene: from :func:`make_scene`.
        intrinsics: undistorted pinhole camera (see :func:`default_intrinsics`).
        pose: 4x4 camera-to-world transform (x right, y down, z forward).
        return_ids: also return the ``[H, W]`` int32 quad index per pixel (-1 = sky).

    Returns:
        ``(rgb, depth)``: float32 ``[H, W, 3]`` in [0, 1] and float32 ``[H, W]``
        z-depth in metres (0 for sky), plus the quad ids if asked.
    """
    qbuf, zbuf, sbuf, tbuf, nd = rasterize(scene, intrinsics, pose)
    h, w = qbuf.shape
    rgb = np.empty((h * w, 3), np.float32)
    qf = qbuf.reshape(-1)
    hit = np.flatnonzero(qf >= 0)
    sky = np.flatnonzero(qf < 0)
    f = float(np.sqrt(intrinsics.fx * intrinsics.fy))
    if len(hit):
        q = qf[hit]
        z = zbuf.reshape(-1)[hit]
        cosd = np.maximum(np.abs(nd[q]).astype(np.float32) / z, 1e-3)  # |n . ray| with ray z = 1
        lod = np.log2(z / np.float32(f * scene.texel)) - np.float32(_OBLIQUE_LOD) * np.log2(cosd)
        lod += np.float32(_LOD_BIAS)
        col = scene.atlas.sample(q, sbuf.reshape(-1)[hit], tbuf.reshape(-1)[hit], lod)
        col *= (scene.shade[q] * np.float32(1.0 / 255.0))[:, None]
        rgb[hit] = col
    if len(sky):
        R = np.asarray(pose, np.float64)[:3, :3]
        dirs = pixel_rays(intrinsics).reshape(-1, 3)[sky] @ R.T.astype(np.float32)
        rgb[sky] = scene.sky.sample(dirs, 1.0 / f) * np.float32(1.0 / 255.0)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    depth = np.where(qbuf >= 0, zbuf, np.float32(0.0)).astype(np.float32)
    rgb = rgb.reshape(h, w, 3)
    if return_ids:
        return rgb, depth, qbuf
    return rgb, depth
