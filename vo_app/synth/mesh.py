"""A scene as textured quads: :class:`Scene`, the quad collector :class:`_Builder` and :func:`_finish`,
shared by the street (``scene.py``) and the room (``room.py``)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sky import Sky
from .texture import TextureAtlas


@dataclass
class Scene:
    """Quads (float64 world geometry), their textures and the sky.

    Attributes:
        p0, e1, e2: ``[Q, 3]`` corner and edge vectors of each quad.
        normal: ``[Q, 3]`` unit normals (``e1 x e2`` normalised).
        size: ``[Q, 2]`` edge lengths in metres.
        shade: ``[Q]`` constant Lambert factor of each quad (depends on its normal only).
        styles: texture style per quad.
        z_range: (z_min, z_max) of the street (of the room for ``indoor``).
    """

    seed: int
    kind: str
    length: float
    p0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    normal: np.ndarray
    size: np.ndarray
    shade: np.ndarray
    styles: list
    z_range: tuple
    texel: float
    atlas: TextureAtlas = field(repr=False)
    sky: Sky = field(repr=False)

    @property
    def n_quads(self) -> int:
        return len(self.styles)


class _Builder:
    """Collects quads; each gets a texture key (group, n-th quad of the group).

    Keying textures by group rather than by global index keeps the look of
    the start of the street the same when the street is made longer.
    """

    def __init__(self):
        self.p0, self.e1, self.e2, self.styles, self.keys = [], [], [], [], []
        self.group = 0
        self._count = {}

    def quad(self, p0, e1, e2, style):
        self.p0.append(p0)
        self.e1.append(e1)
        self.e2.append(e2)
        self.styles.append(style)
        k = self._count.get(self.group, 0)
        self._count[self.group] = k + 1
        self.keys.append((self.group, k))

    def box(self, lo, hi, style, faces="xXzZt"):
        """Axis-aligned box ``lo..hi`` (``lo[1]`` is its top, y points down).

        ``faces``: x/X = -x/+x side, z/Z = -z/+z side, t = top, b = bottom.
        Each face's texture runs horizontally along ``e1`` and downwards along ``e2``.
        """
        x0, y0, z0 = lo
        x1, y1, z1 = hi
        dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
        down = (0.0, dy, 0.0)
        if "x" in faces:
            self.quad((x0, y0, z0), (0.0, 0.0, dz), down, style)
        if "X" in faces:
            self.quad((x1, y0, z1), (0.0, 0.0, -dz), down, style)
        if "z" in faces:
            self.quad((x1, y0, z0), (-dx, 0.0, 0.0), down, style)
        if "Z" in faces:
            self.quad((x0, y0, z1), (dx, 0.0, 0.0), down, style)
        if "t" in faces:
            self.quad((x0, y0, z0), (dx, 0.0, 0.0), (0.0, 0.0, dz), style)
        if "b" in faces:
            self.quad((x0, y1, z1), (dx, 0.0, 0.0), (0.0, 0.0, -dz), style)


def _finish(b: _Builder, seed: int, kind: str, length: float, z_range: tuple, texel: float,
            light: np.ndarray) -> Scene:
    """The :class:`Scene` of the quads in ``b``; ``light`` ``[3]`` is the (unnormalised) direction
    towards the light that sets each quad's constant shade."""
    p0 = np.asarray(b.p0, np.float64)
    e1 = np.asarray(b.e1, np.float64)
    e2 = np.asarray(b.e2, np.float64)
    n = np.cross(e1, e2)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    size = np.stack([np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1)], axis=1)
    sun = np.asarray(light, np.float64).copy()
    sun /= np.linalg.norm(sun)
    shade = (0.65 + 0.35 * np.clip(n @ sun, 0.0, 1.0)).astype(np.float32)
    atlas = TextureAtlas(size, b.styles, seed, texel, keys=np.asarray(b.keys, np.int64))
    return Scene(seed=int(seed), kind=kind, length=length, p0=p0, e1=e1, e2=e2, normal=n, size=size,
                 shade=shade, styles=b.styles, z_range=tuple(z_range), texel=float(texel), atlas=atlas,
                 sky=Sky(seed))
