"""``vo-run``: monocular VO over an image folder (or the built-in synthetic demo)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import UserError
from ..pipeline.config import DIS_PRESETS
from .common import ensure_writable_dir, parse_size, run_command


def demo_cache_dir() -> Path:
    return Path(os.environ.get("VO_APP_CACHE", Path.home() / ".cache" / "vo_app"))


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("sequence", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder [default: runs/<sequence name>].")
@click.option("--config", "preset", multiple=True,
              help="Preset name (kitti, tum, indoor, demo, general; shipped in vo_app/configs/) or a YAML path; repeatable: "
                   "later files override earlier ones (--config kitti --config mine.yaml) [default: picked by the "
                   "layout: kitti for KITTI, tum for TUM, general for a plain folder or a video].")
@click.option("--flow", type=click.Choice(["dis", "pwc", "pwc+dis"]),
              help="Flow backend [default: dis]. pwc+dis: the network's flow initialises DIS.")
@click.option("--weights", type=click.Path(path_type=Path), help="Flow network checkpoint (for --flow pwc, pwc+dis).")
@click.option("--dis", "dis_preset", type=click.Choice(DIS_PRESETS),
              help="DIS preset of --flow dis, and of the refinement in --flow pwc+dis [default: the preset's: "
                   "medium; fullres for demo and indoor]. "
                   "fullres: full-resolution DIS with sparser patches, about medium's cost; fine: "
                   "full-resolution DIS, denser, about 2-4.5x slower.")
@click.option("--scale", type=click.Choice(["triangulation", "rgbd", "depth", "fused"]),
              help="Where translation norms come from: the triangulation chain, RGB-D depth images, the depth "
                   "network (--depth-weights), or the chain fused with the ground plane (--camera-height) and the "
                   "depth network [default: fused with --depth-weights or --camera-height, else the preset's: "
                   "fused in kitti, rgbd in tum, triangulation in the others].")
@click.option("--depth-weights", type=click.Path(path_type=Path),
              help="Depth network checkpoint (from vo-train depth, e.g. weights/depth_small_cpu.pt) for --scale depth|fused.")
@click.option("--camera-height", type=click.FloatRange(min=0, min_open=True),
              help="Camera height above the road in metres, for the ground-plane scale of --scale fused "
                   "(given here without --scale, it selects fused) [default: the preset's; 1.65 in kitti].")
@click.option("--window", type=click.IntRange(min=0),
              help="Keyframes the back end optimises together (a sliding window with the tracks, the two-view "
                   "priors and the scale sources as factors; docs/backend.md); 0 writes the front end's chain, "
                   "the window's initial guess, as it is (arbitrary units) [default: 7 where --scale fused or "
                   "depth gives an absolute source, and in indoor; else 0].")
@click.option("--layout", type=click.Choice(["auto", "kitti", "tum", "folder", "video"]), default="auto", show_default=True)
@click.option("--intrinsics", type=click.Path(path_type=Path),
              help="Text file with 'fx fy cx cy [k1 k2 p1 p2 [k3]]' at the images' native size (plain folders, videos, TUM).")
@click.option("--fov", type=click.FloatRange(0, 180, min_open=True, max_open=True),
              help="Horizontal field of view in degrees, when the intrinsics are unknown: fx = fy = (W/2)/tan(fov/2), "
                   "principal point at the centre (plain folders, videos).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="Frame rate of a plain folder or a video: timestamps = index / fps [default: 10 for folders "
                   "without a times file; a video's own timestamps].")
@click.option("--camera", type=click.IntRange(0, 3), help="KITTI camera: 0 (image_0, gray) or 2 (image_2, colour).")
@click.option("--size", "size_text", help="Working size WIDTHxHEIGHT (used as given), or 'native' [default: the preset's: "
                                         "832x256 for kitti; 832 wide with the native aspect ratio for general].")
@click.option("--stride", type=click.IntRange(1), default=1, show_default=True, help="Use every N-th frame.")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True, help="First frame index.")
@click.option("--max-frames", type=click.IntRange(2), help="Process at most N frames.")
@click.option("--seed", type=click.IntRange(0), help="Seed of the match sampling and RANSAC [default: 0].")
@click.option("--backend", type=click.Choice(["auto", "cpp", "reference"]), help="Geometry backend [default: auto].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]),
              help="Where the batched pair geometry runs; auto: the CPU kernels, which measured faster than "
                   "the CUDA ones on an H100 machine [default: auto]. The DIS flow always runs on the CPU.")
@click.option("--batch", type=click.IntRange(1, 256),
              help="Offline: estimate N pairs at once through the batched geometry, then chain them in order "
                   "(same trajectory as streaming) [default: 1, streaming].")
@click.option("--pipeline/--no-pipeline", default=None,
              help="Read frames and compute the flow in a background thread while the loop works [default: on].")
@click.option("--demo", is_flag=True, help="Run the built-in synthetic demo (the default without SEQUENCE).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--eval", "evaluate", is_flag=True,
              help="With ground truth: print the vo-eval table and save eval.json and plots in --out.")
@click.option("--viewer", is_flag=True, help="Live open3d view: trajectory, camera and point cloud (own process).")
@click.option("--viewer-close", is_flag=True, help="Close the viewer when the run ends instead of waiting for you.")
@click.option("--viewer-snapshot", type=click.Path(path_type=Path), hidden=True,
              help="Save the viewer's final view to this PNG (docs, tests).")
@click.option("--save-ply", is_flag=True, help="Save the triangulated point cloud as map.ply in --out.")
def cli(sequence, out_dir, preset, flow, weights, dis_preset, scale, depth_weights, camera_height, window, layout, intrinsics, fov, fps, camera, size_text, stride, start,
        max_frames, seed, backend, device, batch, pipeline, demo, quiet, evaluate, viewer, viewer_close, viewer_snapshot,
        save_ply):
    """Estimate the camera trajectory of SEQUENCE (KITTI odometry, TUM RGB-D, a folder of images or a video).

    Without --config the input picks the preset: KITTI -> kitti, TUM -> tum, anything else -> general.

    Writes trajectory_kitti.txt, trajectory_tum.txt and report.json to --out
    (and map.ply with --save-ply; eval.json and plots with --eval).
    Without SEQUENCE, renders the synthetic demo sequence and runs on it.
    """
    from ..io import open_sequence
    from ..pipeline.config import load_config
    from ..pipeline.odometry import resolve_device, run_odometry
    from .run_extras import RunExtras

    if sequence is None or demo:
        if sequence is not None:
            raise UserError("--demo takes no SEQUENCE", fix="drop SEQUENCE or --demo")
        from ..synth import ensure_demo_sequence

        click.echo("vo-run: rendering the synthetic demo sequence (once; cached)...", err=True)
        sequence = Path(ensure_demo_sequence(demo_cache_dir() / "demo"))
        preset = preset or ("demo",)
        out_dir = out_dir or Path("runs/demo")
    picked = None
    if not preset:  # the layout picks the preset (vo_app/pipeline/config.py LAYOUT_PRESETS)
        from ..io import detect_layout
        from ..pipeline.config import preset_for_layout

        picked = preset_for_layout(detect_layout(sequence) if layout == "auto" else layout)
        preset = (picked,)
    if scale is None and (depth_weights is not None or camera_height is not None):
        scale = "fused"  # an absolute scale source given on the command line is meant to be used
    cfg = load_config(preset, flow=flow, weights=None if weights is None else str(weights), dis_preset=dis_preset,
                      scale=scale, seed=seed,
                      backend=backend, device=device, batch=batch, pipeline=pipeline,
                      depth_weights=None if depth_weights is None else str(depth_weights), camera_height=camera_height,
                      window=window)
    if camera_height is not None and cfg.scale != "fused":
        print(f"warning: --camera-height is used by --scale fused only; ignored with --scale {cfg.scale}",
              file=sys.stderr)
    resolve_device(cfg.device)  # --device cuda without a GPU: a one-line error before any work
    if size_text is not None:
        cfg.size = parse_size(size_text)
    if not Path(sequence).exists():
        raise UserError("sequence folder does not exist", path=sequence, fix="check the path")
    seq = open_sequence(sequence, layout=layout, intrinsics=intrinsics, size=cfg.size, stride=stride, start=start,
                        max_frames=max_frames, color=cfg.color, camera=camera, fps=fps, fov=fov)
    hooks = click.get_current_context().obj  # vo-batch's worker (vo_app.cli.batching.worker.RunHooks), else None
    if hooks is not None:
        hooks.opened(seq)
    out_dir = ensure_writable_dir(out_dir or Path("runs") / seq.name)
    from ..pipeline.output import remove_previous_run

    removed = remove_previous_run(out_dir)  # no stale eval.json, map.ply or plots beside the new run
    if removed:
        click.echo(f"vo-run: removed the previous run's {', '.join(removed)} from {out_dir}", err=True)
    from .summary import aspect_warning

    if aspect_warning(seq):
        click.echo(aspect_warning(seq), err=True)
    extras = RunExtras(seq, viewer=viewer, viewer_close=viewer_close, save_ply=save_ply, snapshot=viewer_snapshot)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(seq), unit="frame", desc=f"vo-run {seq.name}", dynamic_ncols=True)
    try:
        try:
            report = run_odometry(seq, cfg, out_dir, progress=bar.update if bar is not None else
                                  getattr(hooks, "progress", None),
                                  on_frame=extras.on_frame)
        finally:
            if bar is not None:
                bar.close()
        _finish(seq, report, out_dir, extras, evaluate, picked)
    except BaseException:
        extras.close(aborted=True)
        raise
    extras.close()


def _finish(seq, report: dict, out_dir: Path, extras, evaluate: bool, picked: str | None = None) -> None:
    """After the loop: summary, map.ply, the --eval table, the accuracy in report.json."""
    from .summary import print_summary

    acc = print_summary(seq, report, out_dir, picked)
    from .run_extras import damaged_frame_lines

    for line in damaged_frame_lines(report):
        click.echo(line, err=True)
    extras.write_map(out_dir)
    if evaluate:
        from .run_eval import evaluate_run

        evaluate_run(seq, out_dir)
    if acc is not None:
        from ..io.atomic import atomic_write_json

        report["accuracy"] = acc
        atomic_write_json(out_dir / "report.json", report)


def main(args: list[str] | None = None) -> None:
    run_command(cli, "vo-run", args)


if __name__ == "__main__":
    main()
