"""``vo-train``: training of the networks: ``flow`` (stage 1), ``depth`` (stage 2), ``joint`` (stage 3)."""
from __future__ import annotations

import os
from pathlib import Path

import click

from .common import run_command

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _report(stage: str, res: dict, val: str, config_path, out_dir, extra: str = "") -> int:
    """The summary line of a finished run (rank 0 only under torchrun) and the exit code:
    0 done, 3 stopped on a non-finite loss, 130 interrupted."""
    code = 3 if res.get("nonfinite") else 130 if res["interrupted"] else 0
    if res.get("rank", 0) != 0:  # torchrun: rank 0 reports for every process
        return code
    weights = Path(out_dir) / "model.pt"
    parts = sorted(weights.parent.glob("model.pt.*.part*"))
    split = f" (an index plus {len(parts)} parts: copy {weights}*)" if parts else ""
    saved = f"weights: {weights}{split}{extra}" if weights.is_file() else "no weights saved (no checkpoint was due yet)"
    click.echo(f"vo-train {stage}: step {res['step']}{val}, {res['seconds'] / 60:.1f} min of training; {saved}")
    if code == 3:
        last = Path(out_dir) / "last.pt"
        kept = f"{last} holds the last good state" if last.is_file() else \
            "nothing to resume: it stopped before its first checkpoint (lower checkpoint.every or optim.lr)"
        click.echo(f"vo-train: stopped on a non-finite loss; {kept}", err=True)
    elif code == 130:
        click.echo(f"vo-train: interrupted; resume with: vo-train {stage} --config {config_path} --out {out_dir} "
                   "--resume", err=True)
    return code


def _with_overrides(cfg, folders, steps):
    """The config with ``--data`` folders (which must exist) and ``--steps`` applied."""
    import dataclasses

    from ..errors import UserError

    if folders:
        for f in folders:
            if not f.exists():
                raise UserError("--data folder does not exist", path=f, fix="check the path")
        cfg = dataclasses.replace(cfg, selfsup=dataclasses.replace(cfg.selfsup, folders=tuple(str(f) for f in folders)))
    if steps is not None:
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, steps=steps))
    return cfg


@click.group(context_settings=_CTX)
def cli():
    """Train the networks of vo_app: flow (stage 1), depth (stage 2, flow frozen), joint (stage 3)."""


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
    import torch

    from ..errors import UserError
    from ..train.config import load_train_config
    from ..train.flow_stage import train_flow
    from .common import ensure_writable_dir

    cfg = _with_overrides(load_train_config(config_path), folders, steps)
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
    return _report("flow", res, val, config_path, out_dir)


def _depth_stage(joint: bool, config_path, out_dir, resume, init, flow_init, device, folders, steps, max_steps, quiet):
    import torch

    from ..errors import UserError
    from ..train.depth_config import load_depth_config
    from ..train.depth_stage import train_depth
    from .common import ensure_writable_dir

    stage = "joint" if joint else "depth"
    cfg = _with_overrides(load_depth_config(config_path), folders, steps)
    ss_start = 0 if joint else cfg.selfsup.start_step
    if ss_start is not None and ss_start < cfg.optim.steps and not cfg.selfsup.folders:
        raise UserError(f"the {stage} stage trains on image folders from step {ss_start}", path=config_path,
                        fix="pass --data FOLDER (repeatable)" + ("" if joint else ", or set selfsup.start_step: null"))
    if init is not None and resume:
        raise UserError("--init starts a new run and --resume continues one", fix="pass only one of them")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ensure_writable_dir(out_dir)
    from ..train.data.depth_folders import check_depth_folder

    for f in cfg.selfsup.folders:  # before any work: fewer than 3 frames, mixed sizes, no intrinsics
        check_depth_folder(f)
    res = train_depth(cfg, out_dir, device=device, resume=resume, progress=not quiet, init=init, joint=joint,
                      flow_init=flow_init, max_steps=max_steps)
    m = res["metrics"]
    val = ""
    if "val_absrel" in m:
        val = f", held-out AbsRel {m['val_absrel']:.3f} (median-scaled) / {m['val_absrel_metric']:.3f} (metric)"
    extra = f"; flow weights: {Path(out_dir) / 'flow.pt'}" if joint else ""
    return _report(stage, res, val, config_path, out_dir, extra)


def _depth_options(f):
    opts = [
        click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
                     help="Training YAML, e.g. configs/train_depth_cpu.yaml."),
        click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
                     help="Run folder: last.pt, model.pt, best.pt, log.jsonl, curve.png."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt, exactly."),
        click.option("--init", "init", type=str, help="Start from these depth weights (path or URL; same architecture)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="auto: cuda when a GPU is visible (mixed precision there), else cpu."),
        click.option("--data", "folders", multiple=True, type=click.Path(path_type=Path),
                     help="Video folder for the self-supervised losses (repeatable; any vo-run layout with "
                          "intrinsics, 3+ frames of one size)."),
        click.option("--steps", type=click.IntRange(0), help="Override optim.steps of the config."),
        click.option("--max-steps", type=click.IntRange(0), help="Stop after this many steps in this invocation "
                     "(--resume continues)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@cli.command("depth", context_settings=_CTX)
@_depth_options
@click.option("--flow-init", "flow_init", type=str, help="Frozen flow weights when the config's flow.backend is pwc "
              "(overrides flow.weights).")
def depth(config_path, out_dir, resume, init, device, folders, steps, max_steps, quiet, flow_init):
    """Train the depth network: supervised warm start on synthetic depth, then TrianFlow's
    self-supervised losses (triangulation, reprojection, smoothness) on --data folders, flow frozen.

    Ctrl-C saves a checkpoint; --resume continues from it.
    """
    return _depth_stage(False, config_path, out_dir, resume, init, flow_init, device, folders, steps, max_steps, quiet)


@cli.command("joint", context_settings=_CTX)
@_depth_options
@click.option("--flow-init", "flow_init", type=str, help="Flow weights to start from (a vo-train flow checkpoint, "
              "e.g. weights/pwc_small_cpu.pt).")
def joint(config_path, out_dir, resume, init, device, folders, steps, max_steps, quiet, flow_init):
    """Train flow and depth together on --data folders with all the losses (stage 3).

    Start from a depth checkpoint (--init) and a flow checkpoint (--flow-init).
    """
    return _depth_stage(True, config_path, out_dir, resume, init, flow_init, device, folders, steps, max_steps, quiet)


@cli.command("cache", context_settings=_CTX)
@click.argument("stage", type=click.Choice(["flow", "depth"]))
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="The training YAML whose data.pool to render (a flow or depth config).")
@click.option("--cache-dir", type=click.Path(path_type=Path),
              help="Where to store the renders [default: the config's runtime.cache_dir].")
@click.option("--workers", type=click.IntRange(1), default=max(1, (os.cpu_count() or 2) - 1), show_default=True,
              help="Rendering processes.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def cache(stage, config_path, cache_dir, workers, quiet):
    """Render the pool of a config (data.pool) into its cache ahead of training.

    Stored entries are skipped, so it continues an interrupted fill; training reads the cache
    (runtime.cache_dir) and renders what is missing itself.
    """
    from ..errors import UserError
    from ..train.prerender import fill_cache

    if stage == "flow":
        from ..train.config import load_train_config as load
    else:
        from ..train.depth_config import load_depth_config as load
    cfg = load(config_path)
    if not cfg.data.pool:
        raise UserError("the config has no data.pool: every sample is rendered afresh and nothing is reused",
                        path=config_path, fix="set data.pool (e.g. 20000) and runtime.cache_dir")
    folder = cache_dir or cfg.runtime.cache_dir
    if not folder:
        raise UserError("no cache folder: the config has no runtime.cache_dir", path=config_path,
                        fix="pass --cache-dir DIR or set runtime.cache_dir")
    from .common import ensure_writable_dir

    ensure_writable_dir(Path(folder), "--cache-dir")
    res = fill_cache(stage, cfg, cache_dir=str(folder), workers=workers, progress=not quiet)
    rate = res["rendered"] / res["seconds"] if res["seconds"] > 0 else 0.0
    click.echo(f"vo-train cache {stage}: {res['rendered']} rendered ({rate:.1f}/s with {workers} processes), "
               f"{res['stored_before']} already stored, pool {res['pool']}: {folder}")
    return 0


def main(args: list[str] | None = None) -> None:
    run_command(cli, "vo-train", args)


if __name__ == "__main__":
    main()
