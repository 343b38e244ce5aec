"""Correspondence and depth models behind one interface."""
from __future__ import annotations

from ..errors import UserError


def make_flow_backend(name: str, *, weights: str | None = None, dis_preset: str = "medium", parallel: bool = False,
                      dis_backward_preset: str | None = None, hybrid_window: int = 9,
                      hybrid_margin: float = 0.0):
    """Return a callable ``(img1, img2) -> (flow_fwd, flow_bwd)`` for backend ``name``.

    ``dis`` (OpenCV DIS), ``pwc`` (the network, needs ``weights``) or ``pwc+dis`` (the network's
    flow initialises DIS, :mod:`vo_app.models.hybrid`; plain DIS with a warning without weights).

    ``parallel``: DIS computes the forward and the backward flow at the same time in two threads;
    ``dis_backward_preset``: DIS preset of the backward flow (default: ``dis_preset``);
    ``hybrid_window``, ``hybrid_margin``: ``pwc+dis`` per-pixel selection window (0: off) and its margin in
    favour of plain DIS (:mod:`vo_app.models.hybrid`).
    """
    if name == "dis":
        from .dis import DISFlow

        return DISFlow(dis_preset, parallel=parallel, backward_preset=dis_backward_preset)
    if name == "pwc+dis":
        from .dis import DISFlow

        if not weights:
            import sys

            print(f"warning: --flow pwc+dis without --weights: using plain DIS ({dis_preset}); "
                  "pass --weights CKPT for the hybrid", file=sys.stderr)
            return DISFlow(dis_preset, parallel=parallel, backward_preset=dis_backward_preset)
        from .hybrid import HybridFlow
        from .pwc import PWCFlow

        return HybridFlow(PWCFlow.from_checkpoint(str(weights)), dis_preset, hybrid_window, hybrid_margin)
    if name == "pwc":
        if not weights:
            raise UserError("the learned 'pwc' flow backend needs a checkpoint",
                            fix="pass --weights CKPT (a file from vo-train flow, or an http(s) URL), or use --flow dis")
        from .pwc import PWCFlow

        return PWCFlow.from_checkpoint(str(weights))
    raise UserError(f"unknown flow backend {name!r}", fix="use --flow dis, pwc or pwc+dis")
