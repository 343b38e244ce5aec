"""The end-of-run scale level per chain segment (vo_app/pipeline/window/levels.py)."""
import numpy as np
import pytest

pytest.importorskip("gtsam")

from vo_app.pipeline.window.levels import Step, segment_ids, segment_levels  # noqa: E402
from vo_app.pipeline.window.params import StepMeasurement  # noqa: E402


def _steps(true, scale, linked, sigma=0.1, seed=0, every=1):
    """Steps whose window lengths are ``true * scale`` (per step), measured at ``true`` with log-noise ``sigma``."""
    rng = np.random.default_rng(seed)
    out = []
    for j, (t, s, ln) in enumerate(zip(true, scale, linked)):
        meas = [StepMeasurement("ground", float(t * np.exp(rng.normal(0, sigma))), sigma)] if j % every == 0 else []
        out.append(Step(float(t * s), bool(ln), meas))
    return out


def test_segments_start_at_every_unlinked_step():
    steps = [Step(1.0, ln) for ln in (False, True, True, False, True, False)]
    assert segment_ids(steps).tolist() == [0, 0, 0, 1, 1, 2]


def test_each_segment_gets_the_level_of_its_measurements():
    n = 60
    true = np.full(n, 1.0)
    scale = np.where(np.arange(n) < 30, 1.0, 2.0)  # the window's level doubled at a break (step 30)
    linked = np.arange(n) != 30
    factor, rec = segment_levels(_steps(true, scale, linked), break_sigma=0.1, huber_k=1.345)
    lengths = true * scale * factor
    assert np.abs(np.log(lengths[:30] / lengths[:30].mean())).max() < 1e-9  # one factor per segment
    # 30 measurements of log-std 0.1 per segment set each level to about 0.1 / sqrt(30) = 1.8 %; the tie
    # across the break (0.1) keeps about 0.69 x 0.00065 / 0.0107 = 0.04 of the window's log(2) jump
    assert abs(np.log(lengths[40] / lengths[10])) < 0.12  # from 0.69 (2x) before
    assert rec["segments"] == 2 and rec["measurements"] == n and rec["without_measurement"] == 0


def test_a_segment_without_measurements_takes_its_neighbours_level():
    n = 30
    linked = ~np.isin(np.arange(n), [10, 20])
    steps = _steps(np.ones(n), np.where((np.arange(n) >= 10) & (np.arange(n) < 20), 3.0, 1.0), linked, sigma=0.01)
    for j in range(10, 20):
        steps[j].steps = []
    factor, rec = segment_levels(steps, break_sigma=0.1, huber_k=1.345)
    assert rec["without_measurement"] == 1
    # its level is tied to both neighbours (factor 1): its lengths stay 3x, as the window left them
    assert abs(factor[15] - 1.0) < 0.01 and abs(factor[5] - 1.0) < 0.02


def test_one_outlier_measurement_is_down_weighted():
    steps = _steps(np.ones(20), np.ones(20), np.ones(20, bool), sigma=0.02)
    steps[3].steps = [StepMeasurement("ground", 6.0, 0.02)]  # a plane fit 6x off
    factor, _ = segment_levels(steps, break_sigma=0.1, huber_k=1.345)
    # least squares would move the level by log(6)/20 = 9 %; Huber leaves under 1 %
    assert abs(np.log(factor[0])) < 0.01


def test_without_any_measurement_nothing_is_levelled():
    assert segment_levels([Step(1.0, True), Step(1.0, False)], break_sigma=0.1, huber_k=1.345) is None
