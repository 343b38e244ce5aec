"""Record the back end's inputs of one run, then replay them with other window settings in seconds.

The front end does not depend on the back end, so the calls that ``vo-run`` makes into
``WindowBackEnd`` (each frame's tracks, relative motion, keyframe flag and absolute step lengths)
replayed into a fresh back end give the run's trajectory bit for bit; a setting of the window can then
be tried without running the flow and the geometry again (docs/backend.md, "What was tried and left").

    .venv/bin/python benchmarks/window_replay.py record SEQ OUT.pkl [--config kitti] [--set KEY=VALUE ...]
    .venv/bin/python benchmarks/window_replay.py replay OUT.pkl [--set KEY=VALUE ...] [--param KEY=VALUE ...]
        [--module KEY=VALUE ...]

``record`` runs ``vo-run SEQ`` in this process with the window in this process (``window_process:
false``; the same poses) and pickles the calls and the ground truth (the sequence needs one).
``replay`` prints the ATE (Sim(3)), the KITTI segment error (100-200 m for runs over 100 frames, else
5-40 m), the rotation error and the back end's CPU time per keyframe; ``--set`` changes a run option
(``VOConfig``), ``--param`` a field of ``WindowParams`` (``window/params.py``), ``--module`` a constant
of ``pipeline/backend.py`` (e.g. ``WINDOW_CHAIN_RATIO_FACTOR=1``).  Recordings are large (tens of MB
for 300 frames): keep them out of the repository.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import pickle
import sys
import time
import types
from pathlib import Path

import numpy as np
import yaml

from vo_app.eval.association import paths_from_poses
from vo_app.eval.evaluate import evaluate_pair
from vo_app.io import open_sequence
from vo_app.io.yaml_file import value_like
from vo_app.pipeline import backend
from vo_app.pipeline.config import load_config
from vo_app.pipeline.odometry import run_odometry


def _pairs(items: list[str]) -> dict:
    out = {}
    for kv in items:
        if "=" not in kv:
            sys.exit(f"window_replay: expected KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        out[k] = yaml.safe_load(v)  # as a YAML value: 1, 0.5, true, [1, 2]
    return out


def record(seq_dir: Path, out: Path, presets: list[str], settings: dict) -> None:
    calls: list = []
    meta: dict = {}
    base = backend.WindowBackEnd

    class Recording(base):
        def __init__(self, cfg, K, size, absolute=False):
            super().__init__(cfg, K, size, absolute)
            meta.update(K=np.array(K), size=tuple(size), absolute=absolute, cfg=cfg)

        def start(self, frame):
            calls.append(("start", frame))
            return super().start(frame)

        def frame(self, fr, T_rel, keyframe, posed_by_f, absolute):
            d = fr.dense
            dense = None if d is None or d.ids is None else types.SimpleNamespace(
                ids=d.ids.copy(), keep=d.kept().copy(), p=d.p.copy(), q=d.q.copy())
            lite = types.SimpleNamespace(ref=fr.ref_frame.index, idx=fr.frame.index, dense=dense, ratio=fr.ratio,
                                         ratio_parallax=fr.ratio_parallax, bridged_ratio=fr.bridged_ratio)
            calls.append(("frame", lite, np.array(T_rel), keyframe, posed_by_f, copy.deepcopy(absolute)))
            return super().frame(fr, T_rel, keyframe, posed_by_f, absolute)

    backend.WindowBackEnd = Recording
    try:
        cfg = load_config(presets, **{**settings, "window_process": False})
        if not cfg.window:
            sys.exit("window_replay: the run has no window (--window 0, or no absolute source): --set window=7")
        seq = open_sequence(seq_dir, size=cfg.size)
        if seq.gt_poses is None:
            sys.exit(f"window_replay: {seq_dir} has no ground truth to score replays against")
        t = time.perf_counter()
        report = run_odometry(seq, cfg, out.with_suffix(".run"))
    finally:
        backend.WindowBackEnd = base
    rows = [p["frame"] for p in report["pairs"]]
    first = min([c[1] for c in calls if c[0] == "start"], default=0)
    meta.update(calls=calls, rows=[first] + rows, gt=np.asarray(seq.gt_poses))
    with open(out, "wb") as f:
        pickle.dump(meta, f)
    print(f"recorded {len(calls)} calls of {seq_dir} in {time.perf_counter() - t:.1f} s -> {out}")


class _Front:
    """What the back end reads of a front-end record, rebuilt from a recorded call."""

    def __init__(self, lite):
        self.ref_frame = types.SimpleNamespace(index=lite.ref)
        self.frame = types.SimpleNamespace(index=lite.idx)
        self.ratio, self.ratio_parallax, self.bridged_ratio = lite.ratio, lite.ratio_parallax, lite.bridged_ratio
        d = lite.dense
        self.dense = None if d is None else types.SimpleNamespace(ids=d.ids, p=d.p, q=d.q, kept=lambda k=d.keep: k)


def replay(rec: dict, settings: dict, params: dict, module: dict) -> dict:
    """The recorded run's back end again with the changes; returns the scores and the estimate ``[N,4,4]``."""
    cfg = rec["cfg"]
    cfg = dataclasses.replace(cfg, **{k: value_like(v, getattr(cfg, k)) for k, v in settings.items()})
    saved = {k: getattr(backend, k) for k in module}
    orig_params = backend.window_params
    try:
        for k, v in module.items():
            setattr(backend, k, value_like(v, saved[k]))
        backend.window_params = lambda c: dataclasses.replace(
            orig_params(c), **{k: value_like(v, getattr(orig_params(c), k)) for k, v in params.items()})
        be = backend.WindowBackEnd(cfg, rec["K"], rec["size"], absolute=rec["absolute"])
        t = time.process_time()
        for c in rec["calls"]:
            if c[0] == "start":
                be.start(c[1])
            else:
                _, lite, T, keyframe, posed_by_f, absolute = c
                be.frame(_Front(lite), T, keyframe, posed_by_f, absolute)
        be.close()
        cpu = time.process_time() - t
        est = np.stack([be.row_pose(f) for f in rec["rows"]])
    finally:
        backend.window_params = orig_params
        for k, v in saved.items():
            setattr(backend, k, v)
    gt = rec["gt"][rec["rows"]]
    lengths = (100, 200) if len(gt) > 100 else (5, 10, 20, 40)
    r = evaluate_pair(paths_from_poses(gt, est), "sim3", lengths=lengths)
    path = float(np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1).sum())
    return {"ate_m": r["ate_m"]["rmse"], "ate_pct": 100 * r["ate_m"]["rmse"] / path, "t_err_pct": r["kitti"]["t_err_pct"],
            "r_err": r["kitti"]["r_err_deg_per_100m"], "cpu_ms_per_keyframe": 1000 * cpu / max(len(be.records), 1),
            "levels": be.levels_record, "est": est}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("seq", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--config", action="append", default=None, help="presets [default: kitti]")
    r.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE")
    p = sub.add_parser("replay")
    p.add_argument("recording", type=Path)
    p.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--param", dest="params", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--module", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    if args.cmd == "record":
        record(args.seq, args.out, args.config or ["kitti"], _pairs(args.settings))
        return
    with open(args.recording, "rb") as f:
        rec = pickle.load(f)
    o = replay(rec, _pairs(args.settings), _pairs(args.params), _pairs(args.module))
    print(f"ATE {o['ate_m']:.4f} m ({o['ate_pct']:.3f} % of the path), segment {o['t_err_pct']:.3f} %, "
          f"rotation {o['r_err']:.3f} deg/100 m, back end CPU {o['cpu_ms_per_keyframe']:.1f} ms per keyframe")


if __name__ == "__main__":
    main()
