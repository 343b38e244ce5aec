"""Architecture hyper-parameters of the PWC-Net-style flow network (stored in every checkpoint)."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError
from ..arch_io import arch_diff, arch_from_dict, arch_to_dict

#: pyramid levels; level l has 1/2**l of the input resolution.  Inputs are padded to a multiple of 2**6.
N_LEVELS = 6


@dataclass(frozen=True)
class PWCArch:
    """Widths and depth of the network.

    Attributes:
        pyramid: feature channels of pyramid levels 1..6 (6 values).
        estimator: channels of the flow-estimator conv stack at each level (same at every level).
        context: channels of the dilated context network (dilations 1, 2, 4, 8, 16, 1, ...).
        max_displacement: cost-volume search radius d; the volume has (2d+1)**2 channels.
        dense: DenseNet-style estimator (each conv sees all previous outputs) or a plain stack.
        corr_normalize: cosine cost volume on zero-mean unit features (trains much faster from
            scratch) instead of PWC-Net's mean of raw feature products.
        out_level: finest level at which flow is estimated (2 = 1/4 resolution); the output
            is bilinearly upsampled from there.
        convex_upsample: learned convex upsampling from ``out_level`` to the input size
            (:mod:`vo_app.models.pwc.upsample`) instead of bilinear; trained by the supervised
            loss's full-resolution term (``loss.full_res_weight``).
        flow_gain: the flow heads' outputs are multiplied by this (level pixels per unit), like
            PWC-Net's scaling of the flow by 20: with Adam's bounded steps, a gain lets lr 1e-4
            move the flow quickly enough.
    """

    pyramid: tuple[int, ...] = (16, 32, 64, 96, 128, 196)
    estimator: tuple[int, ...] = (128, 128, 96, 64, 32)
    context: tuple[int, ...] = (128, 128, 128, 96, 64, 32)
    max_displacement: int = 4
    dense: bool = True
    corr_normalize: bool = True
    out_level: int = 2
    flow_gain: float = 1.0
    convex_upsample: bool = False

    def __post_init__(self):
        problems = []
        if len(self.pyramid) != N_LEVELS or min(self.pyramid, default=0) < 1:
            problems.append(f"pyramid needs {N_LEVELS} positive widths")
        if not self.estimator or min(self.estimator) < 1:
            problems.append("estimator needs positive widths")
        if not self.context or min(self.context) < 1:
            problems.append("context needs positive widths")
        if not 1 <= self.max_displacement <= 8:
            problems.append("max_displacement must be in 1..8")
        if not 1 <= self.out_level <= 4:
            problems.append("out_level must be in 1..4")
        if not self.flow_gain > 0:
            problems.append("flow_gain must be > 0")
        if problems:
            raise UserError("invalid flow network architecture: " + "; ".join(problems),
                            fix="fix the 'model' section of the training config")

    @property
    def corr_channels(self) -> int:
        return (2 * self.max_displacement + 1) ** 2

    @property
    def levels(self) -> list[int]:
        """Levels at which flow is estimated, coarse to fine: ``[6, 5, ..., out_level]``."""
        return list(range(N_LEVELS, self.out_level - 1, -1))

    def to_dict(self) -> dict:
        return arch_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "architecture") -> "PWCArch":
        """Build from a dict (YAML or checkpoint); unknown keys or bad values -> one-line UserError."""
        return arch_from_dict(cls, data, where)

    def diff(self, other: "PWCArch") -> list[str]:
        """``["pyramid: (...) vs (...)", ...]`` for every field that differs."""
        return arch_diff(self, other)


#: a width preset small enough to train on a CPU in half an hour.
SMALL = PWCArch(pyramid=(8, 16, 24, 32, 48, 64), estimator=(32, 32, 24, 16, 8), context=(32, 32, 32, 24, 16),
                dense=True)
