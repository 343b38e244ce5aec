"""Defaults a new user meets: the layout picks the preset, the kitti preset uses the fused scale, the
general preset keeps the aspect ratio, a stretching --size is warned about, --fps for plain folders, and
the end summary states the preset, working size, intrinsics and units."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vo_app.cli.summary import aspect_warning, units_text
from vo_app.io import open_sequence
from vo_app.io.images import working_size
from vo_app.pipeline.config import load_config, preset_for_layout


def plain_folder(src: Path, dst: Path, n: int = 6) -> Path:
    """The first ``n`` PNGs of a rendered KITTI-layout sequence as a plain folder with intrinsics.txt."""
    dst.mkdir()
    for p in sorted((src / "image_2").glob("*.png"))[:n]:
        shutil.copy(p, dst / p.name)
    K = json.loads((src / "synth.json").read_text())["intrinsics"]
    (dst / "intrinsics.txt").write_text(f"{K['fx']} {K['fy']} {K['cx']} {K['cy']}\n")
    return dst


def test_layout_picks_the_preset():
    assert [preset_for_layout(x) for x in ("kitti", "kitti_raw", "tum", "folder", "video")] == \
        ["kitti", "kitti", "tum", "general", "general"]


def test_kitti_preset_uses_the_fused_scale_with_the_ground_plane():
    cfg = load_config("kitti")
    assert cfg.scale == "fused" and cfg.camera_height == 1.65 and cfg.size == (832, 256)
    assert load_config("kitti", scale="triangulation").scale == "triangulation"  # still one flag away
    assert load_config("general").size == 832 and load_config("general").scale == "triangulation"


@pytest.mark.parametrize("native, size", [((1242, 375), (640, 192)), ((1920, 1080), (640, 360)),
                                          ((1280, 960), (640, 480)), ((320, 240), (320, 240))])
def test_a_width_keeps_the_native_aspect_ratio(native, size):
    got = working_size(640, native)
    assert got == size and got[1] % 8 == 0
    assert abs(got[0] / native[0] - got[1] / native[1]) < 0.02 * got[0] / native[0]
    assert working_size((832, 256), native) == (832, 256) and working_size(None, native) == native


def test_general_preset_size_keeps_fx_equal_to_fy(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 255, (720, 1280), dtype=np.uint8))
    (folder / "intrinsics.txt").write_text("1000 1000 639.5 359.5\n")
    seq = open_sequence(folder, size=load_config("general").size)
    assert seq.size == (832, 464) and abs(seq.intrinsics.fx / seq.intrinsics.fy - 1) < 0.01
    assert aspect_warning(seq) is None
    stretched = open_sequence(folder, size=(832, 256))  # a size given as (W, H) is used as given ...
    assert stretched.size == (832, 256)
    warn = aspect_warning(stretched)  # ... with a warning: fx 520, fy 356
    assert warn.startswith("warning: ") and "832x256" in warn and "1280x720" in warn and "--size 832x464" in warn


def test_kitti_layout_without_config_runs_the_kitti_preset(forward_seq, tmp_path, run_cli):
    out = tmp_path / "out"
    res = run_cli([forward_seq, "--max-frames", "5", "--quiet", "--out", out])
    assert res.code == 0, res.err
    cfg = json.loads((out / "report.json").read_text())["config"]
    assert cfg["scale"] == "fused" and cfg["camera_height"] == 1.65 and cfg["size"] == [832, 256]
    assert "preset: kitti (picked for the kitti layout" in res.out
    assert "working size: 832x256 (images 416x128)" in res.out and "intrinsics: fx " in res.out
    assert "units: metres: from the camera height (1.65 m)" in res.out
    assert res.err_lines == []  # 416x128 -> 832x256 scales both axes by 2: no warning


def test_plain_folder_without_config_runs_the_general_preset_with_fps(forward_seq, tmp_path, run_cli):
    folder = plain_folder(forward_seq, tmp_path / "imgs")
    out = tmp_path / "out"
    res = run_cli([folder, "--fps", "25", "--quiet", "--out", out])
    assert res.code == 0, res.err
    report = json.loads((out / "report.json").read_text())
    assert report["layout"] == "folder" and report["working_size"] == [416, 128]  # narrower than 832: native
    assert "preset: general" in res.out and "units: arbitrary units: first step = 1" in res.out
    np.testing.assert_allclose(np.loadtxt(out / "trajectory_tum.txt")[:, 0], np.arange(6) / 25.0)
    assert np.allclose(open_sequence(folder).timestamps, np.arange(6) / 10.0)  # the default stays 10 Hz


def test_a_stretching_size_is_warned_on_one_line(forward_seq, tmp_path, run_cli):
    res = run_cli([forward_seq, "--size", "416x256", "--max-frames", "3", "--quiet", "--out", tmp_path / "o"])
    assert res.code == 0, res.err
    warnings = [ln for ln in res.err_lines if ln.startswith("warning: ")]
    assert len(warnings) == 1 and "416x256" in warnings[0] and "416x128" in warnings[0]


def test_fov_on_a_plain_folder(forward_seq, tmp_path):
    folder = plain_folder(forward_seq, tmp_path / "imgs", n=2)
    (folder / "intrinsics.txt").unlink()
    seq = open_sequence(folder, fov=90)
    assert seq.intrinsics.fx == pytest.approx(208.0) and seq.intrinsics.cx == 207.5


@pytest.mark.parametrize("config, absolute, text", [
    ({"scale": "triangulation"}, None, "arbitrary units: first step = 1; give --camera-height or depth for metres"),
    ({"scale": "rgbd"}, None, "metres: from the depth images"),
    ({"scale": "fused", "camera_height": 1.65}, ["ground"], "metres: from the camera height (1.65 m)"),
    ({"scale": "fused", "camera_height": 1.65}, [], "arbitrary units: no ground-plane"),
    ({"scale": "fused", "camera_height": None}, ["depth"], "metres: from the depth network"),
    ({"scale": "fused", "camera_height": 1.65}, None, "arbitrary units: --window 0 writes the chain"),
])
def test_units_follow_the_scale_source(config, absolute, text):
    """``absolute``: the sources whose factors entered the window's solves (None: no window, --window 0)."""
    window = None if absolute is None else {"keyframes": [{"absolute": [{"source": a} for a in absolute]}]}
    report = {"config": config, **({"window": window} if window else {})}
    assert units_text(report).startswith(text)


def test_tum_layout_without_config_runs_the_tum_preset(handheld_tum_seq, tmp_path, run_cli):
    out = tmp_path / "out"
    res = run_cli([handheld_tum_seq, "--max-frames", "6", "--quiet", "--out", out])
    assert res.code == 0, res.err
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["scale"] == "rgbd" and report["working_size"] == [320, 240]
    assert "preset: tum (picked for the tum layout" in res.out and "units: metres: from the depth images" in res.out
