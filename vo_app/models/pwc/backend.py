"""Inference wrapper: the PWC network behind the same call as :class:`vo_app.models.dis.DISFlow`."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .net import DIVISOR, PWCNet


def pad_to_multiple(x: torch.Tensor, m: int = DIVISOR) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad ``[B,C,H,W]`` on the right/bottom to multiples of ``m``; returns it and the original ``(h, w)``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """Float images in [0,1], each ``[H,W]`` (gray, replicated) or ``[H,W,3]`` RGB -> ``[N,3,H,W]``."""
    out = []
    for im in images:
        im = np.asarray(im, np.float32)
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, axis=2)
        elif im.shape[2] == 1:
            im = np.repeat(im, 3, axis=2)
        out.append(torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))))
    return torch.stack(out, 0)


class PWCFlow:
    """Forward and backward flow from the PWC network in one batched pass.

    ``__call__(img1, img2)`` -> ``(flow_fwd, flow_bwd)``, each ``[H,W,2]`` float32 (dx, dy) in
    pixels with ``img1(p) ~ img2(p + flow_fwd(p))``; images float32 ``[H,W]`` or ``[H,W,3]`` in
    [0,1], any size (padded to a multiple of 64 internally).  :meth:`batch` does many pairs at once.
    The occlusion and forward-backward masks are computed from these flows by the pipeline,
    exactly as for the ``dis`` backend (:func:`vo_app.geometry.match_score`).
    """

    name = "pwc"

    def __init__(self, model: PWCNet, device: "str | torch.device | None" = None, checkpoint: dict | None = None):
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.checkpoint_info = {k: v for k, v in (checkpoint or {}).items() if k not in ("model", "optimizer", "trainer")}

    @classmethod
    def from_checkpoint(cls, weights: str, device=None) -> "PWCFlow":
        from ..checkpoint import load_flow_model

        model, ckpt = load_flow_model(weights)
        return cls(model, device, ckpt)

    @torch.no_grad()
    def batch(self, images1: list[np.ndarray], images2: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Flows of many pairs: stacks ``(I1, I2)`` and ``(I2, I1)`` for every pair in one batch."""
        n = len(images1)
        a = to_tensor(list(images1) + list(images2)).to(self.device)
        a, (h, w) = pad_to_multiple(a)
        first, second = a, torch.cat([a[n:], a[:n]], 0)
        use_amp = self.device.type == "cuda"
        with torch.autocast(self.device.type, enabled=use_amp):
            flow = self.model(first, second)["flow"]
        flow = flow[:, :, :h, :w].float().permute(0, 2, 3, 1).cpu().numpy()
        return [(np.ascontiguousarray(flow[i]), np.ascontiguousarray(flow[n + i])) for i in range(n)]

    def __call__(self, img1: np.ndarray, img2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.batch([img1], [img2])[0]
