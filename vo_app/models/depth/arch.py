"""Architecture hyper-parameters of the depth network (stored in every depth checkpoint).

The network is the one of the TrianFlow supplementary (section E, after Godard et al.'s
encoder-decoder): a ResNet encoder, a DispNet-style decoder with skip connections, ELU
activations everywhere except the sigmoid outputs, bilinear (not nearest) upsampling, and
disparity ``d`` in (0, 1) mapped to a bounded depth ``D = 1 / (a d + b)`` with
``b = 1 / max_depth`` and ``a = 1 / min_depth - 1 / max_depth``.  (The supplementary quotes
0.1 and 100 for the range; read as the depth range, as in the authors' code.)

``RESNET18`` is the full encoder; ``SMALL`` is the narrow width that trains on a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError
from ..arch_io import arch_diff, arch_from_dict, arch_to_dict

#: the focal length (in units of the image width) that depths are normalised to; see
#: :meth:`DepthArch.depth_gain`.
REF_FOCAL_RATIO = 0.58


@dataclass(frozen=True)
class DepthArch:
    """Widths and depth of the depth network.

    Attributes:
        stem: channels of the 7x7 stride-2 stem convolution (ResNet-18: 64).
        widths: channels of the four residual stages at 1/4, 1/8, 1/16, 1/32 (ResNet-18: 64, 128, 256, 512).
        blocks: basic blocks per stage (ResNet-18: 2, 2, 2, 2).
        decoder: decoder channels at 1/1, 1/2, 1/4, 1/8, 1/16 (Godard et al.: 16, 32, 64, 128, 256).
        scales: number of disparity outputs (full, 1/2, 1/4, 1/8 resolution: 4).
        min_depth, max_depth: the depth range of the sigmoid output, metres.
        focal_norm: the network predicts depth for a camera of focal ``REF_FOCAL_RATIO * W``;
            :func:`vo_app.models.depth.net.depth_for_camera` rescales it by the real focal length.
        input_stretch: > 0: each input image is stretched linearly so that its ``input_stretch`` and
            ``1 - input_stretch`` quantiles (over all pixels and channels) become 0 and 1, in
            training and at run time alike (0: off).  It changes no weights: ``--init`` may switch it.
    """

    stem: int = 64
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    decoder: tuple[int, ...] = (16, 32, 64, 128, 256)
    scales: int = 4
    min_depth: float = 0.1
    max_depth: float = 100.0
    focal_norm: bool = True
    input_stretch: float = 0.0

    def __post_init__(self):
        problems = []
        if not 0.0 <= self.input_stretch < 0.5:
            problems.append("input_stretch must be in [0, 0.5)")
        if self.stem < 1:
            problems.append("stem must be >= 1")
        if len(self.widths) != 4 or min(self.widths, default=0) < 1:
            problems.append("widths needs 4 positive values")
        if len(self.blocks) != 4 or min(self.blocks, default=0) < 1:
            problems.append("blocks needs 4 values >= 1")
        if len(self.decoder) != 5 or min(self.decoder, default=0) < 1:
            problems.append("decoder needs 5 positive values")
        if not 1 <= self.scales <= 4:
            problems.append("scales must be in 1..4")
        if not 0 < self.min_depth < self.max_depth:
            problems.append("need 0 < min_depth < max_depth")
        if problems:
            raise UserError("invalid depth network architecture: " + "; ".join(problems),
                            fix="fix the 'model' section of the training config")

    @property
    def disp_a(self) -> float:
        return 1.0 / self.min_depth - 1.0 / self.max_depth

    @property
    def disp_b(self) -> float:
        return 1.0 / self.max_depth

    def to_dict(self) -> dict:
        return arch_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "architecture") -> "DepthArch":
        """Build from a dict (YAML or checkpoint); unknown keys or bad values -> one-line UserError."""
        return arch_from_dict(cls, data, where)

    def diff(self, other: "DepthArch") -> list[str]:
        """``["pyramid: (...) vs (...)", ...]`` for every field that differs."""
        return arch_diff(self, other)


#: the supplementary's network: ResNet-18 encoder, Godard et al.'s decoder widths.
RESNET18 = DepthArch()
#: a narrow ResNet-18 layout (same depth, 1/4 of the widths) that trains on two CPU cores.
SMALL = DepthArch(stem=16, widths=(16, 32, 64, 128), blocks=(2, 2, 2, 2), decoder=(8, 16, 24, 32, 64))
