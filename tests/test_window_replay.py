"""benchmarks/window_replay.py: a recorded run's back-end inputs replayed give the run's trajectory."""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gtsam")

from vo_app.io.trajectory import read_kitti  # noqa: E402
from vo_app.synth import write_sequence  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "window_replay.py"


def _module():
    spec = importlib.util.spec_from_file_location("window_replay", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_replay_gives_the_recorded_run_and_a_changed_setting_changes_it(tmp_path):
    """The front end does not depend on the back end, so replaying the recorded calls into a fresh back end
    gives the run's poses (to the 1e-9 of the trajectory file's text); a changed window setting gives
    other poses, and the setting is restored afterwards."""
    from vo_app.pipeline import backend

    seq = write_sequence(tmp_path / "seq", layout="kitti", n_frames=12, width=416, height=128, motion="forward",
                         seed=1, write_flow=False)
    wr = _module()
    rec_path = tmp_path / "rec.pkl"
    wr.record(seq, rec_path, ["demo"], {"scale": "fused", "camera_height": 1.6})  # the window by default
    with open(rec_path, "rb") as f:
        rec = pickle.load(f)
    run = read_kitti(rec_path.with_suffix(".run") / "trajectory_kitti.txt")
    same = wr.replay(rec, {}, {}, {})
    np.testing.assert_allclose(same["est"][:, :3, :], run[:, :3, :], atol=1e-6 * np.abs(run[:, :3, 3]).max())
    factor = backend.WINDOW_CHAIN_RATIO_FACTOR
    other = wr.replay(rec, {}, {"rot_sigma_deg": 5.0}, {"WINDOW_CHAIN_RATIO_FACTOR": 0.5})
    assert backend.WINDOW_CHAIN_RATIO_FACTOR == factor
    assert np.abs(other["est"][:, :3, 3] - same["est"][:, :3, 3]).max() > 1e-6 * np.abs(run[:, :3, 3]).max()
