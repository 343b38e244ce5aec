"""Shared helpers of the learned-flow tests: the tiny training config and a once-per-session checkpoint."""
from __future__ import annotations

import atexit
import dataclasses
import functools
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "train_flow_tiny.yaml"


def tiny_config(**optim):
    from vo_app.train.config import load_train_config

    cfg = load_train_config(TINY)
    if optim:
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, **optim))
    return cfg


@functools.lru_cache(maxsize=None)
def tiny_run() -> Path:
    """A finished 6-step tiny run folder (last.pt, model.pt, log.jsonl, ...), made once per session."""
    from vo_app.train.flow_stage import train_flow

    d = Path(tempfile.mkdtemp(prefix="vo_flow_tiny_"))
    atexit.register(shutil.rmtree, d, True)
    train_flow(tiny_config(), d / "run", progress=False)
    return d / "run"


def one_line_error(res, prog: str) -> str:
    """Exit 2, a single ``<prog>: error: ...`` line on stderr and no traceback; returns the line."""
    assert res.code == 2, (res.code, res.err)
    assert "Traceback" not in res.err and "Traceback" not in res.out
    assert len(res.err_lines) == 1, res.err
    assert res.err_lines[0].startswith(f"{prog}: error: "), res.err_lines[0]
    return res.err_lines[0]
