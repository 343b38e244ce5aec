"""``vo-eval flow``: EPE and Fl-all of flow backends on Middlebury and on the held-out synthetic set."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from ..pipeline.config import DIS_PRESETS

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_DEFAULT_MIDDLEBURY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "middlebury"
_BACKENDS = ("zero", "dis", "pwc", "pwc+dis", "pwc-untrained")


def _labels(weights: tuple) -> list[str]:
    """Short labels of checkpoints: the file name, or ``folder/name`` where file names repeat."""
    names = [Path(str(w)).name for w in weights]
    return [f"{Path(str(w)).parent.name}/{n}" if names.count(n) > 1 else n for w, n in zip(weights, names)]


def _backends(flows: tuple[str, ...], weights: tuple[Path, ...], dis_preset: str, device: str | None,
              hybrid_window: int = 9, hybrid_margin: float = 0.0) -> dict:
    """``{label: callable}`` in the order asked; ``pwc`` gives one entry per --weights."""
    from ..models.dis import DISFlow
    from ..models.pwc import PWCFlow

    if not flows:
        flows = ("dis", "pwc") if weights else ("dis",)
    if {"pwc", "pwc+dis", "pwc-untrained"} & set(flows) and not weights:
        raise UserError("--flow pwc, pwc+dis and pwc-untrained need a checkpoint", fix="pass --weights CKPT")
    out = {}
    for name in dict.fromkeys(flows):
        if name == "zero":
            from ..eval.flow import ZeroFlow

            out["zero flow"] = ZeroFlow()
        elif name == "dis":
            out[f"DIS ({dis_preset})"] = DISFlow(dis_preset)
        elif name == "pwc":
            for w, label in zip(weights, _labels(weights)):
                out[f"PWC {label}"] = PWCFlow.from_checkpoint(str(w), device)
        elif name == "pwc+dis":
            from ..models.hybrid import HybridFlow

            for w, label in zip(weights, _labels(weights)):
                out[f"PWC+DIS {label}"] = HybridFlow(PWCFlow.from_checkpoint(str(w), device), dis_preset,
                                                     hybrid_window, hybrid_margin)
        elif name == "pwc-untrained":
            import torch

            from ..models.checkpoint import load_checkpoint
            from ..models.pwc import PWCArch, PWCNet

            ckpt = load_checkpoint(str(weights[0]))
            seed = int(ckpt.get("training", {}).get("config", {}).get("seed", 0))
            torch.manual_seed(seed)  # the same initialisation as the training run
            out["PWC untrained"] = PWCFlow(PWCNet(PWCArch.from_dict(ckpt["arch"])), device)
    return out


@click.command("flow", context_settings=_CTX)
@click.option("--weights", multiple=True, type=str,
              help="PWC checkpoint (path or http(s) URL); repeat to compare several.")
@click.option("--flow", "flows", multiple=True, type=click.Choice(_BACKENDS),
              help="Backends to score, repeatable [default: dis, plus pwc with --weights]. pwc+dis: the "
                   "network's flow initialises DIS (vo_app/models/hybrid.py). "
                   "pwc-untrained: the architecture of the first --weights, freshly initialised.")
@click.option("--middlebury", type=click.Path(path_type=Path), default=None,
              help=f"Middlebury 'other' folder [default: {_DEFAULT_MIDDLEBURY} if present].")
@click.option("--no-middlebury", is_flag=True, help="Skip Middlebury.")
@click.option("--synthetic-pairs", type=click.IntRange(0), default=64, show_default=True,
              help="Pairs of the held-out synthetic set (fixed seed; 0 skips it).")
@click.option("--synthetic-size", default="256x192", show_default=True, help="WIDTHxHEIGHT of the synthetic pairs.")
@click.option("--dis-preset", type=click.Choice(DIS_PRESETS), default="medium",
              show_default=True)
@click.option("--hybrid-window", type=click.IntRange(0), default=9, show_default=True,
              help="pwc+dis: per-pixel selection window against plain DIS (odd; 0: off).")
@click.option("--hybrid-margin", type=click.FloatRange(-1.0, 1.0, min_open=True, max_open=True), default=0.0,
              show_default=True, help="pwc+dis: the initialised DIS must warp this fraction better than plain "
                                      "DIS to be kept (negative: favours it).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write all numbers to this JSON file.")
def flow_cmd(weights, flows, middlebury, no_middlebury, synthetic_pairs, synthetic_size, dis_preset, hybrid_window,
             hybrid_margin, device, json_path):
    """EPE (all / non-occluded) and Fl-all (>3 px and >5 %) of flow backends.

    Datasets: the held-out synthetic set (exact flow and occlusion) and the 8 Middlebury "other"
    pairs with public ground truth (frame10 -> frame11), real and synthetic rows apart.
    """
    from ..eval.flow import format_flow_table, standard_datasets
    from .common import parse_size

    if not no_middlebury:
        if middlebury is None:
            middlebury = _DEFAULT_MIDDLEBURY if _DEFAULT_MIDDLEBURY.is_dir() else None
        elif not middlebury.is_dir():
            raise UserError("Middlebury folder not found", path=middlebury, fix="pass --middlebury DIR or --no-middlebury")
    else:
        middlebury = None
    size = parse_size(synthetic_size)
    if size is None or size[0] % 64 or size[1] % 64:
        raise UserError(f"invalid --synthetic-size {synthetic_size!r}", fix="use WIDTHxHEIGHT, multiples of 64")
    dev = None if device == "auto" else device
    if hybrid_window % 2 == 0 and hybrid_window:
        raise UserError(f"--hybrid-window {hybrid_window} is even", fix="use an odd window, e.g. 9, or 0 (off)")
    backends = _backends(tuple(flows), tuple(weights), dis_preset, dev, hybrid_window, hybrid_margin)
    datasets = standard_datasets(middlebury, synthetic_pairs, size)
    if not datasets:
        raise UserError("nothing to evaluate", fix="drop --no-middlebury or set --synthetic-pairs > 0")
    from ..eval.flow import evaluate_flows

    results = evaluate_flows(backends, datasets)
    click.echo(format_flow_table(results))
    if json_path is not None:
        from ..io.atomic import atomic_write_json

        atomic_write_json(json_path, {"results": results, "middlebury": None if middlebury is None else str(middlebury),
                                      "synthetic": {"pairs": synthetic_pairs, "size": list(size)},
                                      "weights": list(weights)})
        click.echo(f"written: {json_path}", err=True)
    return 0


