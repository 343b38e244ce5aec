"""PWC-Net-style optical flow network: pyramid, warping, cost volume, estimators, context."""
from __future__ import annotations

import torch
import torch.nn as nn

from ...geometry.warp import backward_warp, resize_flow
from .arch import N_LEVELS, PWCArch
from .context import ContextNet
from .cost_volume import cost_volume
from .estimator import FlowEstimator

#: inputs must have H and W divisible by this (see :func:`vo_app.models.pwc.backend.pad_to_multiple`).
DIVISOR = 2 ** N_LEVELS


class PWCNet(nn.Module):
    """Coarse-to-fine flow from frame 1 to frame 2.

    ``forward(img1, img2)`` takes ``[B,3,H,W]`` images in [0,1] (``H, W`` multiples of 64) and
    returns a dict:

    - ``flows``: list of ``[B,2,H/2**l,W/2**l]`` flows for ``l = 6, 5, ..., out_level`` (coarse to
      fine), in pixels *of that level*; the last one includes the context refinement;
    - ``flow``: ``[B,2,H,W]`` the finest flow upsampled to the input size, in input pixels
      (bilinearly, or by the learned convex upsampler with ``arch.convex_upsample``, which also
      sets ``learned_upsampling: True`` in the dict).

    At every level the estimator sees the cost volume between frame-1 features and frame-2
    features warped by the upsampled coarser flow, the frame-1 features and that flow, and
    predicts a residual; the context network refines the finest estimate.
    """

    def __init__(self, arch: PWCArch):
        super().__init__()
        self.arch = arch
        from .pyramid import FeaturePyramid

        self.pyramid = FeaturePyramid(arch.pyramid)
        self.estimators = nn.ModuleDict()
        for lvl in arch.levels:
            cin = arch.corr_channels + arch.pyramid[lvl - 1] + 2
            self.estimators[str(lvl)] = FlowEstimator(cin, arch.estimator, arch.dense)
        last = self.estimators[str(arch.out_level)]
        self.context = ContextNet(last.out_channels + 2, arch.context)
        self.upsampler = None
        if arch.convex_upsample:
            from .upsample import ConvexUpsampler

            self.upsampler = ConvexUpsampler(last.out_channels, 2 ** arch.out_level)
        self.reset_parameters()

    @staticmethod
    def normalize(img: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit standard deviation per image (robust to global brightness and contrast)."""
        mean = img.mean(dim=(1, 2, 3), keepdim=True)
        std = img.std(dim=(1, 2, 3), keepdim=True)
        return (img - mean) / (std + 1e-3)

    def reset_parameters(self) -> None:
        """He initialisation for LeakyReLU(0.1) convs, zero biases, and flow heads scaled by 0.1
        so that an untrained network predicts small flows and gradients reach the pyramid."""
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(mod.bias)
        with torch.no_grad():
            for est in self.estimators.values():
                est.predict.weight.mul_(0.1 / self.arch.flow_gain)
            self.context.net[-1].weight.mul_(0.1 / self.arch.flow_gain)
        if self.upsampler is not None:
            self.upsampler.start_bilinear()

    def forward(self, img1: torch.Tensor, img2: torch.Tensor) -> dict:
        b, _, h, w = img1.shape
        if h % DIVISOR or w % DIVISOR:
            raise ValueError(f"input size {w}x{h} is not a multiple of {DIVISOR}; pad it first")
        feats = self.pyramid(torch.cat([self.normalize(img1), self.normalize(img2)], 0))
        flows = []
        flow = None
        x = None
        for lvl in self.arch.levels:
            f = feats[lvl - 1]
            f1, f2 = f[:b], f[b:]
            if flow is None:
                up = f1.new_zeros(b, 2, f1.shape[2], f1.shape[3])
                f2w = f2
            else:
                up = resize_flow(flow, f1.shape[-2:])
                f2w, _ = backward_warp(f2, up)
            corr = cost_volume(f1, f2w, self.arch.max_displacement, self.arch.corr_normalize)
            delta, x = self.estimators[str(lvl)](torch.cat([corr, f1, up], 1))
            flow = up + self.arch.flow_gain * delta
            flows.append(flow)
        flow = flow + self.arch.flow_gain * self.context(torch.cat([x, flow], 1))
        flows[-1] = flow
        if self.upsampler is not None:
            return {"flows": flows, "flow": self.upsampler(flow, x), "learned_upsampling": True}
        return {"flows": flows, "flow": resize_flow(flow, (h, w))}
