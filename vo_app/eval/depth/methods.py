"""What is evaluated: the network, and the baselines (a constant mean training depth, a flat road)."""
from __future__ import annotations

import math

import numpy as np

from .metrics import DRIVING_CAP


#: KITTI's camera height above the road, metres (also the synthetic driving camera's).
CAMERA_HEIGHT = 1.65

#: frames of the training stream averaged for the mean-depth baseline when the checkpoint has none.
MEAN_DEPTH_SAMPLES = 64

# ------------------------------------------------------------------------------------ methods
class NetworkDepth:
    """A :class:`vo_app.models.depth.DepthPredictor` as a method: predicts each frame at its own size."""

    applies_to = None  # every dataset

    def __init__(self, predictor, batch: int = 8):
        self.predictor, self.batch = predictor, int(batch)

    def __call__(self, samples: list) -> list:
        out = []
        for i in range(0, len(samples), self.batch):
            chunk = samples[i:i + self.batch]
            by_size: dict = {}
            for j, s in enumerate(chunk):
                by_size.setdefault(s.image.shape[:2], []).append(j)
            preds = [None] * len(chunk)
            for idx in by_size.values():
                fx = np.array([chunk[j].fx_ratio for j in idx], np.float32)
                for j, d in zip(idx, self.predictor.predict([chunk[j].image for j in idx], fx)):
                    preds[j] = d
            out += preds
        return out


class ConstantDepth:
    """The same depth (metres) everywhere: the "mean training depth" baseline."""

    applies_to = None

    def __init__(self, depth: float):
        self.depth = float(depth)

    def __call__(self, samples: list) -> list:
        return [np.full(s.gt.shape, self.depth, np.float32) for s in samples]


class GroundPlaneDepth:
    """A flat road ``height`` metres below the camera: ``depth = height * fy / (v - cy)`` below the horizon.

    Rows with ``v <= cy + 1`` (the horizon and above) get ``far`` metres.  Needs each sample's ``K``.
    """

    applies_to = ("kitti",)

    def __init__(self, height: float = CAMERA_HEIGHT, far: float = DRIVING_CAP):
        self.height, self.far = float(height), float(far)

    def depth(self, K: np.ndarray, width: int, height: int) -> np.ndarray:
        """float32 ``[height, width]`` metres for intrinsics ``K [3,3]`` at that size."""
        fy, cy = float(K[1, 1]), float(K[1, 2])
        v = np.arange(height, dtype=np.float64)
        below = v > cy + 1.0
        d = np.full(height, self.far)
        d[below] = np.minimum(self.height * fy / (v[below] - cy), self.far)
        return np.repeat(d[:, None], width, axis=1).astype(np.float32)

    def __call__(self, samples: list) -> list:
        if any(s.K is None for s in samples):
            raise ValueError("the ground-plane baseline needs the intrinsics K of every sample")
        return [self.depth(s.K, s.gt.shape[1], s.gt.shape[0]) for s in samples]


def mean_training_depth(ckpt: dict, samples: int = MEAN_DEPTH_SAMPLES) -> tuple[float, str]:
    """``(metres, where it came from)``: ``ckpt["training"]["mean_depth"]`` when present, else the mean
    valid depth (all pixels pooled) of the first ``samples`` frames of the default training stream
    (``make_depth_sample(SynthDepthSpec(), i, W, H)``, vo_app/synth/samples/depth_synth.py) at the
    checkpoint's working size."""
    v = (ckpt.get("training") or {}).get("mean_depth")
    if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
        return float(v), "checkpoint training.mean_depth"
    from ...synth.samples.depth_synth import SynthDepthSpec, make_depth_sample

    W, H = ckpt["image_size"]
    total, count = 0.0, 0
    for i in range(int(samples)):
        d = make_depth_sample(SynthDepthSpec(), i, W, H)["depth1"]
        m = d > 0
        total += float(d[m].sum(dtype=np.float64))
        count += int(m.sum())
    return total / max(count, 1), f"mean valid depth of {samples} synthetic training frames"
