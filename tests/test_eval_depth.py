"""Depth metrics and baselines, the KITTI raw reader and its Velodyne projection, and ``vo-eval depth``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from _flowkit import one_line_error
from vo_app.errors import UserError
from vo_app.eval.depth import (ConstantDepth, DepthDataset, DepthSample, GroundPlaneDepth, depth_metrics,
                               evaluate_method, mean_depth_metrics, mean_training_depth)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RAW = SHARED / "kitti_raw_2011_09_26_drive_0005"
TARTANAIR = SHARED / "tartanair_hospital"


# ------------------------------------------------------------------------------------ metrics
def _gt(seed=0, shape=(12, 16)):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(1.0, 30.0, shape).astype(np.float32)
    gt[0, :4] = 0.0  # unknown
    gt[1, :2] = 95.0  # beyond the 80 m cap
    return gt


def test_perfect_prediction_scores_zero_error_and_full_deltas():
    gt = _gt()
    pred = gt.copy()
    pred[0, :4] = 123.0  # garbage where the ground truth is unknown or capped away is ignored
    pred[1, :2] = 0.5
    for scaled in (False, True):
        m = depth_metrics(pred, gt, cap=80.0, median_scale=scaled)
        assert m["pixels"] == gt.size - 6
        assert m["abs_rel"] == pytest.approx(0, abs=1e-7) and m["rmse"] == pytest.approx(0, abs=1e-5)
        assert m["sq_rel"] == pytest.approx(0, abs=1e-7) and m["rmse_log"] == pytest.approx(0, abs=1e-6)
        assert (m["a1"], m["a2"], m["a3"]) == (1.0, 1.0, 1.0)
        assert m["scale"] == pytest.approx(1.0)


def test_twice_too_far_is_abs_rel_one_metric_but_zero_median_scaled():
    gt = _gt(1)
    metric = depth_metrics(2 * gt, gt, cap=80.0)
    assert metric["abs_rel"] == pytest.approx(1.0)
    assert metric["rmse_log"] == pytest.approx(math.log(2), rel=1e-6)
    assert metric["a1"] == metric["a2"] == metric["a3"] == 0.0  # ratio 2 > 1.25^3 = 1.95
    scaled = depth_metrics(2 * gt, gt, cap=80.0, median_scale=True)
    assert scaled["abs_rel"] == pytest.approx(0, abs=1e-7) and scaled["a1"] == 1.0
    assert scaled["scale"] == pytest.approx(0.5)


def test_cap_clips_the_prediction_and_none_keeps_far_depths():
    gt = np.array([[10.0, 95.0, 0.0]], np.float32)
    pred = np.array([[1e6, 95.0, 5.0]], np.float32)
    capped = depth_metrics(pred, gt, cap=80.0)
    assert capped["pixels"] == 1 and capped["abs_rel"] == pytest.approx(7.0)  # 1e6 clipped to 80
    free = depth_metrics(pred, gt, cap=None)
    assert free["pixels"] == 2 and free["abs_rel"] == pytest.approx((1e6 - 10) / 10 / 2)
    zero = depth_metrics(np.zeros_like(gt), gt, cap=80.0)  # clipped to 1e-3, stays finite
    assert math.isfinite(zero["rmse_log"]) and zero["a3"] == 0.0


def test_dataset_mean_skips_frames_without_ground_truth():
    gt = _gt(2)
    empty = np.zeros_like(gt)
    ds = DepthDataset("d", [DepthSample("a", gt[..., None].repeat(3, 2), gt, 0.58),
                            DepthSample("b", gt[..., None].repeat(3, 2), empty, 0.58)], 80.0, "test")
    res, _ = evaluate_method(ConstantDepth(10.0), ds)
    one = depth_metrics(np.full_like(gt, 10.0), gt, 80.0)
    assert res["metric"]["frames"] == 1 and res["metric"]["abs_rel"] == pytest.approx(one["abs_rel"])
    assert math.isnan(res["per_frame"][1]["metric"]["abs_rel"])
    # median scaling turns a constant into median(gt): the same for any constant
    assert res["median_scaled"]["abs_rel"] == pytest.approx(evaluate_method(ConstantDepth(3.0), ds)[0]
                                                            ["median_scaled"]["abs_rel"])
    assert mean_depth_metrics([])["frames"] == 0


def test_ground_plane_baseline():
    K = np.array([[100.0, 0, 20], [0, 120.0, 10.0], [0, 0, 1]])
    d = GroundPlaneDepth(1.65, far=80.0).depth(K, 40, 30)
    assert d.shape == (30, 40) and np.all(d[:12] == 80.0)  # v <= cy + 1: horizon and sky
    assert d[20, 7] == pytest.approx(1.65 * 120.0 / 10.0)
    assert d[29, 0] == pytest.approx(1.65 * 120.0 / 19.0)


def test_mean_training_depth_from_checkpoint_or_synthetic_frames():
    from vo_app.synth.samples.depth_synth import SynthDepthSpec, make_depth_sample

    assert mean_training_depth({"training": {"mean_depth": 12.5}, "image_size": [64, 64]}) == (
        12.5, "checkpoint training.mean_depth")
    value, src = mean_training_depth({"training": {}, "image_size": [64, 32]}, samples=2)
    depths = [make_depth_sample(SynthDepthSpec(), i, 64, 32)["depth1"] for i in range(2)]
    expect = sum(float(d[d > 0].sum()) for d in depths) / sum(int((d > 0).sum()) for d in depths)
    assert value == pytest.approx(expect, rel=1e-6) and "2 synthetic" in src


# -------------------------------------------------------------------------- KITTI raw reader
F, CX, CY, W, H = 20.0, 19.5, 14.5, 40, 30
T_CAM2 = np.array([0.06, 0.0, 0.01])  # P_rect_02 = K [I | t]: camera 2 beside rectified camera 0
R_VELO = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], np.float64)  # cam x = -velo y, y = -velo z, z = velo x
T_VELO = np.array([0.1, -0.2, -0.3])
_a = 0.02
R_RECT = np.array([[math.cos(_a), 0, math.sin(_a)], [0, 1, 0], [-math.sin(_a), 0, math.cos(_a)]])


def _row(values) -> str:
    return " ".join(f"{v:.9e}" for v in np.ravel(values))


def _write_drive(root: Path, camera: int = 2, frames: int = 3, calib_in_parent: bool = False) -> Path:
    K = np.array([[F, 0, CX], [0, F, CY], [0, 0, 1]])
    P2 = K @ np.hstack([np.eye(3), T_CAM2[:, None]])
    P0 = K @ np.hstack([np.eye(3), np.zeros((3, 1))])
    calib_dir = root.parent if calib_in_parent else root
    calib_dir.mkdir(parents=True, exist_ok=True)
    (calib_dir / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        f"R_rect_00: {_row(R_RECT)}\nS_rect_00: {W} {H}\nP_rect_00: {_row(P0)}\n"
        f"S_rect_02: {W} {H}\nP_rect_02: {_row(P2)}\n")
    (calib_dir / "calib_velo_to_cam.txt").write_text(
        f"calib_time: 15-Mar-2012 11:37:16\nR: {_row(R_VELO)}\nT: {_row(T_VELO)}\ndelta_f: 0 0\n")
    data = root / f"image_0{camera}" / "data"
    data.mkdir(parents=True)
    for i in range(frames):
        cv2.imwrite(str(data / f"{i:010d}.png"), np.full((H, W, 3), 40 * i, np.uint8))
    (data.parent / "timestamps.txt").write_text(
        "".join(f"2011-09-26 13:04:32.{100000000 * (i + 1):09d}\n" for i in range(frames)))
    return root


def _velo_point(u: float, v: float, z2: float) -> np.ndarray:
    """Velodyne coordinates of the point seen by camera 2 at pixel (u, v) with z-depth z2."""
    q = np.array([(u - CX) * z2 / F, (v - CY) * z2 / F, z2])  # camera-2 coordinates
    p_rect = q - T_CAM2
    p_unrect = R_RECT.T @ p_rect
    return R_VELO.T @ (p_unrect - T_VELO)


def test_velodyne_projection_lands_on_the_right_pixel(tmp_path):
    from vo_app.io.kitti_raw import velodyne_depth

    root = _write_drive(tmp_path / "drive")
    pts = np.stack([_velo_point(25, 10, 12.0),  # the nearest point of pixel (row 10, col 25)
                    _velo_point(25, 10, 24.0),  # same pixel, farther: hidden
                    _velo_point(5.3, 19.8, 7.0),  # rounds to (row 20, col 5)
                    _velo_point(25, 10, -5.0),  # behind the camera
                    _velo_point(60, 10, 9.0)])  # right of the image
    scan = np.hstack([pts, np.full((len(pts), 1), 0.5)]).astype(np.float32)
    (root / "velodyne_points" / "data").mkdir(parents=True)
    scan.tofile(root / "velodyne_points" / "data" / "0000000001.bin")
    depth = velodyne_depth(root, 1)
    assert depth.shape == (H, W) and depth.dtype == np.float32
    rows, cols = np.nonzero(depth)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(10, 25), (20, 5)]
    assert depth[10, 25] == pytest.approx(12.0, rel=1e-5) and depth[20, 5] == pytest.approx(7.0, rel=1e-5)
    with pytest.raises(UserError, match=r"0000000000\.bin: no Velodyne scan") as info:
        velodyne_depth(root, 0)
    assert "\n" not in str(info.value)


def test_kitti_raw_layout_detection_and_reader(tmp_path):
    from vo_app.io import detect_layout, open_sequence

    root = _write_drive(tmp_path / "drive")
    assert detect_layout(root) == "kitti_raw"
    seq = open_sequence(root, size=(20, 15), color=True)
    assert seq.layout == "kitti_raw" and len(seq) == 3 and seq.camera == 2 and seq.gt_poses is None
    nat = seq.native_intrinsics
    assert (nat.fx, nat.fy, nat.cx, nat.cy, nat.width, nat.height) == pytest.approx((F, F, CX, CY, W, H))
    assert seq.intrinsics.fx == pytest.approx(F / 2)
    assert seq.has_real_timestamps and np.allclose(np.diff(seq.timestamps), 0.1, atol=1e-6)
    frame = seq.load(2)
    assert frame.image.shape == (15, 20, 3) and frame.image.mean() == pytest.approx(80 / 255, abs=1e-3)
    # the official tree: image_00 in the drive folder, calibration in the date folder above it
    gray = _write_drive(tmp_path / "date" / "drive_sync", camera=0, calib_in_parent=True)
    assert detect_layout(gray) == "kitti_raw"
    seq0 = open_sequence(gray)
    assert seq0.camera == 0 and seq0.native_intrinsics.cx == pytest.approx(CX)
    # the odometry layout is still detected as before
    odo = tmp_path / "odo"
    (odo / "image_2").mkdir(parents=True)
    (odo / "calib.txt").write_text("P0: " + _row(np.eye(3, 4)) + "\n")
    assert detect_layout(odo) == "kitti"


# ----------------------------------------------------------------------------- command line
def _eval_main():
    from vo_app.cli.eval import main

    return main


@pytest.fixture(scope="module")
def tiny_depth_ckpt(tmp_path_factory) -> Path:
    import torch

    from vo_app.models.checkpoint import DEPTH_KIND, save_checkpoint
    from vo_app.models.depth import DepthArch, DepthNet

    arch = DepthArch(stem=4, widths=(4, 4, 8, 8), blocks=(1, 1, 1, 1), decoder=(4, 4, 4, 8, 8))
    torch.manual_seed(3)
    net = DepthNet(arch)
    path = tmp_path_factory.mktemp("depth_ckpt") / "tiny_depth.pt"
    save_checkpoint(path, {"arch": arch.to_dict(), "image_size": [64, 64], "training": {"mean_depth": 14.0},
                           "metrics": {}, "model": net.state_dict()}, kind=DEPTH_KIND)
    return path


def test_vo_eval_depth_cli_synthetic(tmp_path, run_cli, tiny_depth_ckpt):
    out_json, pics = tmp_path / "out" / "depth.json", tmp_path / "pics"
    res = run_cli(["depth", "--weights", tiny_depth_ckpt, "--data", "synthetic", "--synthetic-pairs", "2",
                   "--json", out_json, "--pictures", pics, "--shared", tmp_path / "no_data", "--device", "cpu"],
                  main=_eval_main())
    assert res.code == 0, res.err
    rows = [ln for ln in res.out.splitlines() if ln.startswith("| synthetic (2) |")]
    assert [r.split("|")[2].strip() for r in rows] == ["trained", "untrained", "mean-depth"]
    assert "AbsRel (metric)" in res.out
    text = out_json.read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert data["weights"] == str(tiny_depth_ckpt) and data["mean_depth"] == 14.0
    assert data["datasets"]["synthetic"]["frames"] == 2 and data["datasets"]["synthetic"]["cap"] == 80.0
    assert data["datasets"]["synthetic"]["gt_pixels"] > 0
    res_s = data["results"]["synthetic"]
    assert set(res_s) == {"trained", "untrained", "mean-depth"}
    for method in res_s.values():
        for mode in ("median_scaled", "metric"):
            assert method[mode]["frames"] == 2 and 0 <= method[mode]["a1"] <= 1 and method[mode]["abs_rel"] >= 0
    # the constant baseline's metric error is that of 14 m everywhere
    from vo_app.synth.samples.depth_synth import heldout_depth_set

    gts = [s["depth1"] for s in heldout_depth_set(2, 64, 64)]
    expect = np.mean([depth_metrics(np.full_like(g, 14.0), g, 80.0)["abs_rel"] for g in gts])
    assert res_s["mean-depth"]["metric"]["abs_rel"] == pytest.approx(expect, rel=1e-6)
    pngs = sorted(pics.glob("*.png"))
    assert len(pngs) == 2 and [str(p) for p in pngs] == sorted(data["pictures"])
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert not list(pics.glob(".*.tmp")) and not list(out_json.parent.glob(".*.tmp"))


def test_vo_eval_depth_user_errors(tmp_path, run_cli, tiny_depth_ckpt):
    main = _eval_main()
    line = one_line_error(run_cli(["depth", "--weights", tmp_path / "missing.pt", "--data", "synthetic"], main=main),
                          "vo-eval")
    assert "missing.pt: checkpoint file not found" in line
    flow = tmp_path / "flow.pt"
    from vo_app.models.checkpoint import save_checkpoint
    from vo_app.models.pwc import PWCArch

    save_checkpoint(flow, {"arch": PWCArch().to_dict(), "image_size": [64, 64], "training": {}, "metrics": {},
                           "model": {}})
    line = one_line_error(run_cli(["depth", "--weights", flow], main=main), "vo-eval")
    assert "flow network" in line and "vo-train depth" in line
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    line = one_line_error(run_cli(["depth", "--weights", tiny_depth_ckpt, "--json", blocker / "out.json"], main=main),
                          "vo-eval")
    assert "--json" in line
    line = one_line_error(run_cli(["depth", "--weights", tiny_depth_ckpt, "--data", "nyu"], main=main), "vo-eval")
    assert "unknown --data 'nyu'" in line
    res = run_cli(["depth", "--weights", tiny_depth_ckpt, "--data", "tartanair,kitti", "--shared", tmp_path],
                  main=main)
    assert res.code == 2 and res.err_lines[-1].startswith("vo-eval: error: nothing to evaluate")
    assert any("skipped kitti: folder not found" in ln for ln in res.err_lines)


# -------------------------------------------------------------------------- the shared data
@pytest.mark.skipif(not (RAW / "velodyne_points" / "data").is_dir(), reason="shared KITTI raw drive absent")
def test_real_kitti_raw_drive_and_its_velodyne_depth():
    from vo_app.eval.depth import kitti_raw_dataset
    from vo_app.io import open_sequence

    seq = open_sequence(RAW, size=(416, 128), color=True)
    assert seq.layout == "kitti_raw" and seq.native_size == (1242, 375)
    assert seq.native_intrinsics.fx == pytest.approx(721.5377)
    assert seq.intrinsics.fx == pytest.approx(721.5377 / 1242 * 416)
    ds = kitti_raw_dataset(RAW)
    assert [s.name for s in ds.samples] == [f"{i:010d}" for i in range(5)]
    s = ds.samples[0]
    assert s.gt.shape == (375, 1242) and s.fx_ratio == pytest.approx(721.5377 / 1242)
    v = s.gt > 0
    assert 10000 < v.sum() < 40000 and s.gt[v].max() < 120
    # road points in the bottom rows sit where a flat road 1.65 m below the camera would be
    rows = np.nonzero(v)[0]
    low = v & (np.arange(375)[:, None] > 330)
    plane = GroundPlaneDepth(1.65).depth(s.K, 1242, 375)
    assert rows.max() > 330 and np.median(s.gt[low] / plane[low]) == pytest.approx(1.0, abs=0.15)


@pytest.mark.skipif(not (TARTANAIR / "depth_left").is_dir(), reason="shared TartanAir folder absent")
def test_real_tartanair_pairs_depth_by_index():
    from vo_app.eval.depth import tartanair_dataset

    ds = tartanair_dataset(TARTANAIR)
    assert [s.name for s in ds.samples] == ["000000_left", "000008_left", "000016_left", "000024_left"]
    assert ds.cap is None and all(s.gt.shape == (480, 640) and s.fx_ratio == 0.5 for s in ds.samples)
    assert all(s.image.shape == (480, 640, 3) for s in ds.samples)


def test_garg_crop_window_keeps_the_papers_rows_and_columns():
    from vo_app.eval.depth import crop_window

    assert crop_window(375, 1242).all()
    w = crop_window(375, 1242, "garg")
    rows, cols = np.nonzero(w)
    # the fractions times 375x1242, truncated, as end-exclusive slices: rows 153-370, columns 44-1196
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (153, 370, 44, 1196)
    assert w.sum() == (370 - 153 + 1) * (1196 - 44 + 1)
    with pytest.raises(ValueError, match="unknown crop"):
        crop_window(10, 10, "eigen")


@pytest.mark.skipif(not (RAW / "velodyne_points" / "data").is_dir(), reason="shared KITTI raw drive absent")
def test_kitti_garg_crop_drops_the_points_outside_the_window():
    from vo_app.eval.depth import crop_window, kitti_raw_dataset

    full, cropped = kitti_raw_dataset(RAW), kitti_raw_dataset(RAW, crop="garg")
    a, b = full.samples[0].gt, cropped.samples[0].gt
    keep = crop_window(*a.shape, "garg")
    assert np.array_equal(b[keep], a[keep]) and not b[~keep].any()
    assert 0 < (b > 0).sum() < (a > 0).sum() and cropped.info["crop"] == "garg"
