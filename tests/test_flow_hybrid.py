"""The hybrid flow backend ``pwc+dis`` (vo_app/models/hybrid.py): DIS started from a network's flow."""
from __future__ import annotations

import numpy as np
import pytest

from vo_app.eval.flow import pair_metrics, synthetic_pairs
from vo_app.models import make_flow_backend
from vo_app.models.dis import DISFlow, to_gray_u8
from vo_app.models.hybrid import HybridFlow, select_flow, warp_error


class ExactNetwork:
    """Stands in for the network: returns the pair's true forward flow (backward: its negation)."""

    def __init__(self, pair):
        self.gt = pair.gt.astype(np.float32)

    def __call__(self, img1, img2):
        return self.gt.copy(), -self.gt


@pytest.fixture(scope="module")
def large_motion_pairs():
    return synthetic_pairs(4, (384, 128))


def test_dis_uses_the_initial_flow(large_motion_pairs):
    """With an exact initial flow DIS ends far closer to the truth than from zero on large motions."""
    dis_epe, hyb_epe = [], []
    for p in large_motion_pairs:
        dis_epe.append(pair_metrics(DISFlow("medium")(p.img1, p.img2)[0], p.gt, p.valid)["epe"])
        hyb = HybridFlow(ExactNetwork(p), "medium", window=0)(p.img1, p.img2)[0]
        hyb_epe.append(pair_metrics(hyb, p.gt, p.valid)["epe"])
    assert np.mean(hyb_epe) < 0.8 * np.mean(dis_epe)
    assert max(hyb_epe) < max(dis_epe)


def test_plain_dis_is_not_disturbed_by_an_earlier_initial_flow(large_motion_pairs):
    """OpenCV keeps an initial flow inside the DIS object; the hybrid's plain DIS must equal a fresh one."""
    p, q = large_motion_pairs[:2]
    hyb = HybridFlow(ExactNetwork(p), "medium")
    hyb(p.img1, p.img2)
    g1, g2 = to_gray_u8(q.img1), to_gray_u8(q.img2)
    np.testing.assert_array_equal(hyb._plain.calc(g1, g2, None), DISFlow("medium")(q.img1, q.img2)[0])


def test_selection_keeps_the_flow_that_explains_the_images():
    rng = np.random.default_rng(0)
    g1 = (rng.random((64, 96)) * 255).astype(np.uint8)
    import cv2

    g1 = cv2.GaussianBlur(g1, (5, 5), 1.0)
    g2 = np.roll(g1, 3, axis=1)  # I1(p) = I2(p + (3, 0))
    true = np.zeros((64, 96, 2), np.float32)
    true[..., 0] = 3.0
    wrong = np.zeros_like(true)
    assert warp_error(g1, g2, true).mean() < 0.2 * warp_error(g1, g2, wrong).mean()
    chosen = select_flow(g1, g2, [wrong, true])
    inner = chosen[8:-8, 8:-8, 0]  # away from the wrap-around columns
    assert (inner == 3.0).mean() > 0.99
    with pytest.raises(ValueError, match=r"\[H,W,2\]"):
        warp_error(g1, g2, true[..., :1])


def test_selection_margin_favours_the_first_candidate():
    """A later candidate wins only where its error is below (1 - margin) x the first one's."""
    import cv2

    rng = np.random.default_rng(1)
    g1 = cv2.GaussianBlur((rng.random((64, 96)) * 255).astype(np.uint8), (5, 5), 1.0)
    g2 = np.roll(g1, 3, axis=1)
    a, b = np.zeros((64, 96, 2), np.float32), np.zeros((64, 96, 2), np.float32)
    a[..., 0], b[..., 0] = 2.6, 2.7  # b is a little better everywhere
    ea, eb = warp_error(g1, g2, a)[8:-8, 8:-8], warp_error(g1, g2, b)[8:-8, 8:-8]
    ratio = np.median(eb / ea)
    assert 0.5 < ratio < 0.95
    for margin in (0.0, (1 - ratio) / 2, 0.6, -0.5):
        pick_b = select_flow(g1, g2, [a, b], margin=margin)[8:-8, 8:-8, 0] == np.float32(2.7)
        np.testing.assert_array_equal(pick_b, eb < (1 - margin) * ea)
    assert (select_flow(g1, g2, [a, b], margin=0.6)[8:-8, 8:-8, 0] == np.float32(2.6)).mean() > 0.9
    with pytest.raises(ValueError, match="margin"):
        HybridFlow(lambda x, y: None, margin=1.0)


def test_window_must_be_odd_or_off():
    with pytest.raises(ValueError, match="odd"):
        HybridFlow(lambda a, b: None, window=4)


def test_without_weights_it_is_dis_with_a_one_line_warning(capsys):
    flow = make_flow_backend("pwc+dis", weights=None)
    err = capsys.readouterr().err.strip().splitlines()
    assert isinstance(flow, DISFlow)
    assert len(err) == 1 and "plain DIS" in err[0] and "--weights" in err[0]


def test_vo_run_pwc_dis_without_weights_runs_as_dis(forward_seq, tmp_path, run_cli):
    res = run_cli([forward_seq, "--out", tmp_path / "out", "--config", "demo", "--flow", "pwc+dis", "--quiet"])
    assert res.code == 0, res.err
    assert sum("plain DIS" in ln for ln in res.err_lines) == 1
    rows = np.loadtxt(tmp_path / "out" / "trajectory_kitti.txt")
    assert rows.ndim == 2 and np.isfinite(rows).all()


def test_hybrid_window_option_is_checked(forward_seq, tmp_path, run_cli):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("hybrid_window: 4\n")
    res = run_cli([forward_seq, "--out", tmp_path / "out", "--config", cfg, "--quiet"])
    assert res.code == 2 and len(res.err_lines) == 1 and "hybrid_window" in res.err_lines[0]
    assert not (tmp_path / "out" / "trajectory_kitti.txt").exists()
