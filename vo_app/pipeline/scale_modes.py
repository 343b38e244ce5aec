"""Where a pair's norm comes from, per ``--scale``.

With the back end's window (``--window N``, the default where an absolute source exists) the
chain's norm is the window's guess, and the absolute sources of ``--scale`` enter the window as
factors (:meth:`ScaleModes.window_sources`): none for ``triangulation``, the ground plane (with a
camera height) and the depth network (with weights) for ``fused``, the depth network for
``depth``, the depth images for ``rgbd`` (with ``--window N`` only: its default stays the per-pair norm).  ``--window 0`` writes the front end's chain as it is (:meth:`ScaleModes.norm`):

- ``triangulation`` and ``fused``: the chain's norm (the front end's ratio times the memory's
  norm; arbitrary units, first step = 1);
- ``rgbd``: :class:`~vo_app.pipeline.scale_sources.RgbdScale`;
- ``depth``: :class:`~vo_app.pipeline.scale_sources.DepthNetworkScale` per pair, the chain's
  norm where it has none.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .config import VOConfig
from .frontend import FrontRecord
from .scale_sources import DepthNetworkScale, GroundPlaneScale, RgbdScale, ScaleMeasurement


class ScaleModes:
    """The norm of a pair for ``cfg.scale`` (``depth``: a :class:`~vo_app.pipeline.depth_scale.DepthScale`
    or None; ``size``: the working ``(W, H)``)."""

    def __init__(self, cfg: VOConfig, K: np.ndarray, size: tuple[int, int], depth=None):
        self.cfg = cfg
        self.rgbd = RgbdScale(cfg.min_scale_points)
        self.depth = None if depth is None else DepthNetworkScale(depth, cfg.window_depth_sigma, cfg.min_scale_points)
        self._K, self._size = K, size

    def window_sources(self) -> list:
        """The absolute sources that enter the back end's window, per ``--scale``: none for
        ``triangulation``, the depth network for ``depth``, the ground plane (with a camera height)
        and the depth network (with weights) for ``fused``, the depth images for ``rgbd``;
        ``[(name, measure(FrontRecord) -> ScaleMeasurement)]`` with the window's sigmas
        (``window_ground_sigma``, ``window_depth_sigma``, ``window_rgbd_sigma``)."""
        cfg, out = self.cfg, []
        if cfg.scale == "fused" and cfg.camera_height is not None:
            ground = GroundPlaneScale(cfg.camera_height, self._K, self._size, cfg.window_ground_sigma,
                                      cfg.ground_max_tilt_deg)
            out.append(("ground", lambda fr: ground.measure(fr.dense, int(fr.ref_frame.index))))
        if cfg.scale in ("fused", "depth") and self.depth is not None:
            out.append(("depth", lambda fr: self.depth.measure(fr.ref_frame, fr.res)))
        if cfg.scale == "rgbd":
            out.append(("rgbd", lambda fr: dataclasses.replace(self.rgbd.measure(fr.ref_frame, fr.res),
                                                               sigma=cfg.window_rgbd_sigma)))
        return out

    def norm(self, fr: FrontRecord) -> tuple[float, str]:
        """``(norm, note)`` of a measured pair without the window (:meth:`FrontEnd.measure`).  The norm
        may be NaN or 0: the caller keeps the previous one then."""
        cfg = self.cfg
        if cfg.scale == "rgbd":
            m = self.rgbd.measure(fr.ref_frame, fr.res)
            return m.norm, m.note
        if cfg.scale == "depth":
            m = self.depth.measure(fr.ref_frame, fr.res)
            if not (np.isfinite(m.norm) and m.norm > 0):
                return fr.chain_scale, f"{m.note}: the chain's scale instead, {fr.chain_full}"
            return m.norm, m.note
        return fr.chain_scale, fr.chain_full  # triangulation, and fused's guess (--window 0)


def sources_record(fr: FrontRecord, ratio: float | None, absolute: list[tuple[str, ScaleMeasurement]]) -> dict:
    """A pair's ``scale_sources`` for ``report.json``: the chain's ratio to the last norm (with the
    parallax it was measured at) and each absolute source's value and details, as they enter the window."""
    out = {"chain": {"ratio": None if ratio is None else round(float(ratio), 6), "note": fr.chain_note}}
    if ratio is not None:
        out["chain"]["parallax_deg"] = float(fr.ratio_parallax)
    for name, m in absolute:
        ok = np.isfinite(m.norm) and m.norm > 0
        out[name] = {"value": round(float(m.norm), 6) if ok else None, "sigma": m.sigma, **m.info}
    return out
