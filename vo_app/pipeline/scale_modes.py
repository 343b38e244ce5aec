"""Today's scalar back end: the norm of each pair posed by its F, per ``--scale`` mode.

- ``triangulation``: the chain's norm (the front end's ratio times the memory's norm);
- ``rgbd``: :class:`~vo_app.pipeline.scale_sources.RgbdScale`;
- ``depth``: :class:`~vo_app.pipeline.scale_sources.DepthNetworkScale`, the chain's norm where it
  has none;
- ``fused``: the chain's ratio predicts and the absolute sources (ground plane where a camera
  height is set, depth network with ``--depth-weights``) correct a
  :class:`~vo_app.pipeline.scale_fusion.ScaleFilter` on the log of the norm.
"""
from __future__ import annotations

import numpy as np

from .config import VOConfig
from .frontend import FrontEnd, FrontRecord
from .scale_fusion import ScaleFilter, chain_sigma
from .scale_sources import DepthNetworkScale, GroundPlaneScale, RgbdScale


class ScaleModes:
    """The norm of a pair for ``cfg.scale`` (``depth``: a :class:`~vo_app.pipeline.depth_scale.DepthScale`
    or None; ``size``: the working ``(W, H)``)."""

    def __init__(self, cfg: VOConfig, K: np.ndarray, size: tuple[int, int], depth=None):
        self.cfg = cfg
        self.rgbd = RgbdScale(cfg.min_scale_points)
        self.ground = None if cfg.camera_height is None else GroundPlaneScale(
            cfg.camera_height, K, size, cfg.fusion_ground_sigma, cfg.ground_max_tilt_deg)
        self.depth = None if depth is None else DepthNetworkScale(depth, cfg.fusion_depth_sigma, cfg.min_scale_points)
        self.filter = ScaleFilter(cfg.fusion_ratio_sigma) if cfg.scale == "fused" and cfg.window == 0 else None
        self._K, self._size, self._depth = K, size, depth

    def window_sources(self) -> list:
        """The absolute sources that enter the back end's window (``--window``), per ``--scale``: none
        for ``triangulation``, the depth network for ``depth``, the ground plane (with a camera
        height) and the depth network (with weights) for ``fused``; ``[(name, measure(FrontRecord)
        -> ScaleMeasurement)]`` with the window's sigmas (``window_ground_sigma``, ``window_depth_sigma``)."""
        cfg, out = self.cfg, []
        if cfg.scale == "fused" and cfg.camera_height is not None:
            ground = GroundPlaneScale(cfg.camera_height, self._K, self._size, cfg.window_ground_sigma,
                                      cfg.ground_max_tilt_deg)
            out.append(("ground", lambda fr: ground.measure(fr.dense, int(fr.ref_frame.index))))
        if cfg.scale in ("fused", "depth") and self._depth is not None:
            depth = DepthNetworkScale(self._depth, cfg.window_depth_sigma, cfg.min_scale_points)
            out.append(("depth", lambda fr: depth.measure(fr.ref_frame, fr.res)))
        return out

    def norm(self, fr: FrontRecord, front: FrontEnd) -> tuple[float, str, dict | None, int | None]:
        """``(norm, note, sources, fused_k)`` of a measured pair (:meth:`FrontEnd.measure`): ``sources``
        is the fused pair's record of each source (None in the other modes), ``fused_k`` its entry
        in the filter's history (None: the norm is not the filter's).  The norm may be NaN or 0:
        the caller keeps the previous one then."""
        cfg = self.cfg
        if cfg.scale == "rgbd":
            m = self.rgbd.measure(fr.ref_frame, fr.res)
            return m.norm, m.note, None, None
        if cfg.scale == "triangulation":
            return fr.chain_scale, fr.chain_full, None, None
        if cfg.scale == "depth":
            m = self.depth.measure(fr.ref_frame, fr.res)
            if not (np.isfinite(m.norm) and m.norm > 0):
                return fr.chain_scale, f"{m.note}: the chain's scale instead, {fr.chain_full}", None, None
            return m.norm, m.note, None, None
        scale, note, sources = self.fused(front.step_ratio(fr), fr, front.last_scale)
        return scale, note, sources, len(self.filter.history) - 1

    def fused(self, ratio: float | None, fr: FrontRecord, last_scale: float) -> tuple[float, str, dict]:
        """``--scale fused`` for one posed pair: the chain's ``ratio`` to the last norm (measured on
        points of at least ``fr.ratio_parallax`` deg; its log-std from ``chain_sigma``, or the
        full-parallax one for a bridging ratio) predicts, the ground plane and the depth network
        correct (``scale_fusion.py``); returns the norm, a note and the sources' record."""
        cfg, f = self.cfg, self.filter
        # a ratio over a damaged frame is measured on low-parallax points on purpose (bridge_thresholds),
        # and measured as precise as a full-parallax one (docs/robustness.md): it keeps the chain's weight
        sigma = (cfg.fusion_ratio_sigma if fr.bridged_ratio else
                 chain_sigma(cfg.fusion_ratio_sigma, fr.ratio_parallax, max(cfg.scale_parallax_deg)))
        f.predict(ratio, initial=last_scale, sigma=sigma)
        sources = {"chain": {"ratio": None if ratio is None else round(float(ratio), 6), "note": fr.chain_note}}
        if ratio is not None:
            sources["chain"].update(sigma=round(sigma, 5), parallax_deg=float(fr.ratio_parallax))
        for name, source in (("ground", self.ground), ("depth", self.depth)):
            if source is None:
                continue
            m = source.measure(fr.dense, int(fr.ref_frame.index)) if name == "ground" else source.measure(
                fr.ref_frame, fr.res)
            sources[name] = f.update(name, float(m.norm), m.sigma)
            sources[name].update(m.info)
        used = [k for k, v in sources.items() if k != "chain" and v.get("used")]
        note = f"fused: chain {'ratio' if ratio is not None else 'none'}" + (f" + {' + '.join(used)}" if used else "")
        return f.value, note, sources

    def smoothed(self) -> list[float] | None:
        """``fusion_smoother: rts`` at the end of a fused run: every fused pair's norm from the
        smoothed filter (:meth:`ScaleFilter.smoothed`), in the order of ``fused_k``; None otherwise."""
        if self.filter is None or self.cfg.fusion_smoother != "rts" or not self.filter.history:
            return None
        return self.filter.smoothed()
