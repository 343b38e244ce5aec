"""A furnished room made of textured quads, and the loop a handheld camera walks in it.

World frame as in :mod:`.scene`: x right, y down, z forward.  The floor is the
plane ``y = FLOOR_Y = +1.5`` (the camera starts 1.5 m above it), the ceiling is
2.5..3 m above the floor.  The room is 5..9 m along z and 4..7 m along x; its
four walls, floor and ceiling face inwards (quads are back-face culled, see
:mod:`.render`).  Furniture (shelves, cabinets, wardrobes, desks, a sofa, a
table with stools, an armchair) stands on the floor along the walls and in the
room; a door and a few pictures hang on the walls.

The camera path is a rounded rectangle in the horizontal plane (:class:`Loop`)
that keeps :data:`CLEARANCE` metres from every wall and furniture footprint;
furniture is only placed where it keeps that distance.  The loop passes through
the origin heading +z, and at least 2 m in front of the origin stay free.  Both
:func:`make_room_scene` and the ``indoor`` motion (:mod:`.motion`) derive the
layout from the seed alone through :func:`room_layout`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .mesh import Scene, _Builder, _finish
from .texture import rng_for

#: the floor is the plane ``y = FLOOR_Y`` (y points down; the camera starts 1.5 m above the floor).
FLOOR_Y = 1.5
#: least horizontal distance (metres) from the walking loop to a wall or a furniture footprint:
#: 0.5 m plus the bound on the ``indoor`` motion's sideways wobble off the loop (< 0.1 m, motion.py).
CLEARANCE = 0.65
#: furniture up to this deep (metres) always fits between a wall and the loop.
_WALL_BAND = 0.6
#: the corridor ``|x| <= 0.35``, ``0 <= z <= _AHEAD`` in front of the start stays free (metres).
_AHEAD = 2.1
_LOOP_STEP = 0.02  # metres between loop samples for clearance checks


@dataclass(frozen=True)
class Loop:
    """A rounded rectangle ``[x0, x1] x [z0, z1]`` (world metres, horizontal plane) with corner
    radius ``r``, walked clockwise seen from above: up the ``x = x0`` side towards +z first.

    Arc length 0 is the start of that side (at ``z = z0 + r``); the camera starts at arc
    length ``start``, which is the world origin.
    """

    x0: float
    x1: float
    z0: float
    z1: float
    r: float
    start: float

    def _segments(self):
        sx = self.x1 - self.x0 - 2 * self.r
        sz = self.z1 - self.z0 - 2 * self.r
        q = 0.5 * np.pi * self.r
        return np.array([sz, q, sx, q, sz, q, sx, q])

    @property
    def perimeter(self) -> float:
        """Length of one lap in metres."""
        return float(self._segments().sum())

    def points(self, u) -> tuple[np.ndarray, np.ndarray]:
        """Points at arc lengths ``u`` ``[N]`` (metres, any real value; laps repeat).

        Returns ``(xz [N, 2], heading [N])``: float64 world ``(x, z)`` in metres and the
        direction of travel as a yaw in radians (0 = +z, pi/2 = +x), continuous in ``u``
        (it grows by 2 pi per lap).
        """
        u = np.atleast_1d(np.asarray(u, np.float64))
        seg = self._segments()
        per = seg.sum()
        lap = np.floor(u / per)
        w = u - lap * per
        ends = np.cumsum(seg)
        k = np.minimum(np.searchsorted(ends, w, side="right"), 7)
        f = w - (ends - seg)[k]  # metres into segment k
        x0, x1, z0, z1, r = self.x0, self.x1, self.z0, self.z1, self.r
        # straight sides: start point and direction; corners: centre and start angle (x = cos, z = sin)
        start = np.array([[x0, z0 + r], [x0 + r, z1], [x1, z1 - r], [x1 - r, z0]])
        dirs = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
        centre = np.array([[x0 + r, z1 - r], [x1 - r, z1 - r], [x1 - r, z0 + r], [x0 + r, z0 + r]])
        side = k // 2
        xz = np.empty((len(u), 2))
        heading = side * (0.5 * np.pi) + lap * (2 * np.pi)
        straight = k % 2 == 0
        s = side[straight]
        xz[straight] = start[s] + f[straight, None] * dirs[s]
        c = side[~straight]
        frac = f[~straight] / max(0.5 * np.pi * r, 1e-12)
        ang = np.pi - c * (0.5 * np.pi) - frac * (0.5 * np.pi)  # clockwise: the angle decreases
        xz[~straight] = centre[c] + r * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        heading[~straight] += frac * (0.5 * np.pi)
        return xz, heading

    def samples(self, step: float = _LOOP_STEP) -> np.ndarray:
        """``[M, 2]`` world ``(x, z)`` points of one lap, at most ``step`` metres apart."""
        per = self.perimeter
        return self.points(np.linspace(0.0, per, int(np.ceil(per / step)) + 1))[0]


@dataclass(frozen=True)
class Item:
    """One piece of furniture or wall decoration.

    ``boxes``: tuples ``(lo, hi, faces)`` of axis-aligned boxes in world metres (``lo[1]`` is the
    top, y points down; ``faces`` as in :meth:`.mesh._Builder.box`).  ``footprint``:
    ``(x0, x1, z0, z1)`` of all of them in the horizontal plane.
    """

    name: str
    style: str
    boxes: tuple
    footprint: tuple


@dataclass(frozen=True)
class RoomLayout:
    """Everything about a room that follows from its seed (world metres).

    Attributes:
        x0, x1, z0, z1: the walls' planes.
        floor_y, ceiling_y: the floor's and the ceiling's planes (``ceiling_y < floor_y``).
        loop: the camera's walking path.
        furniture: items standing on the floor (6..15).
        decor: door and pictures on the walls.
        floor_style: texture style of the floor.
        light: ``(x, y, z)`` direction towards the light (unnormalised).
    """

    seed: int
    x0: float
    x1: float
    z0: float
    z1: float
    floor_y: float
    ceiling_y: float
    loop: Loop
    furniture: tuple
    decor: tuple
    floor_style: str
    light: tuple


def room_extent(seed: int) -> np.ndarray:
    """Float64 ``[2, 3]``: the room's lowest and highest world corner ``(x, y, z)`` in metres
    (row 0 = ``(x0, ceiling_y, z0)``, row 1 = ``(x1, floor_y, z1)``)."""
    lay = room_layout(seed)
    return np.array([[lay.x0, lay.ceiling_y, lay.z0], [lay.x1, lay.floor_y, lay.z1]])


def _rect_dist(pts: np.ndarray, rect) -> np.ndarray:
    """Distances ``[M]`` of points ``[M, 2]`` (x, z) to the rectangle ``(x0, x1, z0, z1)`` (0 inside)."""
    x0, x1, z0, z1 = rect
    dx = np.maximum(np.maximum(x0 - pts[:, 0], pts[:, 0] - x1), 0.0)
    dz = np.maximum(np.maximum(z0 - pts[:, 1], pts[:, 1] - z1), 0.0)
    return np.hypot(dx, dz)


def _overlaps(a, b, gap: float = 0.02) -> bool:
    return a[0] < b[1] + gap and b[0] < a[1] + gap and a[2] < b[3] + gap and b[2] < a[3] + gap


class _Planner:
    """Places items so that they keep clear of the loop, the start corridor and each other."""

    def __init__(self, loop_pts: np.ndarray, keep_out: list):
        self.loop_pts = loop_pts
        self.keep_out = list(keep_out)  # rectangles nothing may overlap
        self.taken = []  # (footprint, height above the floor) of placed items and decor

    def fits(self, rect, clearance: float = CLEARANCE) -> bool:
        if _rect_dist(self.loop_pts, rect).min() < clearance:
            return False
        if any(_overlaps(rect, k, 0.0) for k in self.keep_out):
            return False
        return not any(_overlaps(rect, t) for t, _ in self.taken)

    def take(self, rect, height: float) -> None:
        self.taken.append((tuple(float(v) for v in rect), float(height)))


def _box_item(name, style, parts, against=""):
    """An :class:`Item` from ``parts``: ``(x0, x1, z0, z1, height above floor, lift above floor)``
    boxes; ``against`` lists the faces that touch a wall (not built)."""
    boxes = []
    for x0, x1, z0, z1, h, lift in parts:
        faces = "".join(c for c in "xXzZt" if c not in against)
        if lift > 0:
            faces += "b"
        boxes.append(((x0, FLOOR_Y - lift - h, z0), (x1, FLOOR_Y - lift, z1), faces))
    fp = (min(p[0] for p in parts), max(p[1] for p in parts), min(p[2] for p in parts), max(p[3] for p in parts))
    return Item(name, style, tuple(boxes), fp)


def _table_parts(x0, x1, z0, z1, h, leg=0.05, top=0.04):
    """Top slab and four legs of a table over ``[x0, x1] x [z0, z1]``, ``h`` metres high."""
    parts = [(x0, x1, z0, z1, top, h - top)]
    for lx in (x0 + 0.03, x1 - 0.03 - leg):
        for lz in (z0 + 0.03, z1 - 0.03 - leg):
            parts.append((lx, lx + leg, lz, lz + leg, h - top, 0.0))
    return parts


class _Wall:
    """Maps wall-local (along, depth) rectangles to world footprints for one of the four walls."""

    def __init__(self, name: str, lay: dict):
        self.name = name
        self.x0, self.x1, self.z0, self.z1 = lay["x0"], lay["x1"], lay["z0"], lay["z1"]
        along_z = name in ("left", "right")
        self.length = (self.z1 - self.z0) if along_z else (self.x1 - self.x0)
        #: the box face that touches this wall
        self.against = {"left": "x", "right": "X", "near": "z", "far": "Z"}[name]

    def rect(self, t0, t1, d0, d1):
        """World footprint ``(x0, x1, z0, z1)`` of ``t0..t1`` along the wall, ``d0..d1`` from it."""
        if self.name == "left":
            return (self.x0 + d0, self.x0 + d1, self.z0 + t0, self.z0 + t1)
        if self.name == "right":
            return (self.x1 - d1, self.x1 - d0, self.z0 + t0, self.z0 + t1)
        if self.name == "near":
            return (self.x0 + t0, self.x0 + t1, self.z0 + d0, self.z0 + d1)
        return (self.x0 + t0, self.x0 + t1, self.z1 - d1, self.z1 - d0)


def _wall_piece(rng: np.random.Generator, wall: _Wall, t: float):
    """A random piece of furniture with its back to ``wall`` starting ``t`` metres along it.

    Returns ``(item, width)``.
    """
    r = rng.random()
    w = wall
    if r < 0.22:  # bookshelf
        wd, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.28, 0.45), rng.uniform(1.5, 2.2)
        style = "wood" if rng.random() < 0.5 else "box"
        return _box_item("shelf", style, [(*w.rect(t, t + wd, 0.0, d), h, 0.0)], w.against), wd
    if r < 0.45:  # low cabinet / sideboard
        wd, d, h = rng.uniform(0.5, 1.3), rng.uniform(0.4, 0.6), rng.uniform(0.7, 1.1)
        style = "wood" if rng.random() < 0.6 else "box"
        return _box_item("cabinet", style, [(*w.rect(t, t + wd, 0.0, d), h, 0.0)], w.against), wd
    if r < 0.6:  # wardrobe
        wd, d, h = rng.uniform(0.8, 1.4), rng.uniform(0.5, 0.6), rng.uniform(1.8, 2.2)
        return _box_item("wardrobe", "wood", [(*w.rect(t, t + wd, 0.0, d), h, 0.0)], w.against), wd
    if r < 0.8:  # desk: a table against the wall
        wd, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.8), rng.uniform(0.72, 0.78)
        parts = _table_parts(*w.rect(t, t + wd, 0.0, d), h)
        return _box_item("desk", "wood", parts), wd
    # sofa: seat, back against the wall, two arms
    wd, d = rng.uniform(1.6, 2.2), rng.uniform(0.8, 0.95)
    seat, back, arm = rng.uniform(0.4, 0.48), rng.uniform(0.75, 0.9), rng.uniform(0.15, 0.2)
    parts = [(*w.rect(t + arm, t + wd - arm, 0.2, d), seat, 0.0),
             (*w.rect(t, t + wd, 0.0, 0.2), back, 0.0),
             (*w.rect(t, t + arm, 0.2, d), seat + 0.18, 0.0),
             (*w.rect(t + wd - arm, t + wd, 0.2, d), seat + 0.18, 0.0)]
    return _box_item("sofa", "carpet", parts, w.against), wd


@lru_cache(maxsize=64)
def room_layout(seed: int) -> RoomLayout:
    """The room, its furniture and the camera loop for ``seed`` (a pure function of it)."""
    rng = rng_for(seed, 30)
    width, length, height = rng.uniform(4.0, 7.0), rng.uniform(5.0, 9.0), rng.uniform(2.5, 3.0)
    margin = _WALL_BAND + CLEARANCE
    slack_x, slack_z = width - 2 * margin, length - 2 * margin
    pw, pl = slack_x * rng.uniform(0.75, 1.0), slack_z * rng.uniform(0.75, 1.0)
    lx0 = margin + rng.uniform(0.0, slack_x - pw)  # loop corner in room-local coordinates
    lz0 = margin + rng.uniform(0.0, slack_z - pl)
    r = min(rng.uniform(0.7, 1.2), 0.5 * pw, 0.5 * pl)
    # start on the loop's left side, far enough from the far wall for the free corridor ahead
    zs_lo = lz0 + r
    zs_hi = max(zs_lo, min(lz0 + pl - r, length - _WALL_BAND - _AHEAD))
    zs = rng.uniform(zs_lo, zs_hi)
    # world = room-local - (lx0, zs): the start is the origin
    walls = dict(x0=-lx0, x1=width - lx0, z0=-zs, z1=length - zs)
    loop = Loop(0.0, pw, lz0 - zs, lz0 + pl - zs, r, zs - (lz0 + r))
    pts = loop.samples()
    plan = _Planner(pts, [(-0.35, 0.35, 0.0, _AHEAD)])

    # door: on a random wall, with a swing zone in front that stays free
    order = ["left", "far", "right", "near"]
    wall_objs = {n: _Wall(n, walls) for n in order}
    dw = wall_objs[order[int(rng.integers(0, 4))]]
    t = rng.uniform(0.15, dw.length - 1.05)
    door_rect = dw.rect(t, t + 0.9, 0.0, 0.04)
    decor = [_box_item("door", "wood", [(*door_rect, 2.05, 0.0)], dw.against)]
    plan.take(door_rect, 2.05)
    plan.keep_out.append(dw.rect(t - 0.05, t + 0.95, 0.0, 0.9))

    furniture = []
    max_items = 15
    for name in order:  # along the walls
        w = wall_objs[name]
        t = rng.uniform(0.0, 0.6)
        while t < w.length - 0.5 and len(furniture) < max_items - 3:
            item, wd = _wall_piece(rng, w, t)
            if t + wd <= w.length and plan.fits(item.footprint):
                furniture.append(item)
                plan.take(item.footprint, FLOOR_Y - min(b[0][1] for b in item.boxes))
                t += wd + rng.uniform(0.2, 1.2)
            else:
                t += rng.uniform(0.3, 0.8)

    # in the room: a table (with stools) inside the loop where it fits, then an armchair anywhere
    inner = (loop.x0 + CLEARANCE, loop.x1 - CLEARANCE, loop.z0 + CLEARANCE, loop.z1 - CLEARANCE)
    iw, il = inner[1] - inner[0], inner[3] - inner[2]
    tw, tl = min(rng.uniform(0.7, 1.4), iw), min(rng.uniform(0.7, 1.8), il)
    if tw >= 0.5 and tl >= 0.5:
        cx = rng.uniform(inner[0] + tw / 2, max(inner[0] + tw / 2, inner[1] - tw / 2))
        cz = rng.uniform(inner[2] + tl / 2, max(inner[2] + tl / 2, inner[3] - tl / 2))
        rect = (cx - tw / 2, cx + tw / 2, cz - tl / 2, cz + tl / 2)
        for _ in range(4):  # the corners of the loop cut into ``inner``: shrink until it fits
            if plan.fits(rect):
                h = rng.uniform(0.7, 0.78)
                furniture.append(_box_item("table", "wood", _table_parts(*rect, h)))
                plan.take(rect, h)
                break
            rect = (0.8 * rect[0] + 0.2 * cx, 0.8 * rect[1] + 0.2 * cx, 0.8 * rect[2] + 0.2 * cz,
                    0.8 * rect[3] + 0.2 * cz)
        else:
            rect = None
        if rect is not None:
            for side in rng.permutation(4)[: int(rng.integers(0, 3))]:
                s = rng.uniform(0.38, 0.46)
                gx, gz = [(rect[0] - s - 0.05, cz - s / 2), (rect[1] + 0.05, cz - s / 2),
                          (cx - s / 2, rect[2] - s - 0.05), (cx - s / 2, rect[3] + 0.05)][int(side)]
                crect = (gx, gx + s, gz, gz + s)
                if len(furniture) < max_items and plan.fits(crect):
                    seat = rng.uniform(0.42, 0.47)
                    furniture.append(_box_item("stool", "wood" if rng.random() < 0.5 else "carpet",
                                               _table_parts(*crect, seat, leg=0.04, top=0.05)))
                    plan.take(crect, seat)
    for _ in range(12):  # an armchair or plant stand standing free
        if len(furniture) >= max_items:
            break
        s = rng.uniform(0.5, 0.85)
        x = rng.uniform(walls["x0"] + 0.1, walls["x1"] - 0.1 - s)
        z = rng.uniform(walls["z0"] + 0.1, walls["z1"] - 0.1 - s)
        rect = (x, x + s, z, z + s)
        if plan.fits(rect):
            h = rng.uniform(0.8, 1.2)
            furniture.append(_box_item("armchair", "carpet" if rng.random() < 0.6 else "box",
                                       [(*rect, h, 0.0)]))
            plan.take(rect, h)
            break

    # pictures: above low furniture or bare wall, centred 1.4..1.8 m above the floor
    for _ in range(int(rng.integers(1, 5))):
        w = wall_objs[order[int(rng.integers(0, 4))]]
        pw_, ph = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8)
        if w.length < pw_ + 0.4:
            continue
        t = rng.uniform(0.2, w.length - pw_ - 0.2)
        bottom = rng.uniform(1.4, 1.8) - ph / 2
        rect = w.rect(t, t + pw_, 0.0, 0.025)
        if any(_overlaps(rect, fp, 0.05) and hgt > bottom - 0.05 for fp, hgt in plan.taken):
            continue
        decor.append(_box_item("picture", "box", [(*rect, ph, bottom)], w.against))
        plan.take(rect, bottom + ph)

    light = (float(rng.uniform(-0.5, 0.5)), -1.0, float(rng.uniform(-0.5, 0.5)))
    floor_style = "wood" if rng.random() < 0.6 else "carpet"
    return RoomLayout(seed=int(seed), x0=walls["x0"], x1=walls["x1"], z0=walls["z0"], z1=walls["z1"],
                      floor_y=FLOOR_Y, ceiling_y=FLOOR_Y - height, loop=loop, furniture=tuple(furniture),
                      decor=tuple(decor), floor_style=floor_style, light=light)


def make_room_scene(seed: int = 0, *, texel: float = 0.02) -> Scene:
    """Build the furnished room of :func:`room_layout` as a :class:`Scene` (kind ``indoor``).

    Args:
        seed: geometry, textures and lighting are a function of it.
        texel: texture resolution in metres.

    ``Scene.length`` is the room's extent along z and ``Scene.z_range`` its walls' z.
    Every pixel of a view from inside the room hits a surface (depth > 0, no sky).
    """
    lay = room_layout(seed)
    x0, x1, z0, z1, fy, cy = lay.x0, lay.x1, lay.z0, lay.z1, lay.floor_y, lay.ceiling_y
    wd, ln, ht = x1 - x0, z1 - z0, fy - cy
    b = _Builder()
    b.group = 1  # the shell, every face towards the inside
    b.quad((x0, fy, z0), (wd, 0.0, 0.0), (0.0, 0.0, ln), lay.floor_style)  # floor, normal -y (up)
    b.quad((x0, cy, z1), (wd, 0.0, 0.0), (0.0, 0.0, -ln), "plaster")  # ceiling, normal +y (down)
    b.quad((x0, cy, z1), (0.0, 0.0, -ln), (0.0, ht, 0.0), "plaster")  # left wall, normal +x
    b.quad((x1, cy, z0), (0.0, 0.0, ln), (0.0, ht, 0.0), "plaster")  # right wall, normal -x
    b.quad((x1, cy, z1), (-wd, 0.0, 0.0), (0.0, ht, 0.0), "plaster")  # far wall, normal -z
    b.quad((x0, cy, z0), (wd, 0.0, 0.0), (0.0, ht, 0.0), "plaster")  # near wall, normal +z
    for g, item in enumerate(lay.decor + lay.furniture):
        b.group = 2 + g
        for lo, hi, faces in item.boxes:
            b.box(lo, hi, item.style, faces)
    return _finish(b, seed, "indoor", float(ln), (z0, z1), texel, np.asarray(lay.light, np.float64))
