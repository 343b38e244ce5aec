"""Training configuration of the depth stages (``vo-train depth``, ``vo-train joint``).

YAML files ``configs/train_depth_*.yaml`` / ``configs/train_joint_*.yaml``; sections (every key
optional, defaults below)::

    seed: 0
    image_size: [416, 128]      # working size W, H (multiples of 32)
    model: {stem, widths, blocks, decoder, scales, min_depth, max_depth, focal_norm}   # DepthArch
    data: {seed, scene_base, scenes, handheld_fraction, indoor_fraction, gray_fraction, camera_height, turn_fraction,
           augment, pool, road_objects, junction_fraction}
    optim: {lr, schedule, final_lr, warmup_steps, batch_size, steps, weight_decay, grad_clip}
    loss: {triangulation, reprojection, smoothness, rigid_photo, flow_photo, flow_error, epipolar,
           masks: [edge, overlap, blank], matches, cos_threshold, min_points}
    selfsup: {start_step, folders, max_gap, lr, supervised_weight}
    flow: {backend: dis|pwc, weights, dis_preset}       # the (frozen, stage 2) flow source
    val: {every, pairs}
    checkpoint: {every, half, max_file_mb}
    log: {every}
    runtime: {workers, threads, max_minutes, cache_dir}

Loss weights default to TrianFlow's (its released KITTI configuration): L_d 1, L_p 0.1,
L_s 0.001; in the joint stage the flow's photometric loss L_f 1, the flow-to-rigid-flow
consistency 0.01 and the epipolar term 0.002.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..models.depth.arch import SMALL, DepthArch
from .config import (CkptConfig, LogConfig, OptimConfig, RuntimeConfig, SelfSupConfig, StageConfig, ValConfig,
                     build_config, common_problems, read_train_yaml)
from ..synth.samples.depth_synth import SynthDepthSpec

MASKS = ("edge", "overlap", "blank")


@dataclass
class DepthLossConfig:
    triangulation: float = 1.0   # L_d
    reprojection: float = 0.1    # L_p
    smoothness: float = 0.001    # L_s
    rigid_photo: float = 0.0     # L_ph (not in TrianFlow)
    flow_photo: float = 1.0      # joint stage: the flow's self-supervised loss L_f
    flow_error: float = 0.01     # joint stage: flow vs the rigid flow of depth and pose, on M_r
    epipolar: float = 0.002      # joint stage: epipolar distance of the flow on M_r
    masks: tuple = ()            # any of edge, overlap, blank (Wang et al. 2019)
    matches: int = 6000
    cos_threshold: float = 1e-3
    min_points: int = 32


@dataclass
class FlowSourceConfig:
    backend: str = "dis"   # dis: OpenCV DIS (no weights); pwc: a vo-train flow checkpoint
    weights: str = ""
    dis_preset: str = "medium"


@dataclass
class DepthCkptConfig(CkptConfig):
    half: bool = False  # store the weights-only exports (model.pt, best.pt) in fp16


@dataclass
class DepthTrainConfig(StageConfig):
    seed: int = 0
    image_size: tuple = (416, 128)
    model: DepthArch = SMALL
    data: SynthDepthSpec = field(default_factory=SynthDepthSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: DepthLossConfig = field(default_factory=DepthLossConfig)
    selfsup: SelfSupConfig = field(default_factory=SelfSupConfig)
    flow: FlowSourceConfig = field(default_factory=FlowSourceConfig)
    val: ValConfig = field(default_factory=ValConfig)
    checkpoint: DepthCkptConfig = field(default_factory=DepthCkptConfig)
    log: LogConfig = field(default_factory=LogConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    source: str = ""


def load_depth_config(path: "str | Path") -> DepthTrainConfig:
    """Read and check a depth training YAML file; every problem is a one-line UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError("training config not found", path=path, fix="pass a YAML file, e.g. configs/train_depth_cpu.yaml")
    data = read_train_yaml(path, "configs/train_depth_cpu.yaml")
    try:
        return depth_config_from_dict(data, source=str(path))
    except UserError as e:
        raise UserError(str(e), path=path) from None


def depth_config_from_dict(data: dict, source: str = "") -> DepthTrainConfig:
    sections = {"data": SynthDepthSpec, "optim": OptimConfig, "loss": DepthLossConfig, "selfsup": SelfSupConfig,
                "flow": FlowSourceConfig, "val": ValConfig, "checkpoint": DepthCkptConfig, "log": LogConfig,
                "runtime": RuntimeConfig}
    cfg = build_config(DepthTrainConfig, data, sections, DepthArch.from_dict, (416, 128), source)
    _check(cfg)
    return cfg


def _check(cfg: DepthTrainConfig) -> None:
    bad = common_problems(cfg, 32)
    unknown = sorted(set(cfg.loss.masks) - set(MASKS))
    if unknown:
        bad.append(f"loss.masks {unknown} unknown (valid: {list(MASKS)})")
    if cfg.flow.backend not in ("dis", "pwc"):
        bad.append("flow.backend must be dis or pwc")
    if cfg.flow.backend == "pwc" and not cfg.flow.weights:
        bad.append("flow.backend pwc needs flow.weights (a vo-train flow checkpoint)")
    fr = (cfg.data.handheld_fraction, cfg.data.indoor_fraction, cfg.data.gray_fraction, cfg.data.turn_fraction,
          cfg.data.junction_fraction)
    if min(fr) < 0 or max(fr) > 1 or cfg.data.handheld_fraction + cfg.data.indoor_fraction > 1:
        bad.append("data fractions must be in [0, 1] (handheld + indoor <= 1)")
    if bad:
        raise UserError("invalid training config: " + "; ".join(bad), fix="fix these options")
