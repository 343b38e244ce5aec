"""Flow metrics, the Middlebury reader and ``vo-eval flow``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from _flowkit import one_line_error, tiny_run
from vo_app.eval.flow import (MIDDLEBURY_REAL, ZeroFlow, evaluate_backend, format_flow_table, middlebury_pairs,
                              pair_metrics, synthetic_pairs)

MIDDLEBURY = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury"
needs_middlebury = pytest.mark.skipif(not (MIDDLEBURY / "other-gt-flow").is_dir(), reason="shared Middlebury data absent")


def test_pair_metrics():
    gt = np.zeros((4, 5, 2), np.float32)
    gt[..., 0] = 10.0
    pred = gt.copy()
    pred[0, :, 0] += 4.0  # 5 pixels: error 4 > 3 px and > 5 % of 10
    pred[1, :, 1] += 0.4  # 5 pixels: small error
    valid = np.ones((4, 5), bool)
    noc = np.ones((4, 5), bool)
    noc[0] = False
    m = pair_metrics(pred, gt, valid, noc)
    assert m["epe"] == pytest.approx((5 * 4 + 5 * 0.4) / 20, abs=1e-6)
    assert m["epe_noc"] == pytest.approx(5 * 0.4 / 15, abs=1e-6)
    assert m["fl_all"] == pytest.approx(0.25)
    assert math.isnan(pair_metrics(pred, gt, valid)["epe_noc"])


def test_zero_flow_epe_is_the_mean_magnitude():
    pairs = synthetic_pairs(2, (128, 64))
    means, rows = evaluate_backend(ZeroFlow(), pairs)
    expect = np.mean([np.linalg.norm(p.gt, axis=-1)[p.valid].mean() for p in pairs])
    assert means["epe"] == pytest.approx(expect, rel=1e-6) and means["pairs"] == 2 and len(rows) == 2


@needs_middlebury
def test_middlebury_reader_and_dis_beats_zero():
    from vo_app.models.dis import DISFlow

    pairs = middlebury_pairs(MIDDLEBURY, MIDDLEBURY_REAL)
    assert [p.name for p in pairs] == list(MIDDLEBURY_REAL)
    for p in pairs:
        assert p.img1.ndim == 2 and p.gt.shape == p.img1.shape + (2,) and 0.9 < p.valid.mean() <= 1.0
        assert np.abs(p.gt[p.valid]).max() < 50
    dis, _ = evaluate_backend(DISFlow("medium"), pairs[:2])
    zero, _ = evaluate_backend(ZeroFlow(), pairs[:2])
    assert dis["epe"] < 0.5 * zero["epe"]


def test_table_format():
    res = {"zero flow": {"synthetic (held-out)": {"epe": 1.0, "epe_noc": math.nan, "fl_all": 0.5, "pairs": 2,
                                                  "sec_per_pair": 0.0}}}
    table = format_flow_table(res)
    assert "| synthetic (held-out) (2) | zero flow | 1.000 | n/a | 50.0% |" in table


def _flow_main():
    from vo_app.cli.eval import main

    return main


def test_vo_eval_flow_cli(tmp_path, run_cli):
    weights = tiny_run() / "model.pt"
    args = ["flow", "--weights", weights, "--flow", "zero", "--flow", "dis", "--flow", "pwc-untrained", "--flow", "pwc",
            "--no-middlebury", "--synthetic-pairs", "2", "--synthetic-size", "128x64", "--json", tmp_path / "f.json"]
    res = run_cli(args, main=_flow_main())
    assert res.code == 0, res.err
    for label in ("zero flow", "DIS (medium)", "PWC untrained", "PWC model.pt"):
        assert label in res.out
    data = json.loads((tmp_path / "f.json").read_text())
    assert set(data["results"]) == {"zero flow", "DIS (medium)", "PWC untrained", "PWC model.pt"}


@pytest.mark.parametrize("args,words", [
    (["flow", "--flow", "pwc", "--no-middlebury"], "--weights"),
    (["flow", "--weights", "/no/such/ckpt.pt", "--no-middlebury", "--synthetic-pairs", "1"], "ckpt.pt"),
    (["flow", "--middlebury", "/no/such/dir"], "Middlebury"),
    (["flow", "--no-middlebury", "--synthetic-pairs", "0"], "nothing to evaluate"),
    (["flow", "--hybrid-margin", "1.5", "--no-middlebury"], "--hybrid-margin"),
])
def test_vo_eval_flow_errors(run_cli, args, words):
    assert words in one_line_error(run_cli(args, main=_flow_main()), "vo-eval")


def test_vo_eval_flow_hybrid_margin_reaches_the_backend(tmp_path, run_cli, monkeypatch):
    from vo_app.models import hybrid

    seen = []
    init = hybrid.HybridFlow.__init__

    def spy(self, *a, **k):
        init(self, *a, **k)
        seen.append(self.margin)

    monkeypatch.setattr(hybrid.HybridFlow, "__init__", spy)
    args = ["flow", "--weights", tiny_run() / "model.pt", "--flow", "pwc+dis", "--hybrid-margin", "-0.2",
            "--no-middlebury", "--synthetic-pairs", "1", "--synthetic-size", "128x64"]
    res = run_cli(args, main=_flow_main())
    assert res.code == 0, res.err
    assert seen == [-0.2] and "PWC+DIS model.pt" in res.out


def test_checkpoint_labels_stay_apart_when_file_names_repeat():
    from vo_app.cli.eval_flow import _labels

    assert _labels(("runs/a/model.pt", "runs/b/model.pt", "w/x.pt")) == ["a/model.pt", "b/model.pt", "x.pt"]
