"""Run configuration: defaults, YAML presets in ``vo_app/configs/`` (package data), and command-line overrides."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..configs import PRESET_DIR
from ..errors import UserError
from ..io.yaml_file import read_yaml_mapping, value_like
from ..models.dis import DIS_PRESETS  # noqa: F401  (re-exported for the command-line choices)
CONFIG_DIR = PRESET_DIR  # the run presets ship inside the package (vo_app/configs/)


@dataclass
class VOConfig:
    """All knobs of one ``vo-run``.  Pixel thresholds are at the working size."""

    size: tuple[int, int] | int | None = (832, 256)  # working (W, H), used as given; a single width W keeps the native aspect ratio (H rounded to a multiple of 8; io/images.py working_size); None keeps the native size
    color: bool = False  # read colour images (3 channels) instead of gray
    flow: str = "dis"  # flow backend: dis | pwc (a network, needs weights) | pwc+dis (the network initialises DIS)
    dis_preset: str = "medium"  # DIS preset: ultrafast | fast | medium | fullres | fine (models/dis.py)
    dis_backward_preset: str | None = None  # DIS preset of the backward flow (masks only); None: dis_preset
    weights: str | None = None  # flow network checkpoint for flow pwc | pwc+dis
    hybrid_window: int = 9  # --flow pwc+dis: per-pixel selection window against plain DIS (0: off; models/hybrid.py)
    hybrid_margin: float = 0.0  # --flow pwc+dis: the initialised DIS must warp this fraction better to be kept
    scale: str = "triangulation"  # triangulation | rgbd | depth | fused: which absolute sources enter the back end's window (pipeline/scale_modes.py, backend.py)
    depth_weights: str | None = None  # depth network checkpoint for scale depth | fused
    camera_height: float | None = None  # metres above the road: the ground-plane step lengths of scale fused
    chain_ratio_sigma: float = 0.003  # log-std of the chain's pair-to-pair ratio at full parallax (the window's ratio factor; scale_chain.py chain_sigma)
    ground_max_tilt_deg: float = 5.0  # the road plane's normal within this of the camera's down axis (a car-mounted camera; geometry/ground_plane.py)
    window: int | None = None  # keyframes in the back end's sliding window (pipeline/backend.py, docs/backend.md); 0: the front end's chain (the window's guess) is written as it is; None: 7 where an absolute source enters it (scale fused or depth), else 0
    window_tracks: int = 150  # tracks (points) per window solve, spread over the image
    window_iterations: int = 5  # Levenberg-Marquardt iterations per window solve
    window_process: bool = True  # --window: solve in a process of its own, beside the run (GTSAM holds the GIL); false: in the run's process (same poses)
    window_ground_sigma: float = 0.15  # --window: log-std of one pair's ground-plane step length (its factor's noise; picked on the KITTI clips, docs/backend.md)
    window_depth_sigma: float = 0.10  # --window: log-std of one pair's depth-network step length
    window_rgbd_sigma: float = 0.05  # --window with scale rgbd: log-std of one pair's step length from the depth images
    window_levels: bool = True  # --window: at the end, each chain segment's scale level from all its absolute step lengths (window/levels.py)
    n_matches: int = 6000  # matches sampled per pair from the best-scored pixels
    top_ratio: float = 0.2  # share of the pixels (best occlusion / forward-backward score) the matches are drawn from
    ransac_threshold: float = 0.1  # Sampson distance, px
    ransac_confidence: float = 0.99  # RANSAC stops once an all-inlier sample is this likely
    ransac_max_iters: int = 1000  # RANSAC iteration cap
    refine: bool = True  # robust (Huber) refinement of F on the RANSAC inliers
    refine_band: float = 1.0  # px: matches within this Sampson distance enter the refinement
    refine_huber: float = 0.5  # px: Huber threshold of the refinement
    epi_threshold: float = 0.5  # M_r = (D_epi < epi_threshold) / (1 + D_epi)
    min_inliers: int = 50  # fewer RANSAC inliers than this: too_few_inliers
    min_inlier_share: float = 0.2  # fewer RANSAC inliers than this share of the sampled matches: too_few_inliers
    no_motion_px: float = 0.3  # median match displacement below which the frame is not a keyframe
    keyframe_parallax_px: float = 0.0  # posed pairs whose median parallax (after rotation) is below this keep their reference (0: off)
    rgbd_pnp_parallax_px: float = 1.0  # --scale rgbd: posed pairs under this median parallax are posed by PnP against the reference's depth (0: off)
    rgbd_pnp_min_inlier_share: float = 0.9  # ... and only where PnP keeps this share of the matches (the depth agrees with the flow)
    keyframe_flow_frac: float = 0.05  # low-parallax frames become keyframes once the median flow exceeds this share of the image size
    rotation_parallax_px: float = 0.3  # median parallax after rotation compensation below which t = 0
    depth_fallback: str = "pnp"  # where F gives no pose and the reference has depth: pnp | pnp+direct | none (docs/scale.md, "Poses against depth")
    min_scale_points: int = 50  # triangulated points a pair needs to vote on its scale
    scale_parallax_deg: tuple[float, ...] = (2.0, 1.0, 0.5, 0.0)  # parallax thresholds tried in turn (scale votes)
    scale_memory_fill: str = "sparse"  # fill a posed pair's memory from the previous one: sparse (when under half its points), always, none
    scale_lk_refine: bool = True  # Lucas-Kanade refinement of the matches that set the scale
    scale_lk_min_parallax_deg: float = 0.0  # refine only matches whose unrefined parallax reaches this
    scale_grid_step: int = 3  # the scale chain triangulates every N-th pixel in x and y
    max_scale_change: float = 4.0  # reject pair-to-pair scale ratios outside [1/x, x]
    seed: int = 0  # seed of the match sampling and RANSAC
    backend: str = "auto"  # geometry backend: auto | cpp | reference
    device: str = "auto"  # where the batched geometry runs: auto (= cpu, the faster one measured) | cpu | cuda
    batch: int = 1  # pairs per batched geometry call (1: streaming)
    pipeline: bool = True  # read frames and compute the flow in a background thread
    flush_seconds: float = 1.0  # the output files are rewritten at most this often while the run goes

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The preset a run without ``--config`` gets, by the input's layout (``vo_app.io.detect_layout``);
#: any other layout (a plain folder, a video) gets ``general``.
LAYOUT_PRESETS = {"kitti": "kitti", "kitti_raw": "kitti", "tum": "tum"}


def preset_for_layout(layout: str) -> str:
    """The preset name for an input of ``layout`` when no ``--config`` is given."""
    return LAYOUT_PRESETS.get(layout, "general")


def resolve_preset(name_or_path: str) -> Path:
    """A preset name (``kitti``) or a YAML path to an existing file."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = CONFIG_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        names = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml") if not q.stem.startswith("train_"))
        raise UserError("config file not found", path=p, fix=f"pass a YAML file or one of the presets {names}")
    return p


_POSITIVE = {"n_matches", "ransac_threshold", "ransac_max_iters", "min_inliers", "min_scale_points", "max_scale_change",
             "epi_threshold", "refine_band", "refine_huber", "scale_grid_step", "keyframe_flow_frac", "batch",
             "chain_ratio_sigma", "ground_max_tilt_deg",
             "window_tracks", "window_iterations", "window_ground_sigma", "window_depth_sigma", "window_rgbd_sigma"}
_UNIT = {"top_ratio", "ransac_confidence", "min_inlier_share", "rgbd_pnp_min_inlier_share"}
#: options with a fixed set of values
_CHOICES = {"depth_fallback": ("pnp", "pnp+direct", "none"), "scale_memory_fill": ("sparse", "always", "none")}
#: the window's size where ``window`` is not given and an absolute source enters it (docs/backend.md)
DEFAULT_WINDOW = 7


def _coerce(key: str, value, where: Path | None):
    """Check and convert one option to the type of its default; one-line UserError otherwise."""
    default = getattr(VOConfig, key, None)
    bad = lambda why: UserError(f"option {key}: {why} (got {value!r})", path=where,  # noqa: E731
                                fix="fix the value in the preset or on the command line")
    try:
        if key == "size":
            if value is None:
                return None
            if isinstance(value, int) and not isinstance(value, bool):
                if value < 16:
                    raise ValueError
                return value
            w, h = (int(v) for v in value)
            if w < 16 or h < 16:
                raise ValueError
            return (w, h)
        if key == "camera_height":
            return None if value is None else float(value)
        if key == "window":  # None (unset: decided by the scale mode below) or a whole number
            return None if value is None else value_like(value, 0)
        if key == "scale_parallax_deg":
            return tuple(float(v) for v in value)
        value = value_like(value, default)
        if isinstance(default, bool):
            return value
    except (TypeError, ValueError):
        raise bad("wrong type or shape" if key != "size" else "expected [width, height] or a width, all >= 16") from None
    if key in _POSITIVE and not value > 0:
        raise bad("must be positive")
    if key in _UNIT and not 0 < value <= 1:
        raise bad("must be in (0, 1]")
    if key in ("seed", "flush_seconds", "keyframe_parallax_px", "rgbd_pnp_parallax_px") and value < 0:
        raise bad("must be >= 0")
    return value


def load_config(preset: "str | Sequence[str] | None" = None, **overrides) -> VOConfig:
    """Defaults, then each preset's YAML keys in order (a later file overrides an earlier one, so
    ``["kitti", "mine.yaml"]`` is the kitti preset with the keys of ``mine.yaml`` on top), then
    non-None ``overrides``."""
    values: dict = {}
    presets = [preset] if isinstance(preset, (str, Path)) else list(preset or [])
    origin: dict = {}  # option -> the file that set it, for the messages
    for name in presets:
        path = resolve_preset(str(name))
        data = read_yaml_mapping(path, str(CONFIG_DIR / "kitti.yaml"))
        unknown = set(data) - VOConfig.field_names()
        if unknown:
            raise UserError(f"unknown option(s) {sorted(unknown)}", path=path, fix=f"valid options: {sorted(VOConfig.field_names())}")
        values.update(data)
        origin.update(dict.fromkeys(data, path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    cfg = VOConfig(**{k: _coerce(k, v, origin.get(k)) for k, v in values.items()})
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise UserError(f"unknown device {cfg.device!r}", path=origin.get("device"), fix="use auto, cpu or cuda")
    for key in ("dis_preset", "dis_backward_preset"):
        value = getattr(cfg, key)
        if value is not None and value not in DIS_PRESETS:
            raise UserError(f"option {key}: unknown DIS preset {value!r}", path=origin.get(key),
                            fix=f"use one of {list(DIS_PRESETS)}")
    if cfg.hybrid_window < 0 or (cfg.hybrid_window and cfg.hybrid_window % 2 == 0):
        raise UserError(f"option hybrid_window: must be 0 (off) or an odd number (got {cfg.hybrid_window})",
                        path=origin.get("hybrid_window"), fix="use e.g. 9, or 0")
    if not -1.0 < cfg.hybrid_margin < 1.0:
        raise UserError(f"option hybrid_margin: must be in (-1, 1) (got {cfg.hybrid_margin})",
                        path=origin.get("hybrid_margin"), fix="use e.g. 0.1, or 0")
    for key, choices in _CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise UserError(f"option {key}: unknown value {getattr(cfg, key)!r}", path=origin.get(key),
                            fix=f"use {', '.join(choices[:-1])} or {choices[-1]}")
    if cfg.scale not in ("triangulation", "rgbd", "depth", "fused"):
        raise UserError(f"unknown scale mode {cfg.scale!r}", fix="use --scale triangulation, rgbd, depth or fused")
    if cfg.window is None:  # the back end's window wherever an absolute source enters it
        cfg.window = DEFAULT_WINDOW if cfg.scale in ("fused", "depth") else 0
    if cfg.window and not 2 <= cfg.window <= 50:
        raise UserError(f"option window: {cfg.window} keyframes is out of range", path=origin.get("window"),
                        fix="use 0 (no window) or 2 to 50 keyframes (7 is the measured default)")
    if cfg.camera_height is not None:
        if not cfg.camera_height > 0:
            raise UserError(f"option camera_height: must be positive (got {cfg.camera_height})",
                            path=origin.get("camera_height"), fix="give the camera's height above the road in metres")
    if cfg.scale == "depth" and not cfg.depth_weights:
        raise UserError("--scale depth needs the depth network's weights",
                        fix="pass --depth-weights CKPT (a file from vo-train depth, e.g. weights/depth_small_cpu.pt)")
    if cfg.scale == "fused" and not cfg.depth_weights and cfg.camera_height is None:
        raise UserError("--scale fused needs an absolute scale source: the depth network or the camera height",
                        fix="pass --depth-weights CKPT and/or --camera-height METRES")
    return cfg
