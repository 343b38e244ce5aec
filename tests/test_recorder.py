"""The run's recorder (vo_app/pipeline/recorder.py): one trajectory row per input frame, one
report record per pair, viewer events, and the end-of-run rewrite with the back end's poses."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from vo_app.io.trajectory import read_kitti
from vo_app.pipeline.output import RunOutput
from vo_app.pipeline.recorder import Recorder, chain_pose


def _frame(i, image=True):
    return SimpleNamespace(index=i, timestamp=0.1 * i, path=f"{i:06d}.png", extra={},
                           image=np.zeros((8, 8), np.uint8) if image else None)


def _res(fallback=None):
    # two points 4 and 8 baselines in front of the reference camera, on the optical axis
    return SimpleNamespace(fallback=fallback, n_candidates=100, n_inliers=80, n_triangulated=2, median_flow=3.0,
                           parallax=2.0, timings={"flow": 0.01}, R=np.eye(3), t=np.array([0.0, 0.0, -1.0]),
                           p1=np.array([[4.0, 4.0], [4.0, 4.0]]), depth1=np.array([4.0, 8.0]))


def _step(z):
    T = np.eye(4)
    T[2, 3] = -z  # the camera moves +z: pose = ref_pose @ inv(T)
    return T


@pytest.fixture
def run(tmp_path):
    report = {"pairs": [], "skipped_frames": []}
    events, ticks = [], []
    K = np.array([[8.0, 0, 4.0], [0, 8.0, 4.0], [0, 0, 1]])
    rec = Recorder(RunOutput(tmp_path, flush_seconds=0.0), report, K, progress=ticks.append, on_frame=events.append)
    return rec, report, events, ticks, tmp_path


def test_rows_records_and_events_of_a_run_with_a_damaged_frame(run):
    rec, report, events, ticks, out = run
    f0, f1, f2, f3 = _frame(0), _frame(1), _frame(2, image=False), _frame(3)
    rec.first(f0)
    p1, _ = chain_pose(np.eye(4), _step(1.0))
    rec.pair(f1, f0, np.eye(4), p1, _res(), _step(1.0), 1.0, "triangulation", 0.01, lambda: 0.02)
    rec.done()
    rec.skipped(f2)
    assert rec.skipped_between(1, 3) == [2] and rec.skipped_between(2, 3) == []
    p3, _ = chain_pose(p1, _step(2.0))
    r = rec.pair(f3, f1, p1, p3, _res(), _step(2.0), 2.0, "x", 0.01, lambda: 0.02, bridged=True,
                 released="degenerate", sources={"chain": {"ratio": 1.0}})
    rec.done()
    assert r["bridged_over"] == [2] and r["released_reference"] == "degenerate" and r["scale_sources"]
    assert [p["frame"] for p in report["pairs"]] == [1, 3] and report["pairs"][0]["scale_note"] == "triangulation"
    assert report["skipped_frames"][0]["frame"] == 2
    assert len(ticks) == 4
    # events: the origin without points, each posed pair with its points at depth x norm in the world
    assert [e["index"] for e in events] == [0, 1, 3] and events[0]["points_world"] is None
    np.testing.assert_allclose(events[1]["points_world"][:, 2], [4.0, 8.0])
    np.testing.assert_allclose(events[2]["points_world"][:, 2], [1.0 + 8.0, 1.0 + 16.0])
    # files: four rows, the damaged frame interpolated between its neighbours
    P = read_kitti(out / "trajectory_kitti.txt")
    np.testing.assert_allclose(P[:, 2, 3], [0.0, 1.0, 2.0, 3.0])
    assert json.loads((out / "report.json").read_text())["filled_frames"] == {"2": "interpolated"}


def test_a_non_finite_motion_is_not_chained():
    T = _step(1.0)
    T[0, 0] = np.nan
    pose, finite = chain_pose(np.eye(4) * 3, T)
    assert not finite and np.array_equal(pose, np.eye(4) * 3)


def test_rewrite_poses_replaces_every_posed_row(run):
    """The back end's final poses replace the causal ones at the end of a run; a damaged frame's row
    is filled again from its new neighbours."""
    rec, report, _, _, out = run
    f = [_frame(0), _frame(1), _frame(2, image=False), _frame(3)]
    rec.first(f[0])
    p1, _ = chain_pose(np.eye(4), _step(1.0))
    rec.pair(f[1], f[0], np.eye(4), p1, _res(), _step(1.0), 1.0, "window", 0.0, lambda: 0.0)
    rec.skipped(f[2])
    p3, _ = chain_pose(p1, _step(1.0))
    rec.pair(f[3], f[1], p1, p3, _res(), _step(1.0), 1.0, "window", 0.0, lambda: 0.0)
    final = {0: np.eye(4), 1: chain_pose(np.eye(4), _step(3.0))[0], 3: chain_pose(np.eye(4), _step(7.0))[0]}
    rec.rewrite_poses(final.__getitem__)
    rec.out.flush(report, force=True)
    P = read_kitti(out / "trajectory_kitti.txt")
    np.testing.assert_allclose(P[:, 2, 3], [0.0, 3.0, 5.0, 7.0])
