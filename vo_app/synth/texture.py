"""Procedural, physically sized surface textures with mip pyramids.

Every quad of a scene owns one texture whose texels are ``texel`` metres
wide.  Its content is drawn from a generator seeded by the scene seed and the
quad's index only, so a texture does not depend on which frames look at it or
in which order it is first needed.  Textures are built lazily (on first sight)
into one flat buffer that holds every level of every pyramid, which
lets :meth:`TextureAtlas.sample` do trilinear filtering for all pixels of a
frame with a handful of vectorised gathers.
"""
from __future__ import annotations

import cv2
import numpy as np

#: number of mip levels above the base level (level 6 = 64x coarser).
MIP_LEVELS = 6
_PAD = 1 << MIP_LEVELS


def rng_for(seed: int, *tags: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the integer ``tags``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(t) for t in tags]]))


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float, channels: int = 1) -> np.ndarray:
    """Smooth zero-mean noise of feature size ``cell`` texels, float32 ``[h, w, channels]``."""
    gh = int(np.ceil(h / cell)) + 2
    gw = int(np.ceil(w / cell)) + 2
    grid = rng.random((gh, gw, channels), dtype=np.float32) - 0.5
    big = cv2.resize(grid, (int(round(gw * cell)), int(round(gh * cell))), interpolation=cv2.INTER_CUBIC)
    big = big.reshape(big.shape[0], big.shape[1], channels)
    oy = int(rng.integers(0, max(1, big.shape[0] - h + 1)))
    ox = int(rng.integers(0, max(1, big.shape[1] - w + 1)))
    return big[oy:oy + h, ox:ox + w]


def fractal_noise(rng: np.random.Generator, h: int, w: int, cells, channels: int = 1) -> np.ndarray:
    """Sum of value-noise octaves with equal weight per octave (contrast at every scale).

    Octaves coarser than 8 texels are summed at a quarter of the resolution
    and upsampled once, which keeps the cost close to that of two octaves.
    """
    cells = list(cells)
    fine = [c for c in cells if c < 8.0]
    coarse = [c / 4.0 for c in cells if c >= 8.0]
    out = np.zeros((h, w, channels), np.float32)
    for cell in fine:
        out += value_noise(rng, h, w, cell, channels)
    if coarse:
        hs, ws = h // 4 + 2, w // 4 + 2
        small = fractal_noise(rng, hs, ws, coarse, channels) * (np.sqrt(len(coarse)) / 2.0)
        big = cv2.resize(small, (ws * 4, hs * 4), interpolation=cv2.INTER_LINEAR)
        out += big.reshape(hs * 4, ws * 4, channels)[2:2 + h, 2:2 + w]
    return out * (2.0 / np.sqrt(len(cells)))


def random_colours(rng: np.random.Generator, n: int, sat=(0.4, 1.0), val=(0.3, 1.0)) -> np.ndarray:
    """``n`` random RGB colours in [0, 1], float32 ``[n, 3]``, drawn in HSV space."""
    hsv = np.stack([rng.uniform(0, 180, n), rng.uniform(*sat, n) * 255, rng.uniform(*val, n) * 255], axis=1)
    rgb = cv2.cvtColor(hsv.astype(np.uint8).reshape(n, 1, 3), cv2.COLOR_HSV2RGB)
    return rgb.reshape(n, 3).astype(np.float32) / 255.0


def _draw_blobs(img: np.ndarray, rng: np.random.Generator, count: int, rmin: float, rmax: float) -> None:
    h, w = img.shape[:2]
    cols = random_colours(rng, count, val=(0.1, 1.0)).tolist()
    cx = rng.integers(0, w, count).tolist()
    cy = rng.integers(0, h, count).tolist()
    rad = np.exp(rng.uniform(np.log(rmin), np.log(rmax), count))
    ax1 = np.maximum(1, rad).astype(int).tolist()
    ax2 = np.maximum(1, rad * rng.uniform(0.3, 1.0, count)).astype(int).tolist()
    ang = rng.uniform(0, 180, count).tolist()
    for i in range(count):
        cv2.ellipse(img, (cx[i], cy[i]), (ax1[i], ax2[i]), ang[i], 0, 360, cols[i], -1, cv2.LINE_AA)


def _draw_lines(img: np.ndarray, rng: np.random.Generator, count: int, lmax: float) -> None:
    h, w = img.shape[:2]
    cols = random_colours(rng, count, sat=(0.0, 1.0), val=(0.0, 1.0)).tolist()
    x0 = rng.uniform(0, w, count)
    y0 = rng.uniform(0, h, count)
    ang = rng.uniform(0, np.pi, count)
    ln = rng.uniform(4, lmax, count)
    x1 = x0 + ln * np.cos(ang)
    y1 = y0 + ln * np.sin(ang)
    thick = rng.integers(1, 4, count).tolist()
    p0 = np.stack([x0, y0], 1).astype(int).tolist()
    p1 = np.stack([x1, y1], 1).astype(int).tolist()
    for i in range(count):
        cv2.line(img, tuple(p0[i]), tuple(p1[i]), cols[i], thick[i], cv2.LINE_AA)


def _draw_windows(img: np.ndarray, rng: np.random.Generator, texel: float) -> None:
    """Irregular rows of windows: jittered sizes, spacing and colours (no exact period)."""
    h, w = img.shape[:2]
    y = rng.uniform(0.8, 2.0) / texel
    while y < h - 1.5 / texel:
        floor_h = rng.uniform(2.8, 3.6) / texel
        x = rng.uniform(0.3, 2.0) / texel
        while x < w - 1.0 / texel:
            ww = rng.uniform(0.6, 1.8) / texel
            wh = rng.uniform(0.9, 1.9) / texel
            if rng.random() < 0.85:
                col, frame = random_colours(rng, 2, sat=(0.0, 0.6), val=(0.05, 0.9)).tolist()
                p0 = (int(x), int(y + rng.uniform(-0.1, 0.1) / texel))
                p1 = (int(x + ww), int(p0[1] + wh))
                cv2.rectangle(img, p0, p1, col, -1, cv2.LINE_AA)
                cv2.rectangle(img, p0, p1, frame, int(rng.integers(1, 3)), cv2.LINE_AA)
            x += ww + rng.uniform(0.5, 2.5) / texel
        y += floor_h


#: styles of the indoor room (:mod:`.room`); the street styles are "ground", "facade" and "box".
INDOOR_STYLES = ("plaster", "wood", "carpet")


def _wood_colour(rng: np.random.Generator) -> np.ndarray:
    """One RGB wood tone in [0, 1], float32 ``[3]`` (OpenCV hue 8..20 = 16..40 degrees)."""
    hsv = np.array([[[rng.uniform(8, 20), rng.uniform(0.35, 0.75) * 255, rng.uniform(0.3, 0.8) * 255]]])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).reshape(3).astype(np.float32) / 255.0


def _draw_planks(img: np.ndarray, rng: np.random.Generator, texel: float) -> None:
    """Boards along the texture's width: faint seams every 0.12..0.3 m, staggered butt joints."""
    h, w = img.shape[:2]
    dark = (img.mean(axis=(0, 1)) * 0.7).tolist()
    board = rng.uniform(0.12, 0.3) / texel
    y = rng.uniform(0.0, board)
    while y < h:
        cv2.line(img, (0, int(y)), (w - 1, int(y)), dark, 1, cv2.LINE_AA)
        x = rng.uniform(0.0, 2.5) / texel
        y_next = y + board * rng.uniform(0.95, 1.05)
        while x < w:
            cv2.line(img, (int(x), int(y)), (int(x), int(y_next)), dark, 1, cv2.LINE_AA)
            x += rng.uniform(1.2, 3.0) / texel
        y = y_next


def _indoor_texture(rng: np.random.Generator, style: str, w: int, h: int, texel: float) -> np.ndarray:
    """Base level of an indoor style (see :func:`make_texture`): uint8 ``[h, w, 3]`` RGB.

    ``plaster``: pale paint with soft shading, a few stains, marks and stickers;
    ``wood``: a wood tone with grain stretched along the texture's width and board seams;
    ``carpet``: a muted colour with strong fibre noise at 1..3 texels and a few pattern blobs.
    Feature sizes are physical (metres), from 3 cm up, whatever ``texel`` is.
    """
    cells = [c / texel for c in (0.03, 0.075, 0.15, 0.3, 0.6, 1.2, 2.4)]
    cells = [c for c in cells if c >= 1.0] or [1.0]
    area = w * h
    if style == "plaster":
        base = random_colours(rng, 1, sat=(0.0, 0.25), val=(0.6, 0.9))[0]
    elif style == "wood":
        base = _wood_colour(rng)
    else:
        base = random_colours(rng, 1, sat=(0.15, 0.6), val=(0.3, 0.65))[0]
    shading = fractal_noise(rng, h, w, [c for c in cells if c * texel >= 0.15] or cells, 1)
    tint = fractal_noise(rng, h, w, [c for c in cells if c * texel >= 0.6] or cells, 3)
    colour = base * (1.0 + 0.25 * shading) + 0.04 * tint
    if style == "wood":
        # grain: noise 8x longer along the width than across it
        grain = value_noise(rng, h, max(2, w // 8), max(1.0, 0.01 / texel), 1)[..., 0]
        grain = cv2.resize(grain, (w, h), interpolation=cv2.INTER_LINEAR)
        colour *= (1.0 + 0.7 * grain)[..., None]
        _draw_planks(colour, rng, texel)
        _draw_blobs(colour, rng, int(area * texel ** 2 / 4.0) + 1, 1.5, max(2.0, min(0.3 / texel, 0.2 * min(w, h))))
        lum_amp, fine = 0.25, 0.5
    elif style == "plaster":
        _draw_blobs(colour, rng, int(area * texel ** 2 / 6.0) + 1, 1.5, max(2.0, min(0.8 / texel, 0.3 * min(w, h))))
        _draw_lines(colour, rng, int(area * texel ** 2 / 8.0) + 1, max(6.0, min(2.0 / texel, 0.5 * max(w, h))))
        lum_amp, fine = 0.3, 0.5
    else:
        _draw_blobs(colour, rng, int(area * texel ** 2 / 3.0) + 1, 1.5, max(2.0, min(0.6 / texel, 0.3 * min(w, h))))
        lum_amp, fine = 0.3, 1.5
    lum = fractal_noise(rng, h, w, cells, 1)
    lum += fine * value_noise(rng, h, w, 1.0, 1)
    lum *= lum_amp * 255.0
    lum += 0.85 * 255.0
    colour *= lum
    np.clip(colour, 0.0, 255.0, out=colour)
    return (colour + 0.5).astype(np.uint8)


def make_texture(seed: int, key, style: str, w: int, h: int, texel: float) -> np.ndarray:
    """Base-level texture for the integer tuple ``key``: uint8 ``[h, w, 3]`` RGB.

    A colour layer (tinted noise, windows for facades, blobs and strokes at
    many sizes) is modulated by multi-octave luminance noise, so that even
    the inside of a flat-coloured blob carries texture at every scale.
    """
    rng = rng_for(seed, 1, *np.atleast_1d(key))
    cells = [c / (texel / 0.05) for c in (1.5, 3, 6, 12, 24, 48, 96)]
    cells = [c for c in cells if c >= 1.0] or [1.0]
    if style in INDOOR_STYLES:
        return _indoor_texture(rng, style, w, h, texel)
    if style == "ground":
        base = random_colours(rng, 1, sat=(0.0, 0.35), val=(0.35, 0.6))[0]
    else:
        base = random_colours(rng, 1, sat=(0.3, 0.9), val=(0.4, 0.9))[0]
    colour = fractal_noise(rng, h, w, [c for c in cells if c >= 6.0] or cells, 3)
    colour *= 0.3
    colour += base
    area = w * h
    if style == "facade":
        _draw_windows(colour, rng, texel)
    _draw_blobs(colour, rng, int(area / 1500) + 2, 1.5, max(2.0, min(40.0, 0.3 * min(w, h))))
    _draw_lines(colour, rng, int(area / 3000) + 1, max(6.0, min(150.0, 0.8 * max(w, h))))
    lum = fractal_noise(rng, h, w, cells, 1)
    lum += 0.6 * value_noise(rng, h, w, 1.0, 1)
    lum *= 0.55 * 255.0
    lum += 0.8 * 255.0
    colour *= lum
    np.clip(colour, 0.0, 255.0, out=colour)
    return (colour + 0.5).astype(np.uint8)


def downsample2(img: np.ndarray) -> np.ndarray:
    """Halve an even-sized image with the centred [1,3,3,1]/8 filter (keeps texel alignment)."""
    f = img.astype(np.float32)
    p = np.concatenate([f[:1], f, f[-1:]], axis=0)
    f = (p[0:-3:2] + 3 * p[1:-2:2] + 3 * p[2:-1:2] + p[3::2]) * 0.125
    p = np.concatenate([f[:, :1], f, f[:, -1:]], axis=1)
    f = (p[:, 0:-3:2] + 3 * p[:, 1:-2:2] + 3 * p[:, 2:-1:2] + p[:, 3::2]) * 0.125
    return f


def build_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels + 1`` uint8 images, each half the size of the previous one."""
    out = [img]
    cur = img.astype(np.float32)
    for _ in range(levels):
        cur = downsample2(cur)
        out.append(np.clip(cur + 0.5, 0, 255).astype(np.uint8))
    return out


class TextureAtlas:
    """Lazily generated mip-mapped textures of all quads, in one flat buffer.

    Texels are stored as 4 bytes (R, G, B, 0) so that one gather of a
    ``uint32`` fetches a whole colour.

    Args:
        sizes: ``[Q, 2]`` quad extents in metres along its two edges.
        styles: one style name per quad ("ground", "facade", "box", or one of :data:`INDOOR_STYLES`).
        seed: scene seed.
        texel: texel size in metres.
        keys: ``[Q, K]`` integers that seed each quad's texture (default: the quad index).
    """

    def __init__(self, sizes: np.ndarray, styles: list[str], seed: int, texel: float, keys=None):
        self.seed = int(seed)
        self.keys = np.arange(len(styles))[:, None] if keys is None else np.asarray(keys, np.int64)
        self.texel = float(texel)
        self.styles = list(styles)
        n = len(styles)
        base = np.ceil(np.asarray(sizes, np.float64) / texel / _PAD - 1e-9).astype(np.int64)
        base = np.maximum(base, 1) * _PAD  # [Q, 2] (w, h) in texels, multiples of 2**MIP_LEVELS
        lv = np.arange(MIP_LEVELS + 1)
        widths = base[:, 0:1] >> lv  # [Q, L+1]
        heights = base[:, 1:2] >> lv
        counts = (widths * heights).reshape(-1)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        # flat per-(quad, level) tables, indexed by quad * (L + 1) + level
        self.widths = widths.reshape(-1)
        self.heights = heights.reshape(-1)
        self.offsets = offsets
        self.buffer = np.zeros(int(counts.sum()), np.uint32)  # pages are touched lazily
        self.ready = np.zeros(n, bool)

    def level_size(self, q: int, level: int = 0) -> tuple[int, int]:
        """(width, height) in texels of quad ``q``'s texture at ``level``."""
        k = q * (MIP_LEVELS + 1) + level
        return int(self.widths[k]), int(self.heights[k])

    def ensure(self, quads: np.ndarray) -> None:
        """Generate the textures of ``quads`` that do not exist yet."""
        todo = np.unique(quads)
        for q in todo[~self.ready[todo]]:
            q = int(q)
            w, h = self.level_size(q)
            img = make_texture(self.seed, tuple(self.keys[q]), self.styles[q], w, h, self.texel)
            for lvl, im in enumerate(build_pyramid(img, MIP_LEVELS)):
                o = self.offsets[q * (MIP_LEVELS + 1) + lvl]
                rgba = np.zeros(im.shape[:2] + (4,), np.uint8)
                rgba[..., :3] = im
                self.buffer[o:o + im.shape[0] * im.shape[1]] = rgba.reshape(-1).view(np.uint32)
            self.ready[q] = True

    def _bilinear(self, k, x, y):
        w = self.widths[k]
        wm = w - 1
        hm = self.heights[k] - 1
        off = self.offsets[k]
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = x - x0
        fy = y - y0
        x0 = x0.astype(np.int64)
        y0 = y0.astype(np.int64)
        xa = np.minimum(np.maximum(x0, 0), wm)
        xb = np.minimum(np.maximum(x0 + 1, 0), wm)
        ya = np.minimum(np.maximum(y0, 0), hm) * w + off
        yb = np.minimum(np.maximum(y0 + 1, 0), hm) * w + off
        buf = self.buffer
        n = len(x)

        def get(idx):
            return buf[idx].view(np.uint8).reshape(n, 4)[:, :3]

        fx = fx[:, None]
        fy = fy[:, None]
        top = get(ya + xa) * (1 - fx)
        top += get(ya + xb) * fx
        bot = get(yb + xa) * (1 - fx)
        bot += get(yb + xb) * fx
        top *= 1 - fy
        bot *= fy
        top += bot
        return top

    def sample(self, q: np.ndarray, s: np.ndarray, t: np.ndarray, lod: np.ndarray) -> np.ndarray:
        """Trilinear sample at quad-local metres ``(s, t)``; returns float32 ``[N, 3]`` in [0, 255]."""
        self.ensure(q)
        lod = np.minimum(np.maximum(lod, 0.0), float(MIP_LEVELS)).astype(np.float32)
        l0 = np.floor(lod).astype(np.int64)
        l1 = np.minimum(l0 + 1, MIP_LEVELS)
        fl = (lod - l0)[:, None]
        base = q.astype(np.int64) * (MIP_LEVELS + 1)
        inv = np.float32(1.0 / self.texel)
        scale0 = np.ldexp(inv, -l0.astype(np.int32)).astype(np.float32)
        scale1 = np.ldexp(inv, -l1.astype(np.int32)).astype(np.float32)
        c0 = self._bilinear(base + l0, s * scale0 - 0.5, t * scale0 - 0.5)
        c1 = self._bilinear(base + l1, s * scale1 - 0.5, t * scale1 - 0.5)
        c0 *= 1 - fl
        c1 *= fl
        c0 += c1
        return c0
