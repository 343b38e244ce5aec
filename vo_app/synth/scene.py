"""A street scene made of textured quads.

World frame: x right, y down, z forward (the camera frame of an unrotated
camera at the origin).  The ground is the plane ``y = +1.6`` (the camera
starts 1.6 m above it).  A street runs along +z, lined on both sides by
building blocks whose facades sit 5..8 m from the centre line; cars, crates
and poles stand along the kerbs; walls close both ends of the street.  The
``indoor`` kind is a furnished room instead (:mod:`.room`).

Every surface is a quad ``p0 + a * e1 + b * e2`` with ``a, b`` in [0, 1];
its normal ``e1 x e2`` points to the side it is seen from (quads are
back-face culled).  A box is up to six quads.
"""
from __future__ import annotations

import numpy as np

from .mesh import Scene, _Builder, _finish  # noqa: F401  (Scene: re-exported)
from .room import make_room_scene
from .texture import rng_for

#: height of the camera start above the ground (the ground is ``y = GROUND_Y``).
GROUND_Y = 1.6
#: motion kinds a scene can be sized for (see :func:`make_scene`); ``indoor`` is a furnished room
#: (:mod:`.room`), the others are streets.
SCENE_KINDS = ("forward", "handheld", "rotation", "static", "indoor")
#: metres of street ahead of the origin per kind; for ``indoor`` the upper bound of the room's
#: length (the room's size follows its seed, see :func:`.room.room_layout`).
DEFAULT_LENGTH = {"forward": 200.0, "handheld": 60.0, "rotation": 60.0, "static": 60.0, "indoor": 9.0}
_STREET_BACK = 30.0  # the street starts this far behind the origin


def _buildings(b: _Builder, seed: int, side: int, z0: float, z1: float) -> None:
    rng = rng_for(seed, 10, side + 1)
    z = z0
    while z < z1:
        ln = rng.uniform(8.0, 25.0)
        setback = rng.uniform(5.0, 8.0)
        depth = rng.uniform(9.0, 14.0)
        height = rng.uniform(6.0, 25.0)
        ze = min(z + ln, z1)
        xa, xb = setback, setback + depth
        lo_x, hi_x = (-xb, -xa) if side < 0 else (xa, xb)
        # street-facing facade plus both ends (the ends show where setbacks step)
        faces = ("X" if side < 0 else "x") + "zZ"
        b.box((lo_x, GROUND_Y - height, z), (hi_x, GROUND_Y, ze), "facade", faces)
        z = ze


def _kerb_objects(b: _Builder, seed: int, side: int, z0: float, z1: float) -> None:
    rng = rng_for(seed, 11, side + 1)
    z = z0 + rng.uniform(0.0, 4.0)
    while z < z1 - 5.0:
        r = rng.random()
        if r < 0.55:  # parked car
            ln, wd, ht = rng.uniform(3.8, 4.8), rng.uniform(1.7, 2.0), rng.uniform(1.3, 1.7)
            xc = side * rng.uniform(3.2, 3.6)
            b.box((xc - wd / 2, GROUND_Y - ht, z), (xc + wd / 2, GROUND_Y, z + ln), "box")
            z += ln + rng.uniform(1.0, 6.0)
        elif r < 0.8:  # crate, 1..3 m
            s = rng.uniform(1.0, 3.0)
            sx = s * rng.uniform(0.6, 1.0)
            xin = side * rng.uniform(2.4, 3.0)
            lo_x, hi_x = (xin - sx, xin) if side < 0 else (xin, xin + sx)
            b.box((lo_x, GROUND_Y - s * rng.uniform(0.5, 1.0), z), (hi_x, GROUND_Y, z + s), "box")
            z += s + rng.uniform(1.0, 5.0)
        elif r < 0.9:  # pole
            xc = side * rng.uniform(4.2, 4.7)
            w = rng.uniform(0.15, 0.35)
            b.box((xc - w / 2, GROUND_Y - rng.uniform(3.0, 6.0), z), (xc + w / 2, GROUND_Y, z + w), "box")
            z += rng.uniform(2.0, 6.0)
        else:
            z += rng.uniform(3.0, 10.0)


def _road_objects(b: _Builder, seed: int, z0: float, z1: float) -> None:
    """Traffic on the road beside the camera's line (x = 0), never on it: cars in both lanes and
    cyclists or pedestrians (thin upright boxes) 1-2 m to either side."""
    rng = rng_for(seed, 12, 0)
    z = z0 + rng.uniform(5.0, 15.0)
    while z < z1 - 8.0:
        r = rng.random()
        if r < 0.5:  # a car, mostly in the other lane
            ln, wd, ht = rng.uniform(3.8, 4.8), rng.uniform(1.7, 2.0), rng.uniform(1.3, 1.7)
            xc = (-1 if rng.random() < 0.7 else 1) * rng.uniform(2.0, 2.4)
            b.box((xc - wd / 2, GROUND_Y - ht, z), (xc + wd / 2, GROUND_Y, z + ln), "box")
            z += ln + rng.uniform(6.0, 25.0)
        else:  # a cyclist or a pedestrian
            wd, dp, ht = rng.uniform(0.4, 0.7), rng.uniform(0.3, 1.7), rng.uniform(1.5, 1.95)
            xc = (-1 if rng.random() < 0.5 else 1) * rng.uniform(1.1, 2.2)
            b.box((xc - wd / 2, GROUND_Y - ht, z), (xc + wd / 2, GROUND_Y, z + dp), "box")
            z += dp + rng.uniform(6.0, 25.0)


def _cross_row(b: _Builder, seed: int, z: float, half_width: float) -> None:
    """Buildings across the street beyond a junction: their facades face the camera (-z) from ``z`` on."""
    rng = rng_for(seed, 13, 0)
    x = -half_width
    while x < half_width:
        ln = rng.uniform(8.0, 25.0)
        xe = min(x + ln, half_width)
        za = z + rng.uniform(0.0, 3.0)
        b.box((x, GROUND_Y - rng.uniform(6.0, 25.0), za), (xe, GROUND_Y, za + rng.uniform(9.0, 14.0)), "facade", "zxX")
        x = xe


def make_scene(seed: int = 0, kind: str = "forward", *, length: float | None = None,
               texel: float | None = None, road_objects: bool = False, junction: float = 0.0) -> Scene:
    """Build the street scene for ``seed``.

    Args:
        seed: everything (geometry, textures, sky) is a function of it.
        kind: the motion profile the scene is sized for (``forward`` gets a
            200 m street, ``handheld``/``rotation``/``static`` 60 m, ``indoor``
            a furnished room, see :func:`.room.make_room_scene`); see :data:`SCENE_KINDS`.
        length: metres of street ahead of the origin (overrides ``kind``'s
            default); must be ``None`` for ``indoor`` (the room's size follows ``seed``).
        texel: texture resolution in metres (default 0.05 for streets, 0.02 for
            ``indoor``, whose surfaces are seen from closer).
        road_objects: also put traffic on the road (cars, cyclists, pedestrians beside the
            camera's line; streets only).  Off by default: every existing stream and
            held-out set keeps its scenes.
        junction: > 0 ends the street at a T-junction instead of a wall: the buildings and
            kerb objects stop this many metres before the street's far end, a cross street runs
            there, and a row of buildings stands across it (streets only; 0, the default, keeps
            every existing scene).

    The street spans ``z`` from -30 m to ``length + 30`` m; objects are laid
    out from the start of the street onwards, so a longer street keeps the
    geometry of a shorter one with the same seed.
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {SCENE_KINDS}")
    if kind == "indoor":
        if length is not None:
            raise ValueError("the indoor room's size follows its seed: pass length=None")
        return make_room_scene(seed, texel=0.02 if texel is None else texel)
    texel = 0.05 if texel is None else texel
    length = float(DEFAULT_LENGTH[kind] if length is None else length)
    z0, z1 = -_STREET_BACK, length + _STREET_BACK
    junction = float(junction)
    if not 0.0 <= junction < z1 - z0:
        raise ValueError(f"junction must be in [0, {z1 - z0:g}) m, got {junction:g}")
    zs = z1 - junction  # where the street's own buildings end
    b = _Builder()
    b.group = 1
    tile = 20.0
    z = z0
    while z < zs - 1e-9:  # ground tiles, normal pointing up (-y)
        ze = min(z + tile, zs)
        b.quad((-13.0, GROUND_Y, z), (26.0, 0.0, 0.0), (0.0, 0.0, ze - z), "ground")
        z = ze
    for side in (-1, 1):
        b.group = 3 + side  # 2 and 4
        _buildings(b, seed, side, z0, zs)
        b.group = 6 + side  # 5 and 7
        _kerb_objects(b, seed, side, z0, zs)
    if road_objects:
        b.group = 9
        _road_objects(b, seed, z0, zs)
    b.group = 8
    wall_h = 30.0
    if junction > 0:  # the cross street and the buildings across it
        half = 60.0
        b.quad((-half, GROUND_Y, zs), (2 * half, 0.0, 0.0), (0.0, 0.0, junction + 20.0), "ground")
        _cross_row(b, seed, z1, half)
    else:
        b.quad((14.0, GROUND_Y - wall_h, z1), (-28.0, 0.0, 0.0), (0.0, wall_h, 0.0), "facade")  # far end, faces -z
    b.quad((-14.0, GROUND_Y - wall_h, z0), (28.0, 0.0, 0.0), (0.0, wall_h, 0.0), "facade")  # near end, faces +z
    return _finish(b, seed, kind, length, (z0, z1), texel, np.array([0.4, -0.8, 0.45]))
