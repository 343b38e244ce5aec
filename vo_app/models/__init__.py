"""Correspondence and depth models behind one interface."""
from __future__ import annotations

from ..errors import UserError


def make_flow_backend(name: str, *, weights: str | None = None, dis_preset: str = "medium"):
    """Return a callable ``(img1, img2) -> (flow_fwd, flow_bwd)`` for backend ``name``."""
    if name == "dis":
        from .dis import DISFlow

        return DISFlow(dis_preset)
    if name == "pwc":
        raise UserError(
            "the learned 'pwc' flow backend is not available in this version",
            fix="use --flow dis (the default)",
        )
    raise UserError(f"unknown flow backend {name!r}", fix="use --flow dis or --flow pwc")
