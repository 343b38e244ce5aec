"""Depth of whole frames at any size: resize to the network's working size, predict, resize back.

``DepthPredictor.from_checkpoint(path)`` loads a ``vo-train depth`` checkpoint;
``predict(images, fx_ratio)`` takes NumPy frames (``[H,W]`` gray or ``[H,W,3]`` RGB, float in
[0, 1] or uint8) and returns metric z-depth ``[H,W]`` float32 per frame at the input size.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .arch import DepthArch
from .net import DepthNet, depth_for_camera


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    a = np.asarray(img)
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected an image [H,W] or [H,W,3], got shape {a.shape}")
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    return t.expand(3, -1, -1) if t.shape[0] == 1 else t


class DepthPredictor:
    """A depth network in eval mode on a device, with its working size ``(W, H)``."""

    def __init__(self, model: DepthNet, size: tuple[int, int], device: str = "cpu"):
        self.model = model.eval().to(device)
        self.size = (int(size[0]), int(size[1]))
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, source, device: str = "cpu") -> "DepthPredictor":
        from ..checkpoint import load_depth_model

        model, ckpt = load_depth_model(source)
        return cls(model, tuple(ckpt["image_size"]), device)

    @property
    def arch(self) -> DepthArch:
        return self.model.arch

    @torch.no_grad()
    def predict_tensor(self, img: torch.Tensor, fx_ratio) -> torch.Tensor:
        """``img [B,3,H,W]`` in [0,1] at any size -> metric depth ``[B,1,H,W]`` at that size.

        ``fx_ratio``: focal length over image width (float or ``[B]``), the same at any resolution.
        """
        h, w = img.shape[-2:]
        x = img.to(self.device, torch.float32)
        W, H = self.size
        if (h, w) != (H, W):
            x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False, antialias=h > H or w > W)
        disp = self.model(x)["disp"][0]
        if (h, w) != (H, W):  # resize the disparity (smooth), then map to depth
            disp = F.interpolate(disp, size=(h, w), mode="bilinear", align_corners=False)
        return depth_for_camera(self.model.disp_to_depth(disp), fx_ratio, self.arch)

    def predict(self, images: list, fx_ratio) -> list[np.ndarray]:
        """Metric depth ``[H,W]`` float32 for each NumPy frame (all frames of one size)."""
        if not images:
            return []
        batch = torch.stack([_to_tensor(im) for im in images])
        d = self.predict_tensor(batch, fx_ratio)
        return [x[0].cpu().numpy() for x in d]
