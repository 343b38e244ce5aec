"""``vo-eval depth``: AbsRel, RMSE, deltas of a depth checkpoint and baselines on synthetic, TartanAir, KITTI."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .common import ensure_writable_dir

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_DATA_CHOICES = ("synthetic", "tartanair", "kitti", "all")


def parse_data(values: tuple[str, ...]) -> list[str]:
    """``("synthetic,kitti", "all")`` -> dataset names in the canonical order; UserError for an unknown one."""
    from ..eval.depth import DATASETS

    names = [v.strip().lower() for text in values for v in text.split(",") if v.strip()] or ["all"]
    bad = [n for n in names if n not in _DATA_CHOICES]
    if bad:
        raise UserError(f"unknown --data {bad[0]!r}", fix=f"use {', '.join(_DATA_CHOICES)} (repeatable or comma list)")
    return list(DATASETS) if "all" in names else [d for d in DATASETS if d in names]


def check_output_file(path: Path, flag: str) -> None:
    """Fail early (UserError) when ``path`` cannot be written: a directory, or a parent that cannot be made/written."""
    path = Path(path)
    if path.is_dir():
        raise UserError("is a directory", path=path, fix=f"pass {flag} a file name")
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), flag)


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA device is visible", fix="pass --device cpu or auto")
    return device


def _methods(weights: str, device: str) -> tuple[dict, dict, dict]:
    """``(methods, checkpoint dict, meta)``: trained, untrained (seed 0), mean-depth, ground-plane."""
    import torch

    from ..eval.depth import CAMERA_HEIGHT, ConstantDepth, GroundPlaneDepth, NetworkDepth, mean_training_depth
    from ..models.checkpoint import load_depth_model
    from ..models.depth import DepthNet, DepthPredictor

    model, ckpt = load_depth_model(weights)
    size = tuple(ckpt["image_size"])
    trained = DepthPredictor(model, size, device)
    torch.manual_seed(0)
    untrained = DepthPredictor(DepthNet(trained.arch), size, device)
    if "mean_depth" not in (ckpt.get("training") or {}):
        click.echo("vo-eval depth: the checkpoint has no training.mean_depth; averaging synthetic training "
                   "frames for the mean-depth baseline", err=True)
    mean_depth, mean_src = mean_training_depth(ckpt)
    methods = {"trained": NetworkDepth(trained), "untrained": NetworkDepth(untrained),
               "mean-depth": ConstantDepth(mean_depth), "ground-plane": GroundPlaneDepth(CAMERA_HEIGHT)}
    meta = {"mean_depth": mean_depth, "mean_depth_source": mean_src, "camera_height": CAMERA_HEIGHT,
            "untrained_seed": 0}
    return methods, ckpt, meta


@click.command("depth", context_settings=_CTX)
@click.option("--weights", required=True, type=str, help="Depth checkpoint written by vo-train depth (path or URL).")
@click.option("--data", "data", multiple=True, metavar="NAME",
              help="synthetic, tartanair, kitti or all; repeatable or a comma list  [default: all].")
@click.option("--shared", type=click.Path(path_type=Path), default=None,
              help="Root of the data folders [default: $VO_DATA, else ../shared/data from the current directory].")
@click.option("--synthetic-pairs", type=click.IntRange(0), default=48, show_default=True,
              help="Frames of the held-out synthetic set (fixed seed, at the network's working size; 0 skips it).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write all numbers to this JSON file.")
@click.option("--pictures", "pictures_dir", type=click.Path(path_type=Path),
              help="Write PNG grids (image, prediction, ground truth, error) of a few frames per dataset here.")
@click.option("--kitti-crop", type=click.Choice(["none", "garg"]), default="none", show_default=True,
              help="KITTI ground truth scored: every projected point, or the Garg et al. window that the "
                   "monocular-depth papers use (compare with them only under garg).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def depth_cmd(weights, data, shared, synthetic_pairs, json_path, pictures_dir, kitti_crop, device):
    """Depth metrics of a checkpoint against the untrained network, a constant mean depth and a flat road.

    Each metric is given median-scaled per image (the usual monocular protocol) and metric (as
    predicted).  Caps: 80 m on synthetic and KITTI, none on TartanAir.
    """
    from ..eval.depth import (dataset_summary, default_shared_root, evaluate_depth, format_depth_table,
                              standard_depth_datasets, write_depth_json)

    names = parse_data(tuple(data))
    dev = _device(device)
    methods, ckpt, meta = _methods(weights, dev)
    if json_path is not None:
        check_output_file(json_path, "--json")
    if pictures_dir is not None:
        ensure_writable_dir(pictures_dir, "--pictures")
    shared = shared if shared is not None else default_shared_root()
    datasets, notices = standard_depth_datasets(names, shared, synthetic_pairs, tuple(ckpt["image_size"]), kitti_crop)
    for line in notices:
        click.echo(f"vo-eval depth: {line}", err=True)
    if not datasets:
        raise UserError(f"nothing to evaluate (asked for {', '.join(names)}; data root {shared})",
                        fix="pass --shared DIR holding the data folders, or --data synthetic")
    results, pictures = evaluate_depth(methods, datasets, pictures_dir)
    click.echo(format_depth_table(results, datasets))
    if json_path is not None:
        info = {"weights": str(weights), "image_size": list(ckpt["image_size"]), "arch": ckpt["arch"],
                "device": dev, "shared": str(shared), "datasets": dataset_summary(datasets), "skipped": notices,
                "pictures": [str(p) for p in pictures], **meta}
        write_depth_json(json_path, results, info)
        click.echo(f"written: {json_path}", err=True)
    if pictures:
        click.echo(f"written: {len(pictures)} pictures in {pictures_dir}", err=True)
    return 0
