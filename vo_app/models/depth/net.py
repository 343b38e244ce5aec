"""The depth network: ResNet encoder + DispNet decoder, disparity -> bounded depth.

Conventions: images ``[B,3,H,W]`` (or ``[B,1,H,W]`` gray, replicated) in [0, 1], ``H`` and
``W`` multiples of 32; depth is z-depth in metres.
"""
from __future__ import annotations

import torch
from torch import nn

from .arch import REF_FOCAL_RATIO, DepthArch
from .decoder import DispDecoder
from .encoder import ResNetEncoder

_MEAN, _STD = 0.45, 0.225


class DepthNet(nn.Module):
    """``forward(img)`` -> ``{"disp": [finest .. coarsest] [B,1,h,w] in (0,1), "depth": [B,1,H,W]}``.

    ``depth`` is the finest output mapped by :meth:`disp_to_depth`: for the reference focal
    length ``REF_FOCAL_RATIO * W`` when ``arch.focal_norm`` (see :func:`depth_for_camera`).
    """

    def __init__(self, arch: DepthArch):
        super().__init__()
        self.arch = arch
        self.encoder = ResNetEncoder(arch)
        self.decoder = DispDecoder(arch, self.encoder.channels)

    def disp_to_depth(self, disp: torch.Tensor) -> torch.Tensor:
        """``D = 1 / (a d + b)``: ``d`` in (0, 1) -> depth in (min_depth, max_depth)."""
        return 1.0 / (self.arch.disp_a * disp + self.arch.disp_b)

    def forward(self, img: torch.Tensor) -> dict:
        if img.ndim != 4 or img.shape[1] not in (1, 3):
            raise ValueError(f"expected images [B,3,H,W] or [B,1,H,W], got {tuple(img.shape)}")
        h, w = img.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"image size {w}x{h} must be a multiple of 32 on both sides")
        if img.shape[1] == 1:
            img = img.expand(-1, 3, -1, -1)
        if self.arch.input_stretch > 0:
            img = stretch(img, self.arch.input_stretch)
        disps = self.decoder(self.encoder((img - _MEAN) / _STD))
        return {"disp": disps, "depth": self.disp_to_depth(disps[0])}


def stretch(img: torch.Tensor, q: float) -> torch.Tensor:
    """``img [B,C,H,W]`` with each image's ``q`` and ``1 - q`` quantiles (all pixels and channels) mapped
    to 0 and 1, clipped to [0, 1] (a per-image linear contrast stretch)."""
    flat = img.detach().float().flatten(1)
    qs = torch.quantile(flat, torch.tensor([q, 1.0 - q], device=img.device), dim=1)  # [2, B]
    lo, hi = qs[0].view(-1, 1, 1, 1), qs[1].view(-1, 1, 1, 1)
    return ((img.float() - lo) / (hi - lo).clamp_min(1e-3)).clamp(0.0, 1.0).to(img.dtype)


def depth_for_camera(depth: torch.Tensor, fx_ratio, arch: DepthArch) -> torch.Tensor:
    """Metric depth for a camera of focal ``fx_ratio * W`` from the network's output.

    With ``arch.focal_norm`` the network predicts the depth a camera of focal
    ``REF_FOCAL_RATIO * W`` would see for the same image; a longer focal length sees the same
    image content farther away, so depth scales with ``fx_ratio / REF_FOCAL_RATIO``.
    ``fx_ratio``: float or ``[B]`` tensor (focal length in pixels over image width).
    """
    if not arch.focal_norm:
        return depth
    r = torch.as_tensor(fx_ratio, dtype=depth.dtype, device=depth.device).reshape(-1, 1, 1, 1)
    return depth * (r / REF_FOCAL_RATIO)


def depth_target_for_network(depth: torch.Tensor, fx_ratio, arch: DepthArch) -> torch.Tensor:
    """Inverse of :func:`depth_for_camera`: the depth the network should predict."""
    if not arch.focal_norm:
        return depth
    r = torch.as_tensor(fx_ratio, dtype=depth.dtype, device=depth.device).reshape(-1, 1, 1, 1)
    return depth * (REF_FOCAL_RATIO / r)
