"""Data-parallel training under ``torchrun`` (``vo_app/train/distributed.py``, ``vo_app/train/loop.py``).

Two gloo processes on the CPU train the tiny configurations for a few steps; with
``VO_TRAIN_DUMP_WEIGHTS=1`` each rank writes ``weights_rank{r}.pt`` at the end of ``run()``,
so the test can check that the ranks hold the same weights and that only rank 0 wrote.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from _flowkit import REPO, tiny_config
from vo_app.train.loop import StopFlag, loader

DEPTH_TINY = REPO / "configs" / "train_depth_tiny.yaml"
FLOW_TINY = REPO / "configs" / "train_flow_tiny.yaml"


def _gloo() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_gloo_available()


needs_gloo = pytest.mark.skipif(not _gloo(), reason="torch.distributed (gloo backend) is not available in this build")


# ------------------------------------------------------------------ the data stream of each rank
def _indices(it) -> list[list[int]]:
    return [b.tolist() for b in it]


def test_loader_gives_each_rank_its_samples_of_the_step():
    ds = list(range(100))  # sample i is the number i
    # one process: step s uses samples s*B .. s*B+B-1, as before data-parallel training existed
    assert _indices(loader(ds, 2, 4, 3, 0)) == [[6, 7, 8], [9, 10, 11]]
    assert _indices(loader(ds, 2, 4, 3, 0, rank=0, world=1)) == [[6, 7, 8], [9, 10, 11]]
    # rank r of w: (s*w + r)*B ..; the ranks of a step share its w*B consecutive samples
    assert _indices(loader(ds, 2, 4, 3, 0, rank=1, world=2)) == [[15, 16, 17], [21, 22, 23]]
    assert _indices(loader(ds, 2, 4, 3, 0, rank=0, world=2)) == [[12, 13, 14], [18, 19, 20]]
    union = sorted(i for r in range(3) for b in _indices(loader(ds, 1, 5, 2, 0, rank=r, world=3)) for i in b)
    assert union == list(range(6, 30))  # steps 1..4 of 3 ranks x 2: each sample once, none skipped


def test_stop_flag_takes_a_relayed_second_ctrl_c_as_the_same_request():
    # torchrun relays the terminal's SIGINT to its workers, so each one gets it twice
    with StopFlag(grace=5.0) as flag:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
    assert flag.stop
    with pytest.raises(KeyboardInterrupt), StopFlag() as flag:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)


# ------------------------------------------------------------------ two processes
def _torchrun(*args, script=None) -> subprocess.CompletedProcess:
    """``vo-train ARGS --quiet`` (or ``python SCRIPT ARGS --quiet``) in 2 processes; each dumps its weights."""
    env = {**os.environ, "VO_TRAIN_DUMP_WEIGHTS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           *([str(script)] if script else ["-m", "vo_app.cli.train"]), *map(str, args), "--quiet"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)  # a hang fails


def _ranks(out) -> tuple[dict, dict]:
    a, b = (torch.load(out / f"weights_rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), k  # the same weights on every rank, BatchNorm statistics included
    return a, b


def _loss_steps(out) -> list[int]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if "loss" in r]


@needs_gloo
def test_two_processes_train_the_depth_stage_in_step(tmp_path):
    from vo_app.models.depth.net import DepthNet
    from vo_app.synth import write_sequence
    from vo_app.train.depth_config import load_depth_config

    video = tmp_path / "seq"
    write_sequence(video, layout="kitti", n_frames=6, width=256, height=96, motion="forward", seed=4, write_flow=False)
    cfg_path = tmp_path / "depth.yaml"  # supervised steps 1-2, then the self-supervised losses (per-rank seeds)
    cfg_path.write_text(DEPTH_TINY.read_text() + "selfsup: {start_step: 2}\n")
    out = tmp_path / "run"
    res = _torchrun("depth", "--config", cfg_path, "--out", out, "--data", video, "--steps", 4)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("vo-train depth: step 4") == 1, res.stdout  # the summary of rank 0 only
    w, _ = _ranks(out)
    torch.manual_seed(0)
    init = DepthNet(load_depth_config(cfg_path).model).state_dict()
    assert any(not torch.equal(init[k], w[f"0.{k}"]) for k in init)  # trained
    assert _loss_steps(out) == [1, 2, 3, 4]  # one line per step: rank 0 writes the log
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["trainer"]["step"] == 4 and ck["trainer"]["world"] == 2 and ck["training"]["samples"] == 4 * 2 * 2
    assert all(torch.equal(v, w[f"0.{k}"]) for k, v in ck["model"].items())
    assert (out / "config.yaml").is_file() and (out / "curve.png").is_file()


@needs_gloo
def test_two_processes_of_batch_1_match_one_process_of_batch_2(tmp_path):
    """The mean of the ranks' gradients is the gradient of the whole step's batch (no BatchNorm in PWC-Net)."""
    from vo_app.models.pwc.net import PWCNet
    from vo_app.train.flow_stage import train_flow

    cfg_path = tmp_path / "flow_b1.yaml"
    cfg_path.write_text(FLOW_TINY.read_text().replace("batch_size: 2", "batch_size: 1"))
    out = tmp_path / "two"
    res = _torchrun("flow", "--config", cfg_path, "--out", out, "--steps", 3)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("vo-train flow: step 3") == 1, res.stdout
    w, _ = _ranks(out)
    assert _loss_steps(out) == [1, 2, 3]

    cfg = tiny_config(steps=3)  # batch 2: the samples 2s, 2s+1 of step s, which the two ranks share above
    cfg = dataclasses.replace(cfg, val=dataclasses.replace(cfg.val, pairs=0))
    train_flow(cfg, tmp_path / "one", progress=False)
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    torch.manual_seed(cfg.seed)
    init = PWCNet(cfg.model).state_dict()
    moved = sum(float((one[k] - init[k]).norm() ** 2) for k in init) ** 0.5
    diff = sum(float((one[k] - w[f"0.{k}"]).norm() ** 2) for k in init) ** 0.5
    assert moved > 0 and diff < 1e-2 * moved, (diff, moved)  # equal up to the order of the float sums


POISON = """
import sys

from vo_app.cli.train import main
from vo_app.train import depth_stage

orig = depth_stage.DepthTrainer.supervised_terms


def poisoned(self, batch):  # a NaN loss on rank 1 only, at step 3
    loss, s = orig(self, batch)
    return (loss * float("nan"), s) if (self.rank, self.step) == (1, 2) else (loss, s)


depth_stage.DepthTrainer.supervised_terms = poisoned
main(sys.argv[1:])
"""


@needs_gloo
def test_a_nan_on_one_rank_stops_every_rank(tmp_path):
    script = tmp_path / "poisoned_train.py"
    script.write_text(POISON)
    out = tmp_path / "run"
    res = _torchrun("depth", "--config", DEPTH_TINY, "--out", out, "--steps", 4, script=script)
    assert res.returncode != 0  # the workers exit with 3 (stopped on a non-finite loss)
    assert res.stderr.count("non-finite loss at step 3 (on at least one rank)") == 1, res.stderr
    _ranks(out)  # both ranks left run() (no rank waits for the other) with the weights of step 2
    assert _loss_steps(out) == [1, 2]
