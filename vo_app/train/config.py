"""Training configuration of the flow stage: YAML files in ``configs/train_flow_*.yaml``.

A file may start from another: ``extends: other.yaml`` (a path relative to the file) takes that
file's options (its own ``extends`` resolved first) and overrides them with the ones given here,
section by section (:func:`read_train_yaml`; the depth and joint stages read their files the same way).

Sections (every key optional; defaults below)::

    seed: 0                     # network initialisation
    image_size: [256, 192]      # working size W, H of the training pairs (multiples of 64)
    model: {pyramid, estimator, context, max_displacement, dense, out_level}   # PWCArch
    data: {seed, street_fraction, scenes, gray_fraction, max_flow, augment, layer_shift_scale, curriculum, curriculum_start,
           pool}  # SynthSpec
    optim: {lr, schedule, final_lr, warmup_steps, batch_size, steps, weight_decay, grad_clip}
    loss: {level_weights, full_res_weight, alpha, beta, edge_weight, photo_scales}
    selfsup: {start_step, folders, max_gap, lr, supervised_weight}
    val: {every, pairs}
    checkpoint: {every, max_file_mb}
    log: {every}
    runtime: {workers, threads, max_minutes, cache_dir}
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io.yaml_file import read_yaml_mapping, value_like
from ..models.pwc.arch import SMALL, PWCArch
from ..synth.samples.synthetic import SynthSpec


@dataclass
class OptimConfig:
    """Adam.  ``lr`` is the (peak) rate of the supervised stage; ``schedule: cosine`` decays it to
    ``final_lr`` at ``steps`` (after a linear warm-up of ``warmup_steps``); ``constant`` keeps it."""

    lr: float = 1e-4
    schedule: str = "constant"
    final_lr: float = 1e-4
    warmup_steps: int = 0
    batch_size: int = 8
    steps: int = 1000
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # 0: off

    def lr_at(self, step: int, selfsup: "SelfSupConfig | None" = None) -> float:
        """Learning rate of step ``step`` (0-based): a pure function of the step, so --resume is exact."""
        if selfsup is not None and selfsup.start_step is not None and step >= selfsup.start_step:
            return selfsup.lr
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "cosine":
            t = min(1.0, (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps))
            return self.final_lr + 0.5 * (self.lr - self.final_lr) * (1 + math.cos(math.pi * t))
        return self.lr


@dataclass
class LossConfig:
    level_weights: tuple = (0.2, 0.2, 0.3, 0.5, 1.0)  # levels coarse to fine (6..2), EPE in input pixels
    full_res_weight: float = 1.0  # EPE of the full-size output; only with model.convex_upsample (it trains the upsampler)
    alpha: float = 0.85
    beta: float = 0.1
    edge_weight: float = 10.0
    photo_scales: int = 3


@dataclass
class SelfSupConfig:
    start_step: int | None = None  # from this step on, batches come from the image folders (None: never)
    folders: tuple = ()
    max_gap: int = 1
    lr: float = 1e-4  # Adam, constant, as in TrianFlow
    supervised_weight: float = 0.0  # keep a synthetic supervised batch with this weight while fine-tuning


@dataclass
class ValConfig:
    every: int = 200
    pairs: int = 24


@dataclass
class CkptConfig:
    every: int = 250
    max_file_mb: float = 16.0  # larger checkpoints become an index plus parts of this size (0: one file)

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)


@dataclass
class LogConfig:
    every: int = 10


@dataclass
class RuntimeConfig:
    workers: int = 1  # data-loader processes (0: generate in the training process)
    threads: int = 0  # torch CPU threads (0: torch's default)
    max_minutes: float = 0.0  # stop with a checkpoint after this wall time (0: no limit)
    cache_dir: str = ""  # with data.pool: where the pool's renders are kept ("": render every epoch)


class StageConfig:
    """What every stage's config dataclass shares (fields ``model``, ``data``, ``selfsup``, ``image_size``)."""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return _plain(d)

    def data_identity(self) -> dict:
        """What a resumed run must share with the checkpoint's run: the synthetic stream and folders."""
        return {**self.data.to_dict(), "image_size": list(self.image_size),
                "selfsup_folders": [str(f) for f in self.selfsup.folders]}


@dataclass
class TrainConfig(StageConfig):
    seed: int = 0
    image_size: tuple = (256, 192)
    model: PWCArch = SMALL
    data: SynthSpec = field(default_factory=SynthSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    selfsup: SelfSupConfig = field(default_factory=SelfSupConfig)
    val: ValConfig = field(default_factory=ValConfig)
    checkpoint: CkptConfig = field(default_factory=CkptConfig)
    log: LogConfig = field(default_factory=LogConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    source: str = ""  # the YAML file it came from


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _coerce(value, default, where: str):
    """Convert a YAML value to the type of ``default``."""
    try:
        return value_like(value, default)
    except (TypeError, ValueError):
        raise UserError(f"option {where}: wrong type (got {value!r}, expected like {default!r})",
                        fix="fix the training config") from None


def _section(cls, data, where: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise UserError(f"section {where}: expected a mapping", fix="fix the training config")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UserError(f"section {where}: unknown option(s) {unknown}", fix=f"valid options: {sorted(names)}")
    base = cls()
    kw = {}
    for k, v in data.items():
        default = getattr(base, k)
        if default is None:  # Optional[int] options
            kw[k] = None if v is None else _coerce(v, 0, f"{where}.{k}")
        else:
            kw[k] = _coerce(v, default, f"{where}.{k}")
    return dataclasses.replace(base, **kw)


def _merged(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s values: mappings are merged key by key, anything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_train_yaml(path: "str | Path", example: str, _seen: tuple = ()) -> dict:
    """The options of the training YAML file ``path`` with its ``extends:`` chain resolved.

    ``extends: FILE`` (relative to ``path``'s folder) names the file whose options this one
    overrides; the result never holds the ``extends`` key.  A missing file, a loop, or a
    non-string value is a one-line :class:`UserError` naming the file.
    """
    path = Path(path)
    data = read_yaml_mapping(path, example)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise UserError(f"extends: expected a file name (got {parent!r})", path=path, fix="e.g. extends: train_flow_cpu.yaml")
    base = path.parent / parent
    if not base.is_file():
        raise UserError(f"extends: {parent} not found next to it", path=path, fix="name a YAML file in the same folder")
    key = base.resolve()
    if key in _seen or key == path.resolve():
        raise UserError(f"extends: {parent} leads back to this file", path=path, fix="break the loop of extends")
    return _merged(read_train_yaml(base, example, _seen + (path.resolve(),)), data)


def load_train_config(path: "str | Path") -> TrainConfig:
    """Read and check a training YAML file; every problem is a one-line UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        cands = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "configs").glob("train_*.yaml"))
        raise UserError("training config not found", path=path, fix=f"pass a YAML file, e.g. configs/{cands[0]}"
                        if cands else "pass a YAML file")
    data = read_train_yaml(path, "configs/train_flow_cpu.yaml")
    try:
        return config_from_dict(data, source=str(path))
    except UserError as e:
        raise UserError(str(e), path=path) from None


def build_config(cls, data: dict, sections: dict, model_from_dict, default_size: tuple, source: str = ""):
    """A stage's config dataclass ``cls`` from a nested dict (the YAML content): every section of
    ``sections`` (name -> dataclass), plus ``seed``, ``image_size`` and ``model`` (built by
    ``model_from_dict``; the dataclass default when absent).  Unknown names are a one-line error."""
    known = set(sections) | {"seed", "image_size", "model"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"unknown section(s) {unknown}", fix=f"valid sections: {sorted(known)}")
    kw = {name: _section(c, data.get(name), name) for name, c in sections.items()}
    if "model" in data:
        kw["model"] = model_from_dict(data["model"], where="model")
    seed = _coerce(data.get("seed", 0), 0, "seed")
    size = _coerce(data.get("image_size", default_size), default_size, "image_size")
    return cls(seed=seed, image_size=tuple(int(v) for v in size), source=source, **kw)


def common_problems(cfg, multiple: int) -> list[str]:
    """The checks every stage's config shares (size, optimiser, intervals, runtime)."""
    bad = []
    w, h = cfg.image_size if len(cfg.image_size) == 2 else (0, 0)
    if len(cfg.image_size) != 2 or w % multiple or h % multiple or w < 64 or h < 64:
        bad.append(f"image_size {list(cfg.image_size)} must be [W, H], multiples of {multiple}, at least 64")
    if not (cfg.optim.lr > 0 and cfg.optim.final_lr > 0 and cfg.selfsup.lr > 0):
        bad.append("learning rates must be > 0")
    if cfg.optim.schedule not in ("constant", "cosine"):
        bad.append("optim.schedule must be constant or cosine")
    if cfg.optim.batch_size < 1 or cfg.optim.steps < 0:
        bad.append("optim.batch_size must be >= 1 and optim.steps >= 0")
    if cfg.data.scenes < 1:
        bad.append("data.scenes must be >= 1")
    if cfg.data.pool < 0:
        bad.append("data.pool must be >= 0 (0: every sample rendered afresh)")
    if cfg.val.every < 0 or cfg.val.pairs < 0 or cfg.checkpoint.every < 0 or cfg.log.every < 1:
        bad.append("val/checkpoint/log intervals must be >= 0 (log.every >= 1)")
    if cfg.checkpoint.max_file_mb < 0 or 0 < cfg.checkpoint.max_file_mb < 0.01:
        bad.append("checkpoint.max_file_mb must be 0 (no limit) or at least 0.01")
    if cfg.runtime.workers < 0 or cfg.runtime.threads < 0:
        bad.append("runtime.workers and runtime.threads must be >= 0")
    return bad


def config_from_dict(data: dict, source: str = "") -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested dict (the YAML content) and check the values."""
    sections = {"data": SynthSpec, "optim": OptimConfig, "loss": LossConfig, "selfsup": SelfSupConfig,
                "val": ValConfig, "checkpoint": CkptConfig, "log": LogConfig, "runtime": RuntimeConfig}
    cfg = build_config(TrainConfig, data, sections, PWCArch.from_dict, (256, 192), source)
    _check(cfg)
    return cfg


def _check(cfg: TrainConfig) -> None:
    bad = common_problems(cfg, 64)
    if len(cfg.loss.level_weights) != len(cfg.model.levels):
        bad.append(f"loss.level_weights needs {len(cfg.model.levels)} values (levels {cfg.model.levels})")
    if not 1 <= cfg.loss.photo_scales <= len(cfg.model.levels):
        bad.append("loss.photo_scales out of range")
    if not 0 <= cfg.data.street_fraction <= 1 or not 0 <= cfg.data.gray_fraction <= 1:
        bad.append("data fractions must be in [0, 1]")
    if cfg.data.curriculum < 0 or not 0 < cfg.data.curriculum_start <= 1 or cfg.data.layer_shift_scale <= 0:
        bad.append("data.curriculum must be >= 0, data.curriculum_start in (0, 1], data.layer_shift_scale > 0")
    if cfg.data.pool and cfg.data.curriculum:
        bad.append("data.pool and data.curriculum cannot be combined (a pool entry is rendered once)")
    if bad:
        raise UserError("invalid training config: " + "; ".join(bad), fix="fix these options")
