"""The keyframe and fallback policy (vo_app/pipeline/keyframes.py): hold/advance, released
references, the fallbacks (PnP on the memory, depth PnP, constant-motion guess)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from _chainkit import Street, angle_deg, street
from vo_app.pipeline.frontend import FrontEnd, FrontRecord
from vo_app.pipeline.keyframes import KeyframePolicy
from vo_app.pipeline.pair import DEGENERATE, NO_MOTION, PURE_ROTATION, TOO_FEW_INLIERS


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    return Street(street(tmp_path_factory.mktemp("keyframes") / "seq", n_frames=3))


def _res(fallback=None, parallax=10.0, median_flow=10.0):
    return SimpleNamespace(fallback=fallback, parallax=parallax, median_flow=median_flow, samples=None,
                           R=np.eye(3), t=np.array([0.0, 0.0, 1.0]))


def _record(res, frame_index=5, flow=None):
    frame = SimpleNamespace(index=frame_index)
    return FrontRecord(frame, SimpleNamespace(index=0, depth=None), np.zeros((4, 4), np.uint8), res,
                       flow, flow, 0.0, 0.0)


def _policy(road, **overrides):
    cfg = dataclasses.replace(road.cfg, **overrides)
    kf = KeyframePolicy(cfg, road.K, max(road.seq.size))
    kf.ref = (SimpleNamespace(index=0, depth=None), np.eye(4), np.zeros((4, 4), np.uint8))
    return kf, FrontEnd(cfg, road.K, road.source, "cpu")


def test_hold_needs_low_parallax_and_small_flow(road):
    kf, _ = _policy(road, keyframe_parallax_px=3.0)
    cfg, size = kf.cfg, max(road.seq.size)
    assert kf.hold(_res(parallax=cfg.keyframe_parallax_px / 2, median_flow=1.0))
    assert not kf.hold(_res(parallax=cfg.keyframe_parallax_px * 2, median_flow=1.0))
    assert not kf.hold(_res(parallax=cfg.keyframe_parallax_px / 2, median_flow=cfg.keyframe_flow_frac * size + 1))
    kf, _ = _policy(road)  # the demo preset: 0, no holding
    assert not kf.hold(_res(parallax=0.1, median_flow=1.0))


def test_no_motion_keeps_the_reference_and_marks_the_stop(road):
    kf, front = _policy(road)
    d = kf.without_f(_record(_res(NO_MOTION)), front, gap=0)
    np.testing.assert_array_equal(d.T_rel, np.eye(4))
    assert not d.advance and not d.measured and front.still_at == 5


def test_rotation_without_points_keeps_the_reference_until_the_view_moved_far(road):
    kf, front = _policy(road)
    size = max(road.seq.size)
    d = kf.without_f(_record(_res(PURE_ROTATION, median_flow=1.0)), front, gap=0)
    assert d.note is None and not d.advance and d.measured
    assert np.allclose(d.T_rel[:3, 3], 0.0)  # rotation only
    d = kf.without_f(_record(_res(PURE_ROTATION, median_flow=road.cfg.keyframe_flow_frac * size + 1)), front, gap=0)
    assert d.advance


def test_a_lost_pair_without_any_source_repeats_the_last_motion_over_the_gap(road):
    kf, front = _policy(road)
    step = np.eye(4)
    step[:3, 3] = [0.0, 0.0, -1.0]
    kf.last_motion = step
    d = kf.without_f(_record(_res(TOO_FEW_INLIERS)), front, gap=2)
    assert d.advance and not d.measured and d.note == "constant-motion guess"
    np.testing.assert_allclose(d.T_rel[:3, 3], [0.0, 0.0, -3.0])  # one motion per frame of the gap and this one


def test_release_moves_the_reference_to_the_held_frame(road):
    kf, front = _policy(road)
    held = (SimpleNamespace(index=4), np.eye(4) * 2, np.ones((4, 4), np.uint8), None, np.eye(4))
    assert kf.release(_res(DEGENERATE), front) is None  # nothing held
    kf.held = held
    assert kf.release(_res(PURE_ROTATION), front) is None  # a pair that did not lose the reference
    assert kf.release(_res(DEGENERATE), front) == DEGENERATE
    assert kf.ref[0].index == 4 and kf.held is None and kf.released == 1


def test_finish_advances_or_holds_and_tells_the_flow_thread(road):
    kf, _ = _policy(road)
    source = SimpleNamespace(hint="old")
    fr = _record(_res(), flow=np.zeros((2, 2, 2)))
    T = np.eye(4)
    T[0, 3] = 0.5
    kf.finish(fr, np.eye(4), T, advance=False, measured=True, source=source)
    assert source.hint[0].index == 0 and kf.held[0] is fr.frame and kf.last_motion is T
    kf.finish(fr, np.eye(4), np.eye(4), advance=True, measured=False, source=source)
    assert source.hint is None and kf.held is None and kf.ref[0] is fr.frame and kf.last_motion is T


def test_pnp_on_the_memory_recovers_the_metric_motion(road):
    """The memory pair 0-1 leaves in frame 1, at its true norm: frame 2 posed against it by PnP
    (the fallback of a held pair) gets the true metric motion 1 -> 2."""
    front = FrontEnd(road.cfg, road.K, road.source, "cpu")
    first = front.measure(front.pair(road.item(0, 1), None, road.frames[0], road.gray(0)), road.gray(0))
    T1 = np.eye(4)
    T1[:3, :3], T1[:3, 3] = first.R, first.t * road.step(0, 1)
    front.keep_memory(first, road.step(0, 1), T1, hold=False)
    kf = KeyframePolicy(road.cfg, road.K, max(road.seq.size))
    T, note = kf.map_pose(front.mem, road.frames[1], road.item(1, 2).flow_fwd)
    assert T is not None and note.startswith("pnp on the reference's triangulated points")
    truth = road.T_rel(1, 2)
    assert angle_deg(T[:3, :3].T @ truth[:3, :3]) < 0.1
    assert np.linalg.norm(T[:3, 3]) == pytest.approx(np.linalg.norm(truth[:3, 3]), rel=0.03)
    assert kf.map_pose(None, road.frames[1], None) == (None, None)


def test_depth_pnp_needs_a_depth_and_a_fallback_setting(road):
    kf, _ = _policy(road)
    res = _res(DEGENERATE)
    assert kf.depth_pose(res, road.frames[0], None, None) == (None, None)  # no samples
    res.samples = (np.zeros((10, 2)), np.zeros((10, 2)))
    assert kf.depth_pose(res, SimpleNamespace(index=0, depth=None), None, None) == (None, None)  # no depth at all
