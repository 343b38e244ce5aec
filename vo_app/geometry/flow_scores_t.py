"""TrianFlow's match masks from forward/backward flow, batched torch (any device, no gradient):
the CUDA path of :func:`vo_app.geometry.match_score` (CPU tensors go to the C++ kernel).

The NumPy versions in ``_reference/flow_masks.py`` are the reference these are tested against:
M_o (occlusion, from the backward flow), D_fb (forward-backward distance), M_s = 1/(0.1 + D_fb)
zeroed where the target leaves the image, and the sampling score M_o * M_s.
"""
from __future__ import annotations

import torch

from .warp import backward_warp, occlusion_from_backward


@torch.no_grad()
def flow_scores_t(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> dict:
    """Masks of frame 1 from ``flow_fwd, flow_bwd [B,2,H,W]`` (pixels).

    Returns ``occ [B,1,H,W]`` (M_o), ``inside [B,1,H,W]`` (target in frame 2), ``fb [B,H,W]`` (D_fb),
    ``fb_score [B,H,W]`` (M_s) and ``score [B,H,W]`` (M_o * M_s), float32.
    """
    if flow_fwd.ndim != 4 or flow_fwd.shape[1] != 2 or flow_bwd.shape != flow_fwd.shape:
        raise ValueError(f"expected flows [B,2,H,W], got {tuple(flow_fwd.shape)} and {tuple(flow_bwd.shape)}")
    ff, fb_ = flow_fwd.float(), flow_bwd.float()
    occ = occlusion_from_backward(fb_)
    back, inside = backward_warp(fb_, ff, padding="border")
    d = torch.linalg.vector_norm(ff + back, dim=1)
    ok = (inside[:, 0] > 0) & torch.isfinite(d)
    ms = torch.where(ok, 1.0 / (0.1 + d), torch.zeros_like(d))
    return {"occ": occ, "inside": inside, "fb": d, "fb_score": ms, "score": occ[:, 0] * ms}
