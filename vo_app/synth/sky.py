"""Sky: a colour that depends only on the world direction of a ray.

Because the sky is infinitely far away, its image motion is exactly the
rotation-only flow, which is what the flow module reports for sky pixels.
The map is equirectangular (azimuth x elevation) with a mip pyramid; the
level is chosen per frame from the angular size of a pixel.
"""
from __future__ import annotations

import numpy as np

from .texture import build_pyramid, fractal_noise, random_colours, rng_for

_W = 2048  # texels over 360 degrees of azimuth
_EL_MIN = np.deg2rad(-20.0)
_H = 640  # texels from _EL_MIN up to the zenith (+90 degrees)
_LEVELS = 5


class Sky:
    """Procedural sky of a scene, deterministic from ``seed``."""

    def __init__(self, seed: int):
        rng = rng_for(seed, 2)
        el = _EL_MIN + (np.arange(_H, dtype=np.float32)[::-1] + 0.5) * ((np.pi / 2 - _EL_MIN) / _H)
        top = random_colours(rng, 1, sat=(0.5, 0.8), val=(0.55, 0.8))[0]
        horizon = np.array([0.85, 0.88, 0.92], np.float32)
        k = np.clip(np.sin(np.maximum(el, 0.0)) ** 0.5, 0, 1)[:, None, None]
        grad = horizon * (1 - k) + top * k  # [H, 1, 3]
        clouds = fractal_noise(rng, _H, _W, [4, 8, 16, 32, 64, 128], 1)
        cover = np.clip(clouds * 2.0 + 0.2, 0.0, 1.0)
        detail = fractal_noise(rng, _H, _W, [1.5, 3, 6], 1)
        img = grad * (1 - cover) + (0.75 + 0.2 * detail) * cover
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        self.levels = [lv.astype(np.float32) for lv in build_pyramid(img, _LEVELS)]

    def sample(self, dirs: np.ndarray, pixel_angle: float) -> np.ndarray:
        """Colours (float32 ``[N, 3]`` in [0, 255]) for world directions ``dirs`` ``[N, 3]``.

        ``pixel_angle`` is the angular size of one pixel in radians.
        """
        d = dirs.astype(np.float64)
        az = np.arctan2(d[:, 0], d[:, 2])
        el = np.arctan2(-d[:, 1], np.hypot(d[:, 0], d[:, 2]))
        lod = float(np.clip(np.log2(max(pixel_angle / (2 * np.pi / _W), 1e-6)), 0.0, _LEVELS))
        l0 = int(np.floor(lod))
        l1 = min(l0 + 1, _LEVELS)
        f = lod - l0
        out = self._bilinear(l0, az, el) * (1 - f)
        if f > 0:
            out += self._bilinear(l1, az, el) * f
        return out.astype(np.float32)

    def _bilinear(self, lvl: int, az: np.ndarray, el: np.ndarray) -> np.ndarray:
        img = self.levels[lvl]
        h, w = img.shape[:2]
        x = (az + np.pi) / (2 * np.pi) * w - 0.5
        y = (np.pi / 2 - el) / (np.pi / 2 - _EL_MIN) * h - 0.5
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = (x - x0)[:, None]
        fy = (y - y0)[:, None]
        x0 = x0.astype(np.int64)
        y0 = y0.astype(np.int64)
        xa = x0 % w
        xb = (x0 + 1) % w
        ya = np.clip(y0, 0, h - 1)
        yb = np.clip(y0 + 1, 0, h - 1)
        top = img[ya, xa] * (1 - fx) + img[ya, xb] * fx
        bot = img[yb, xa] * (1 - fx) + img[yb, xb] * fx
        return top * (1 - fy) + bot * fy
