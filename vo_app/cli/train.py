"""``vo-train``: training of the networks (stage ``flow`` for now: the PWC flow network)."""
from __future__ import annotations

from pathlib import Path

import click

from .common import run_command

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=_CTX)
def cli():
    """Train the networks of vo_app (stage 'flow': the PWC optical-flow network)."""


@cli.command("flow", context_settings=_CTX)
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Training YAML, e.g. configs/train_flow_cpu.yaml.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder: checkpoints (last.pt, model.pt, best.pt), log.jsonl, curve.png.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt, exactly.")
@click.option("--init", "init", type=str, help="Start a new run from these weights (path or URL; same architecture), "
              "e.g. to fine-tune weights/pwc_small_cpu.pt on --data folders.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: cuda when a GPU is visible (mixed precision there), else cpu.")
@click.option("--data", "folders", multiple=True, type=click.Path(path_type=Path),
              help="Image folder for self-supervised fine-tuning (repeatable; any vo-run layout).")
@click.option("--steps", type=click.IntRange(0), help="Override optim.steps of the config (the schedule's length).")
@click.option("--max-steps", type=click.IntRange(0), help="Stop after this many steps in this invocation (the lr "
              "schedule still spans optim.steps; --resume continues).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def flow(config_path, out_dir, resume, init, device, folders, steps, max_steps, quiet):
    """Train the flow network: supervised on synthetic pairs, then (selfsup.start_step) on --data folders.

    Ctrl-C saves a checkpoint; --resume continues from it.
    """
    import dataclasses

    import torch

    from ..errors import UserError
    from ..train.config import load_train_config
    from ..train.flow_stage import train_flow
    from .common import ensure_writable_dir

    cfg = load_train_config(config_path)
    if folders:
        for f in folders:
            if not f.exists():
                raise UserError("--data folder does not exist", path=f, fix="check the path")
        cfg = dataclasses.replace(cfg, selfsup=dataclasses.replace(cfg.selfsup, folders=tuple(str(f) for f in folders)))
    if steps is not None:
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=steps))
    if cfg.selfsup.start_step is not None and cfg.selfsup.start_step < cfg.optim.steps and not cfg.selfsup.folders:
        raise UserError(f"the config fine-tunes on image folders from step {cfg.selfsup.start_step}", path=config_path,
                        fix="pass --data FOLDER (repeatable), or set selfsup.start_step: null")
    if init is not None and resume:
        raise UserError("--init starts a new run and --resume continues one", fix="pass only one of them")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ensure_writable_dir(out_dir)
    res = train_flow(cfg, out_dir, device=device, resume=resume, progress=not quiet, init=init,
                     max_steps=max_steps)
    m = res["metrics"]
    val = f", held-out EPE {m['val_epe']:.3f} px" if "val_epe" in m else ""
    click.echo(f"vo-train flow: step {res['step']}{val}, {res['seconds'] / 60:.1f} min of training; "
               f"weights: {Path(out_dir) / 'model.pt'}")
    if res["interrupted"]:
        click.echo(f"vo-train: interrupted; resume with: vo-train flow --config {config_path} --out {out_dir} --resume",
                   err=True)
        return 130
    return 0


def main(args: list[str] | None = None) -> None:
    run_command(cli, "vo-train", args)


if __name__ == "__main__":
    main()
