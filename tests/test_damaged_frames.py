"""Damaged frames: truncated JPEG and PNG files are detected, named, listed and bridged."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vo_app.eval import ate, path_length
from vo_app.io import open_sequence, read_kitti
from vo_app.io.images import ImageReadError, read_image, truncation
from vo_app.pipeline.config import load_config
from vo_app.pipeline.odometry import run_odometry
from vo_app.pipeline.scale_chain import bridge_thresholds

N_FRAMES = 24
DAMAGED = 15  # a frame where the chain's usual ratio over the gap was 20x the intact run's error


def _encoded(ext: str) -> bytes:
    img = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext, kind", [(".jpg", "JPEG"), (".png", "PNG")])
def test_truncated_files_are_refused_with_their_reason(tmp_path, capfd, ext, kind):
    data = _encoded(ext)
    assert truncation(data) is None
    assert truncation(data + b"\x00" * 16) is None  # padding after the end is allowed
    whole = tmp_path / f"whole{ext}"
    whole.write_bytes(data)
    assert read_image(whole).shape == (48, 64)
    for keep in (len(data) // 3, len(data) - 2):
        cut = tmp_path / f"cut{keep}{ext}"
        cut.write_bytes(data[:keep])
        with pytest.raises(ImageReadError, match=f"truncated {kind}"):
            read_image(cut)
    assert "Premature end" not in capfd.readouterr().err  # libjpeg never saw the cut file


def test_bridge_thresholds_keep_the_low_parallax_ones():
    assert bridge_thresholds((2.0, 1.0, 0.5, 0.0)) == (0.5, 0.0)
    assert bridge_thresholds((3.0, 2.0)) == (2.0,)


@pytest.fixture(scope="module")
def jpeg_seq(forward_seq, tmp_path_factory) -> Path:
    """The first frames of the forward fixture with their images as JPEG (quality 95)."""
    root = tmp_path_factory.mktemp("jpeg") / "seq"
    shutil.copytree(forward_seq, root, ignore=shutil.ignore_patterns("image_2"))
    (root / "image_2").mkdir()
    for png in sorted((forward_seq / "image_2").glob("*.png"))[:N_FRAMES]:
        cv2.imwrite(str(root / "image_2" / f"{png.stem}.jpg"), cv2.imread(str(png)), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root


def _run(seq_dir: Path, out: Path):
    seq = open_sequence(seq_dir, max_frames=N_FRAMES)
    report = run_odometry(seq, load_config("demo", scale="triangulation"), out)
    return seq, report, read_kitti(out / "trajectory_kitti.txt")


@pytest.fixture(scope="module")
def intact_run(jpeg_seq, tmp_path_factory):
    return _run(jpeg_seq, tmp_path_factory.mktemp("intact"))


def test_truncated_jpeg_is_bridged_and_the_scale_carried_through(jpeg_seq, intact_run, tmp_path):
    seq_dir = tmp_path / "seq"
    shutil.copytree(jpeg_seq, seq_dir)
    bad = seq_dir / "image_2" / f"{DAMAGED:06d}.jpg"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 3])
    out = tmp_path / "out"
    seq, report, est = _run(seq_dir, out)
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["skipped_frames"] == [{"frame": DAMAGED, "path": str(bad),
                                          "reason": f"{bad.name}: truncated JPEG (no end-of-image marker)"}]
    assert on_disk["filled_frames"] == {str(DAMAGED): "interpolated"}
    bridge = [p for p in on_disk["pairs"] if "bridged_over" in p]
    assert [(p["frame"], p["ref"], p["bridged_over"]) for p in bridge] == [(DAMAGED + 1, DAMAGED - 1, [DAMAGED])]
    assert est.shape == (N_FRAMES, 4, 4) and np.isfinite(est).all()  # a row for every frame, no NaN
    # the gap is one more frame of motion: the bridge's norm is about two of its neighbours'
    norms = np.linalg.norm(np.diff(est[:, :3, 3], axis=0), axis=1)
    gap = norms[DAMAGED - 1] + norms[DAMAGED]
    assert gap == pytest.approx(norms[DAMAGED - 2] + norms[DAMAGED + 1], rel=0.03)
    # and the trajectory stays close to the intact run's (the chain's usual ratio over the gap: 0.23 %)
    _, _, intact = intact_run
    assert ate(intact, est, align="sim3")["rmse"] / path_length(intact) < 0.0015
    assert ate(np.asarray(seq.gt_poses), est, align="sim3")["rmse"] / path_length(intact) < 0.0015


def test_console_names_a_truncated_png(jpeg_seq, forward_seq, tmp_path, run_cli):
    seq_dir = tmp_path / "seq"
    shutil.copytree(forward_seq, seq_dir)
    bad = seq_dir / "image_2" / "000005.png"
    bad.write_bytes(bad.read_bytes()[:3000])
    out = tmp_path / "out"
    res = run_cli([seq_dir, "--config", "demo", "--scale", "triangulation", "--max-frames", "10", "--quiet",
                   "--out", out])
    assert res.code == 0, res.err
    named = [ln for ln in res.err_lines if "damaged frame" in ln]
    assert named == [f"vo-run: damaged frame 5 ({bad}): truncated PNG (no IEND chunk); frame 6 posed against "
                     "frame 4; its row interpolated"]
    assert "skipped: 1" in res.out
    report = json.loads((out / "report.json").read_text())
    assert "accuracy" in report and report["filled_frames"] == {"5": "interpolated"}


def test_a_damaged_first_frame_holds_the_first_pose(forward_seq, tmp_path):
    from vo_app.cli.run_extras import damaged_frame_lines

    seq_dir = tmp_path / "seq"
    shutil.copytree(forward_seq, seq_dir)
    bad = seq_dir / "image_2" / "000000.png"
    bad.write_bytes(bad.read_bytes()[:500])
    out = tmp_path / "out"
    report = run_odometry(open_sequence(seq_dir, max_frames=6), load_config("demo", scale="triangulation"), out)
    est = read_kitti(out / "trajectory_kitti.txt")
    assert est.shape == (6, 4, 4) and np.isfinite(est).all()
    np.testing.assert_allclose(est[0], est[1])
    assert report["filled_frames"] == {"0": "held"}
    assert damaged_frame_lines(report) == [f"vo-run: damaged frame 0 ({bad}): truncated PNG (no IEND chunk); "
                                           "before the first readable frame; its row held"]
