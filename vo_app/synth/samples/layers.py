"""Layered 2-D motion: textured shapes moving over a textured background (FlyingChairs/AutoFlow idea).

Every layer (the background, then 2..N shapes, back to front) has a texture, an alpha mask and
an affine motion ``D_k`` in image coordinates from frame 1 to frame 2.  Both frames are
composited with OpenCV warps; the flow of a frame-1 pixel is ``D_k(p) - p`` for the topmost
layer ``k`` covering it, so the ground truth is exact everywhere.  A pixel is non-occluded
when its target lies inside frame 2 and the same layer is on top there.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...synth.texture import make_texture

_STYLES = ("box", "facade", "ground")


@dataclass(frozen=True)
class LayerParams:
    """Motion and shape ranges, as fractions of the image width where they are lengths."""

    min_shapes: int = 2
    max_shapes: int = 7
    bg_shift: float = 0.06  # largest background translation / W
    fg_shift: float = 0.12  # largest extra shape translation / W
    bg_rotate_deg: float = 5.0
    fg_rotate_deg: float = 15.0
    bg_zoom: float = 0.06  # |log scale change| of the background
    fg_zoom: float = 0.15
    min_size: float = 0.12  # shape diameter / W
    max_size: float = 0.5


def _h(m: np.ndarray) -> np.ndarray:
    """2x3 affine -> 3x3."""
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _similarity(rng, centre, shift, rot_deg, zoom) -> np.ndarray:
    """3x3 rotation+scale about ``centre`` then a translation drawn in a disc of radius ``shift`` (px)."""
    ang = np.deg2rad(rng.uniform(-rot_deg, rot_deg))
    s = np.exp(rng.uniform(-zoom, zoom))
    r = shift * rng.random() ** 1.5  # favour small motions
    phi = rng.uniform(0, 2 * np.pi)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(np.rad2deg(ang)), float(s))
    m[:, 2] += r * np.array([np.cos(phi), np.sin(phi)])
    return _h(m)


def _texture(rng, w: int, h: int) -> np.ndarray:
    """Float32 RGB texture ``[h, w, 3]`` in [0,1] with a random gain and style."""
    seed = int(rng.integers(0, 2**31 - 1))
    style = _STYLES[int(rng.integers(0, len(_STYLES)))]
    tex = make_texture(seed, (int(rng.integers(0, 2**20)),), style, w, h, float(rng.uniform(0.02, 0.08)))
    tex = tex.astype(np.float32) / 255.0
    gain = rng.uniform(0.7, 1.6)
    return np.clip(tex * gain, 0.0, 1.0)


def _shape_mask(rng, d: int) -> np.ndarray:
    """Anti-aliased float32 ``[d, d]`` mask: a random star-convex polygon or an ellipse."""
    ss = 4  # draw 4x larger, then area-downsample
    big = np.zeros((d * ss, d * ss), np.uint8)
    c = d * ss / 2.0
    if rng.random() < 0.5:
        k = int(rng.integers(3, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = c * rng.uniform(0.45, 0.98, k)
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(big, [pts], 255)
    else:
        axes = (int(c * rng.uniform(0.5, 0.98)), int(c * rng.uniform(0.25, 0.98)))
        cv2.ellipse(big, (int(c), int(c)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return cv2.resize(big, (d, d), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def render_layers(rng: np.random.Generator, width: int, height: int, p: LayerParams = LayerParams()) -> dict:
    """One random pair.

    Returns a dict of float32 arrays: ``img1``, ``img2`` ``[H,W,3]`` in [0,1], ``flow``
    ``[H,W,2]`` (frame 1 -> 2, pixels), ``noc`` ``[H,W]`` (1 = visible in frame 2).
    """
    W, H = int(width), int(height)
    centre = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    layers = []
    # background: a texture 1.5x the image, placed with a random similarity
    bw, bh = int(W * 1.5) + 8, int(H * 1.5) + 8
    place = _similarity(rng, (bw / 2.0, bh / 2.0), 0.0, 180.0, 0.15)
    place[:2, 2] += centre - np.array([bw / 2.0, bh / 2.0])
    d_bg = _similarity(rng, centre, p.bg_shift * W, p.bg_rotate_deg, p.bg_zoom)
    layers.append((_texture(rng, bw, bh), None, place, d_bg))
    for _ in range(int(rng.integers(p.min_shapes, p.max_shapes + 1))):
        d = max(8, int(W * rng.uniform(p.min_size, p.max_size)))
        pos = rng.uniform([0, 0], [W, H])
        place = _similarity(rng, (d / 2.0, d / 2.0), 0.0, 180.0, 0.2)
        place[:2, 2] += pos - np.array([d / 2.0, d / 2.0])
        own = _similarity(rng, pos, p.fg_shift * W, p.fg_rotate_deg, p.fg_zoom)
        layers.append((_texture(rng, d, d), _shape_mask(rng, d), place, own @ d_bg if rng.random() < 0.5 else own))
    imgs = [np.zeros((H, W, 3), np.float32), np.zeros((H, W, 3), np.float32)]
    labels = [np.zeros((H, W), np.int32), np.zeros((H, W), np.int32)]
    xs, ys = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    flow = np.zeros((H, W, 2), np.float64)
    for k, (tex, mask, place, motion) in enumerate(layers):
        for j, m in enumerate((place, motion @ place)):
            a = m[:2].astype(np.float64)
            if mask is None:
                col = cv2.warpAffine(tex, a, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
                imgs[j][:] = col
                continue
            col = cv2.warpAffine(tex, a, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            alpha = cv2.warpAffine(mask, a, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
            imgs[j] *= 1.0 - alpha
            imgs[j] += alpha * col
            top = alpha[..., 0] > 0.5
            labels[j][top] = k
        on_top = labels[0] == k
        tx = motion[0, 0] * xs + motion[0, 1] * ys + motion[0, 2] - xs
        ty = motion[1, 0] * xs + motion[1, 1] * ys + motion[1, 2] - ys
        flow[on_top, 0] = tx[on_top]
        flow[on_top, 1] = ty[on_top]
    u, v = xs + flow[..., 0], ys + flow[..., 1]
    inside = (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
    ui = np.clip(np.rint(u), 0, W - 1).astype(np.int64)
    vi = np.clip(np.rint(v), 0, H - 1).astype(np.int64)
    noc = inside & (labels[1][vi, ui] == labels[0])
    return {"img1": np.clip(imgs[0], 0, 1), "img2": np.clip(imgs[1], 0, 1), "flow": flow.astype(np.float32),
            "noc": noc.astype(np.float32)}
