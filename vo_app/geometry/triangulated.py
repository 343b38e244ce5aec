"""The result of a mid-point triangulation (:func:`vo_app.geometry.triangulate_midpoint`)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Triangulated:
    """Output of :func:`triangulate_midpoint` for matches ``[..., N]`` (torch tensors, or NumPy arrays
    after :meth:`pair`).

    Attributes:
        points: ``[...,N,3]`` mid-points in camera-1 coordinates.
        depth1: ``[...,N]`` z of the point in camera 1.
        depth2: ``[...,N]`` z of the point in camera 2.
        valid: ``[...,N]`` rays not nearly parallel and point in front of both cameras.
        cos_angle: ``[...,N]`` the cosine test value of the supplementary.
        ray_cos: ``[...,N]`` cosine of the parallax angle between the two viewing rays.
    """

    points: object
    depth1: object
    depth2: object
    valid: object
    cos_angle: object
    ray_cos: object = None

    def pair(self, b: int = 0) -> "Triangulated":
        """Pair ``b`` as NumPy arrays (``[N]``, ``[N,3]``): views of CPU tensors, no copy."""
        out = {}
        for f in fields(self):
            x = getattr(self, f.name)
            if isinstance(x, torch.Tensor):
                x = x.detach().cpu().numpy()
            out[f.name] = None if x is None else x[b]
        return Triangulated(**out)
