"""The absolute scale sources (vo_app/pipeline/scale_sources.py) on a rendered street with exact flow:
each measures the true step of a pair from its unit-baseline triangulation."""
from __future__ import annotations

import numpy as np
import pytest

from _chainkit import Street, street
from vo_app.pipeline.depth_scale import DepthScale
from vo_app.pipeline.frontend import FrontEnd
from vo_app.pipeline.scale_sources import DepthNetworkScale, GroundPlaneScale, RgbdScale
from vo_app.synth.scene import GROUND_Y


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    road = Street(street(tmp_path_factory.mktemp("sources") / "seq", n_frames=3))
    front = FrontEnd(road.cfg, road.K, road.source, "cpu")
    fr = front.measure(front.pair(road.item(0, 2), None, road.frames[0], road.gray(0)), road.gray(0))
    assert fr.res.fallback is None
    return road, fr


class _TrueDepth:
    """A depth network that returns the renderer's depth (or NaN everywhere)."""

    def __init__(self, frames, nan=False):
        self.frames, self.nan = frames, nan

    def predict(self, images, fx_ratio):
        d = next(f.depth for f in self.frames if f.image is images[0]).astype(np.float32)
        return [np.full_like(d, np.nan) if self.nan else d]


def _network(road, nan=False) -> DepthScale:
    depth = DepthScale.__new__(DepthScale)  # the loader needs a checkpoint; the predictor is swapped
    depth.predictor, depth.fx_ratio, depth._cache, depth.nan_frames = _TrueDepth(road.frames, nan), 0.58, {}, 0
    return depth


def test_ground_plane_measures_the_step_from_the_camera_height(pair):
    road, fr = pair
    src = GroundPlaneScale(abs(GROUND_Y), road.K, road.seq.size, sigma=0.05, max_tilt_deg=road.cfg.ground_max_tilt_deg)
    m = src.measure(fr.dense, seed=0)
    # one pair's plane scatters (test_scale_modes checks the median of 15 pairs within 5 %): 9 % low here
    assert m.norm == pytest.approx(road.step(0, 2), rel=0.12)
    assert m.sigma == 0.05 and m.info["inliers"] > 50 and len(m.info["normal"]) == 3
    # a wrong camera height moves the norm by the same factor
    wrong = GroundPlaneScale(2 * abs(GROUND_Y), road.K, road.seq.size, 0.05, road.cfg.ground_max_tilt_deg)
    assert wrong.measure(fr.dense, seed=0).norm == pytest.approx(2 * m.norm)


def test_ground_plane_without_points_says_so(pair):
    road, _ = pair
    m = GroundPlaneScale(1.6, road.K, road.seq.size, 0.05, 10.0).measure(None, seed=0)
    assert np.isnan(m.norm) and m.info == {"note": "no road plane found"}


def test_rgbd_aligns_the_sensor_depth(pair):
    road, fr = pair
    m = RgbdScale(road.cfg.min_scale_points).measure(road.frames[0], fr.res)
    assert m.norm == pytest.approx(road.step(0, 2), rel=0.01)
    assert m.sigma is None and m.n_points > 100 and m.note == f"rgbd ({m.n_points} points)"


def test_rgbd_without_a_depth_image_gives_nan(pair):
    road, fr = pair

    class NoDepth:
        depth = None

    m = RgbdScale(road.cfg.min_scale_points).measure(NoDepth(), fr.res)
    assert np.isnan(m.norm) and m.n_points == 0


def test_depth_network_aligns_its_depth_and_reports_nan_output(pair):
    road, fr = pair
    m = DepthNetworkScale(_network(road), 0.1, road.cfg.min_scale_points).measure(road.frames[0], fr.res)
    assert m.norm == pytest.approx(road.step(0, 2), rel=0.01)
    assert m.sigma == 0.1 and m.note == f"depth ({m.n_points} points)"
    bad = _network(road, nan=True)
    m = DepthNetworkScale(bad, 0.1, road.cfg.min_scale_points).measure(road.frames[0], fr.res)
    assert np.isnan(m.norm) and m.note == "depth network output is not finite" and bad.nan_frames == 1
