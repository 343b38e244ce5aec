"""Test helper for the chain's pieces (frontend, scale sources, keyframes): a short rendered street
with exact flow (vo_app/synth), its frames as the flow thread yields them, and the true steps."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vo_app.io import open_sequence
from vo_app.pipeline.config import load_config
from vo_app.pipeline.source import FlowItem, FlowSource
from vo_app.synth import write_sequence
from vo_app.synth.flow import ExactFlow


def street(out: Path, n_frames: int = 5, motion: str = "forward", seed: int = 0) -> Path:
    """A ``n_frames`` rendered street at 416x128 (KITTI layout, depth images, no flow files)."""
    return write_sequence(out, layout="kitti", n_frames=n_frames, width=416, height=128, motion=motion, seed=seed,
                          write_flow=False)


class Street:
    """The opened street, a config (the demo preset with ``overrides``) and a FlowSource of exact flow."""

    def __init__(self, root: Path, **overrides):
        self.cfg = load_config("demo", **overrides)
        self.seq = open_sequence(root, size=self.cfg.size)
        self.K = self.seq.intrinsics.K
        self.gt = np.asarray(self.seq.gt_poses)
        self.frames = list(self.seq)
        self.source = FlowSource(self.seq, ExactFlow(self.seq), threaded=False)

    def item(self, ref: int, frame: int) -> FlowItem:
        """Frame ``frame`` with its exact flow against frame ``ref``."""
        a, b = self.frames[ref], self.frames[frame]
        ga, gb = _gray(a.image), _gray(b.image)
        fwd, bwd, t = self.source.flow(a, ga, b, gb)
        return FlowItem(b, gb, a, ga, fwd, bwd, t)

    def gray(self, i: int) -> np.ndarray:
        return _gray(self.frames[i].image)

    def step(self, i: int, j: int) -> float:
        """True translation norm between frames ``i`` and ``j`` (metres)."""
        return float(np.linalg.norm(self.gt[j, :3, 3] - self.gt[i, :3, 3]))

    def T_rel(self, i: int, j: int) -> np.ndarray:
        """True relative motion ``[4,4]`` of the chain's convention: ``pose_j = pose_i @ inv(T_rel)``."""
        return np.linalg.inv(self.gt[j]) @ self.gt[i]


def _gray(image: np.ndarray) -> np.ndarray:
    from vo_app.models.dis import to_gray_u8

    return to_gray_u8(image)


def angle_deg(R: np.ndarray) -> float:
    """Rotation angle of ``R [3,3]`` in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))
