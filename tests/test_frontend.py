"""The chain's front end (vo_app/pipeline/frontend.py): pair geometry against the chain's reference,
dense matches and the chain's ratio from the point memory, on a rendered street with exact flow."""
from __future__ import annotations

import numpy as np
import pytest

from _chainkit import Street, angle_deg, street
from vo_app.pipeline.frontend import FrontEnd, pair_seed


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    return Street(street(tmp_path_factory.mktemp("front") / "seq", n_frames=4))


def test_pair_gives_the_true_rotation_and_direction(road):
    front = FrontEnd(road.cfg, road.K, road.source, "cpu")
    fr = front.pair(road.item(0, 1), None, road.frames[0], road.gray(0))
    T = road.T_rel(0, 1)
    assert fr.res.fallback is None
    assert angle_deg(fr.R.T @ T[:3, :3]) < 0.05
    t_true = T[:3, 3] / np.linalg.norm(T[:3, 3])
    assert np.linalg.norm(fr.t) == pytest.approx(1.0)
    assert np.degrees(np.arccos(np.clip(fr.t @ t_true, -1, 1))) < 1.0
    assert front.recomputed == 0


def test_pair_recomputes_against_the_chains_reference(road):
    """An item whose flow was computed against frame 1 while the chain keeps frame 0: flow and
    geometry again, identical to the pair computed against frame 0 directly (same seed)."""
    front = FrontEnd(road.cfg, road.K, road.source, "cpu")
    direct = front.pair(road.item(0, 2), None, road.frames[0], road.gray(0))
    again = front.pair(road.item(1, 2), None, road.frames[0], road.gray(0))
    assert front.recomputed == 1
    assert again.ref_frame.index == 0
    np.testing.assert_array_equal(again.R, direct.R)
    np.testing.assert_array_equal(again.t, direct.t)
    assert pair_seed(road.cfg, 2) != pair_seed(road.cfg, 1)


def test_chain_ratio_follows_the_true_steps(road):
    """Pair 0-1 makes the memory at norm 1; pair 1-2's chain norm / pair 0-1's = the true ratio."""
    front = FrontEnd(road.cfg, road.K, road.source, "cpu")
    first = front.measure(front.pair(road.item(0, 1), None, road.frames[0], road.gray(0)), road.gray(0))
    assert first.ratio is None and first.dense is not None
    assert first.chain_note == "no shared points with a previous pair"
    assert first.chain_scale == pytest.approx(1.0)  # no memory, no earlier norm: 1
    T1 = np.eye(4)
    T1[:3, :3], T1[:3, 3] = first.R, first.t
    front.keep_memory(first, 1.0, T1, hold=False)
    assert front.mem is not None and front.mem_at == 1 and len(front.mem.p) > 100
    second = front.measure(front.pair(road.item(1, 2), None, road.frames[1], road.gray(1)), road.gray(1))
    assert second.ratio is not None and second.ratio_parallax > 0
    truth = road.step(1, 2) / road.step(0, 1)
    assert second.chain_scale == pytest.approx(truth, rel=0.02)
    assert front.step_ratio(second) == pytest.approx(second.ratio)  # memory and last norm are the same pair's


def test_without_dense_matches_only_the_span_is_measured(road):
    front = FrontEnd(road.cfg, road.K, road.source, "cpu")
    front.still_at = 1  # a stop at frame 1 held the reference 0: the motion spans frames 1-3
    fr = front.measure(front.pair(road.item(0, 3), None, road.frames[0], road.gray(0)), road.gray(0), dense=False)
    assert fr.span == 2 and fr.dense is None and fr.ratio is None
    front.skipped_at = 2
    fr = front.measure(front.pair(road.item(0, 3), None, road.frames[0], road.gray(0)), road.gray(0), dense=False)
    assert fr.bridge and fr.bridged_ratio
