"""``--scale fused``: a scalar Kalman filter on the log of each pair's translation norm.

The triangulation chain gives precise *relative* steps (the ratio of this pair's norm to the
previous one's, a few percent of noise, but the errors multiply over a run); the ground plane
(``geometry/ground_plane.py``: camera height / plane distance) and the depth network
(``pipeline/depth_scale.py``: predicted depth / triangulated depth) give *absolute* norms,
noisier per pair but without drift.  The state is ``x = log(norm)`` of the current pair:

- predict: ``x = x_prev + log(ratio)``, variance ``+ sigma^2`` with the pair's own ``sigma`` where
  the caller gives one (``vo-run`` widens it for ratios measured on low-parallax points, see
  :func:`chain_sigma`, except for the two ratios across a damaged frame, which it measures on
  low-parallax points on purpose: ``scale_chain.bridge_thresholds``), else ``ratio_sigma``; without a ratio (after a fallback that broke the
  chain) ``x = x_prev``, variance ``+ free_sigma^2``;
- start: until the first absolute measurement arrives the state is only a placeholder (the
  caller's initial norm); that measurement is taken as it is (``x = z``, ``P = sigma^2``), not
  gated against the placeholder, whose scale is arbitrary (a camera moving 1 cm per frame would
  otherwise see its first measurements rejected as outliers of a 1-unit guess);
- update, for each absolute measurement ``z = log(norm)`` with its ``sigma``: innovation
  ``v = z - x``, ``S = P + sigma^2``; rejected as an outlier when ``v^2 / S > gate^2``, else
  ``K = P / S``, ``x += K v``, ``P *= 1 - K``;
- a low-parallax ratio (its sigma above ``ratio_sigma``) that a measurement contradicts beyond
  the gate, while the measurement is within the gate of the pair predicted *without* the ratio
  (variance ``+ free_sigma^2``), is dropped instead: the pair is predicted without it and the
  measurement applies (a handful of shared points at a restart after a stop gave ratios 2-3x
  off); ``report.json`` marks the measurement ``chain_ratio_dropped``;
- reset: when one source has been rejected ``reset_after`` pairs in a row, the chain is the
  one that is off (a ratio across a stop, a pivot or a keyframe change can be wrong by a
  factor): the state restarts from that source's measurement (``x = z``, ``P = sigma^2``).

Each pair's record names every source with its value, its gain (the weight it got) or that it
was rejected; :meth:`ScaleFilter.summary` counts them for ``report.json``.

:meth:`ScaleFilter.smoothed` runs the Rauch-Tung-Striebel backward pass over the whole run once
it has ended: each pair's norm then also uses the absolute measurements of *later* pairs (the
forward filter only has the earlier ones), so a noisy measurement moves the norm less and the
chain's slow drift is still removed.  ``vo-run`` writes the trajectory files with these norms
(``fusion_smoother: rts``); the live view and the files flushed during the run are causal.  The
backward pass does not cross a reset: the ratio there was judged wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def chain_sigma(base: float, parallax_deg: float, full_parallax_deg: float, max_factor: float = 16.0) -> float:
    """Log-std of one chain ratio measured on points of at least ``parallax_deg`` of parallax.

    ``base`` is the log-std at the full threshold ``full_parallax_deg`` (the first of
    ``scale_parallax_deg``); a ratio that needed a relaxed threshold gets ``base x (full /
    parallax)^2``, at most ``base x max_factor`` (a threshold of 0 counts as a quarter of the full
    one).  The square is measured, not derived: against the ground truth of the rendered
    stop-and-go drive, the robust std of the chain's log-ratio errors was 0.0014 / 0.0054 / 0.0176
    at 2 / 1 / 0.5 deg with DIS fine and 0.0033 / 0.0188 / 0.0675 with DIS medium (docs/scale.md).
    """
    if not (math.isfinite(parallax_deg) and full_parallax_deg > 0):
        return base * max_factor
    factor = (full_parallax_deg / max(parallax_deg, 0.25 * full_parallax_deg)) ** 2
    return base * min(max(factor, 1.0), max_factor)


@dataclass
class ScaleFilter:
    ratio_sigma: float = 0.03  # log-std of the chain's pair-to-pair ratio
    free_sigma: float = 0.5  # log-std added when a pair has no ratio
    gate: float = 3.0  # outlier gate, in standard deviations of the innovation
    reset_after: int = 3  # consecutive rejections of one source after which the state restarts from it
    x: float | None = None
    P: float = 0.0
    stats: dict = field(default_factory=dict)
    streak: dict = field(default_factory=dict)
    #: per pair: the prediction (x_pred, P_pred), the filtered state (x, P) and whether it was reset
    history: list = field(default_factory=list)
    anchored: bool = False  # an absolute measurement has been taken (before: the state is a placeholder)
    _without_ratio: tuple | None = None  # (x, P) of this pair without its low-parallax chain ratio

    def predict(self, ratio: float | None, initial: float = 1.0, sigma: float | None = None) -> None:
        """Start a pair: the chain's ratio to the previous pair's norm (or None), with its log-std
        ``sigma`` (None: ``ratio_sigma``)."""
        self._without_ratio = None
        if self.x is None:
            self.x, self.P = math.log(initial), self.free_sigma ** 2
        elif ratio is not None and math.isfinite(ratio) and ratio > 0:
            sigma = self.ratio_sigma if sigma is None else sigma
            if sigma > self.ratio_sigma:  # a low-parallax ratio: keep what the pair would be without it
                self._without_ratio = (self.x, self.P + self.free_sigma ** 2)
            self.x += math.log(ratio)
            self.P += sigma ** 2
            self._count("chain", "used")
        else:
            self.P += self.free_sigma ** 2
        self.history.append({"x_pred": self.x, "P_pred": self.P, "x": self.x, "P": self.P, "reset": False})

    def _record(self, reset: bool = False) -> None:
        if self.history:
            h = self.history[-1]
            h["x"], h["P"] = self.x, self.P
            h["reset"] = h["reset"] or reset

    def smoothed(self) -> list[float]:
        """Every pair's norm given all measurements of the run (RTS backward pass), in predict order."""
        h = self.history
        if not h:
            return []
        xs = [0.0] * len(h)
        xs[-1] = h[-1]["x"]
        for k in range(len(h) - 2, -1, -1):
            nxt = h[k + 1]
            if nxt["reset"] or nxt["P_pred"] <= 0:
                xs[k] = h[k]["x"]
                continue
            gain = h[k]["P"] / nxt["P_pred"]
            xs[k] = h[k]["x"] + gain * (xs[k + 1] - nxt["x_pred"])
        return [math.exp(x) for x in xs]

    def update(self, name: str, value: float, sigma: float) -> dict:
        """An absolute measurement of the pair's norm; returns its record for report.json."""
        if not (math.isfinite(value) and value > 0 and sigma > 0):
            self._count(name, "invalid")
            return {"value": None, "used": False}
        z = math.log(value)
        rec = {"value": round(value, 6), "sigma": sigma}
        first = not self.anchored  # the first absolute measurement sets the state: no prior to gate it against
        self.anchored = True
        v = z - self.x
        S = self.P + sigma ** 2
        if not first and v * v / S > self.gate ** 2 and self._without_ratio is not None:
            # A low-parallax ratio that the measurement contradicts, while the measurement is
            # plausible without it: the ratio is the outlier (a few shared points at a restart).
            x0, P0 = self._without_ratio
            if (z - x0) ** 2 / (P0 + sigma ** 2) <= self.gate ** 2:
                self.x, self.P = x0, P0
                h = self.history[-1]
                h["x_pred"], h["P_pred"] = x0, P0
                self.stats["chain"]["used"] -= 1  # counted when predicted; it was not used after all
                self._count("chain", "rejected")
                rec["chain_ratio_dropped"] = True
                v, S = z - self.x, self.P + sigma ** 2
            self._without_ratio = None
        if not first and v * v / S > self.gate ** 2:
            self.streak[name] = self.streak.get(name, 0) + 1
            if self.streak[name] >= self.reset_after:
                self.x, self.P = z, sigma ** 2
                self._record(reset=True)
                self.streak[name] = 0
                self._count(name, "reset")
                rec.update(used=True, reset=True, innovation=round(v, 4))
                return rec
            self._count(name, "rejected")
            rec.update(used=False, rejected=True, innovation=round(v, 4))
            return rec
        self.streak[name] = 0
        gain = 1.0 if first else self.P / S
        self.x += gain * v
        self.P = sigma ** 2 if first else self.P * (1.0 - gain)
        self._record()
        self._count(name, "used")
        self.stats[name]["gain_sum"] = self.stats[name].get("gain_sum", 0.0) + gain
        if first:
            rec["first"] = True
        rec.update(used=True, gain=round(gain, 4))
        return rec

    @property
    def value(self) -> float:
        return math.exp(self.x) if self.x is not None else float("nan")

    def _count(self, name: str, what: str) -> None:
        s = self.stats.setdefault(name, {})
        s[what] = s.get(what, 0) + 1

    def summary(self) -> dict:
        """Per source: pairs used / rejected / invalid / reset, and the mean gain of the used absolute ones."""
        out = {}
        for name, s in self.stats.items():
            d = {k: v for k, v in s.items() if k != "gain_sum"}
            if "gain_sum" in s and s.get("used"):
                d["mean_gain"] = round(s["gain_sum"] / s["used"], 4)
            out[name] = d
        out["sigmas"] = {"chain_ratio": self.ratio_sigma, "no_ratio": self.free_sigma, "gate": self.gate,
                         "reset_after": self.reset_after}
        return out
