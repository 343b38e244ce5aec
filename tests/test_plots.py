"""The top-view plot: the estimate is drawn over the ground truth, each has a legend entry, and both are in view."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection

from vo_app.eval import evaluate_pair, paths_from_poses
from vo_app.eval.plots import plot_top_view, top_view_figure

from test_eval import make_trajectories  # noqa: E402  (the trajectory pair of the vo-eval tests)


def _series(gt: np.ndarray, est: np.ndarray, align: str = "sim3") -> dict:
    return evaluate_pair(paths_from_poses(gt, est), align=align, lengths="auto")["series"]


def _straight(n: int = 40, lateral: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """A 60 m straight drive along z (KITTI 06-like) and an estimate off it by up to ``lateral`` m."""
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, 2, 3] = np.linspace(0.0, 60.0, n)
    gt[:, 1, 3] = 0.3 * np.sin(np.linspace(0, 2, n))  # a little up and down: not a degenerate line for Umeyama
    est = gt.copy()
    est[:, 0, 3] = lateral * np.sin(np.linspace(0, 3, n))
    return gt, est


def _drawn(fig):
    FigureCanvasAgg(fig)
    fig.canvas.draw()  # applies the equal aspect to the limits
    return fig.axes[0]


@pytest.mark.parametrize("case", ["turning", "straight"])
def test_estimate_over_ground_truth_with_legend_and_both_in_view(case):
    gt, est = make_trajectories(n=60) if case == "turning" else _straight()
    series = _series(gt, est)
    ax = _drawn(top_view_figure(series, "t", "xz"))
    (gt_line,) = [ln for ln in ax.get_lines() if ln.get_label() == "ground truth"]
    (est_lc,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert est_lc.get_zorder() > gt_line.get_zorder()  # drawn over it
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["ground truth", "estimate (sim3-aligned)", "start"]
    # the legend key of the estimate shows the colour map, not a default colour
    key = ax.get_legend().legend_handles[1]
    assert np.allclose(key.get_color(), est_lc.cmap(0.55))
    # both curves inside the limits, with a margin, at equal scale
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for xyz in (series["gt_xyz"], series["est_xyz"]):
        x, z = xyz[:, 0], xyz[:, 2]
        span = max(np.ptp(x), np.ptp(z))
        assert x0 < x.min() - 0.02 * span and x.max() + 0.02 * span < x1
        assert y0 < z.min() - 0.02 * span and z.max() + 0.02 * span < y1
    bbox = ax.get_window_extent()
    assert (x1 - x0) / bbox.width == pytest.approx((y1 - y0) / bbox.height, rel=1e-3)
    # the estimate's colours are its ATE
    assert np.ptp(est_lc.get_array()) > 0 and est_lc.get_array().max() <= series["ate"].max() + 1e-12


def test_without_alignment_the_label_says_estimate_only(tmp_path):
    gt, est = _straight()
    ax = _drawn(top_view_figure(_series(gt, est, align="none")))
    assert [t.get_text() for t in ax.get_legend().get_texts()][1] == "estimate"
    png = plot_top_view(_series(gt, est), tmp_path / "top.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_standing_camera_still_gets_finite_limits():
    gt = np.tile(np.eye(4), (5, 1, 1))
    series = {"gt_xyz": gt[:, :3, 3], "est_xyz": gt[:, :3, 3].copy(), "ate": np.zeros(5)}
    ax = _drawn(top_view_figure(series))
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert np.isfinite([x0, x1, y0, y1]).all() and x0 < 0 < x1 and y0 < 0 < y1
