"""Video input (vo_app/io/video.py): a lossy video of rendered frames runs through vo-run and follows the
renderer's ground truth; container timestamps, frame selection, --fps, --fov and the one-line errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vo_app.io import open_sequence, read_kitti

FPS = 10.0


def write_video(frames_dir: Path, video: Path, fps: float = FPS, n: int | None = None) -> list[Path]:
    """The PNGs of ``frames_dir`` (first ``n``) as an mp4v (MPEG-4 part 2, lossy) video; returns the PNGs."""
    paths = sorted(frames_dir.glob("*.png"))[:n]
    first = cv2.imread(str(paths[0]), cv2.IMREAD_COLOR)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (first.shape[1], first.shape[0]))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for p in paths:
        writer.write(cv2.imread(str(p), cv2.IMREAD_COLOR))
    writer.release()
    return paths


def intrinsics_file(seq_dir: Path, out: Path) -> Path:
    K = json.loads((seq_dir / "synth.json").read_text())["intrinsics"]
    out.write_text(f"{K['fx']} {K['fy']} {K['cx']} {K['cy']}\n")
    return out


@pytest.fixture(scope="module")
def forward_video(forward_seq, tmp_path_factory) -> Path:
    """The first 24 rendered forward-driving frames (416x128) as a 10 Hz mp4v video."""
    video = tmp_path_factory.mktemp("video") / "drive.mp4"
    write_video(forward_seq / "image_2", video, n=24)
    return video


def test_video_run_follows_the_ground_truth(forward_seq, forward_video, tmp_path, run_cli):
    from vo_app.eval import ate, path_length

    out = tmp_path / "out"
    res = run_cli([forward_video, "--intrinsics", intrinsics_file(forward_seq, tmp_path / "K.txt"), "--quiet",
                   "--out", out])
    assert res.code == 0, res.err
    report = json.loads((out / "report.json").read_text())
    assert report["layout"] == "video" and report["frames"] == 24 and report["totals"]["skipped_frames"] == 0
    assert "preset: general" in res.out and "units: arbitrary units: first step = 1" in res.out
    est = read_kitti(out / "trajectory_kitti.txt")
    gt = read_kitti(forward_seq / "poses.txt")[: len(est)]
    assert len(est) == 24 and np.isfinite(est).all()
    err = ate(gt, est, align="sim3")["rmse"]
    assert err < 0.01 * path_length(gt), (err, path_length(gt))  # measured 0.09 % on 40 frames
    stamps = np.loadtxt(out / "trajectory_tum.txt")[:, 0]
    np.testing.assert_allclose(stamps, np.arange(24) / FPS, atol=1e-6)  # the container's times


def test_container_timestamps_and_frame_selection(forward_seq, tmp_path):
    video = tmp_path / "v.mp4"
    pngs = write_video(forward_seq / "image_2", video, fps=25.0, n=12)
    seq = open_sequence(video, fov=90, start=2, stride=3, max_frames=3)
    assert seq.layout == "video" and seq.name == "v" and seq.has_real_timestamps
    np.testing.assert_array_equal(seq.source_indices, [2, 5, 8])
    np.testing.assert_allclose(seq.timestamps, np.array([2, 5, 8]) / 25.0, atol=1e-6)
    refs = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255 for p in pngs]
    for frame, src in zip(seq, (2, 5, 8)):
        diffs = [np.abs(frame.image - r).mean() for r in refs]
        assert int(np.argmin(diffs)) == src and diffs[src] < 0.03  # the right frame, lossy but close
    # going back re-opens the video; --fps replaces the container's times
    assert np.abs(seq.load(0).image - refs[2]).mean() < 0.03
    fixed = open_sequence(video, fov=90, fps=5.0)
    assert len(fixed) == 12 and not fixed.has_real_timestamps
    np.testing.assert_allclose(fixed.timestamps, np.arange(12) / 5.0)


def test_fov_gives_a_centred_pinhole_camera(forward_video):
    seq = open_sequence(forward_video, fov=60, size=None)
    K = seq.intrinsics
    f = (416 / 2) / math.tan(math.radians(30))
    assert K.fx == pytest.approx(f) and K.fy == pytest.approx(f)
    assert (K.cx, K.cy) == (207.5, 63.5)


def test_video_without_intrinsics_is_a_one_line_error(forward_video, tmp_path, run_cli):
    # in-process: the real process's exit code and FFmpeg's silenced stderr are checked by the next test but one
    res = run_cli([forward_video, "--quiet", "--out", tmp_path / "o"])
    assert res.code == 2 and len(res.err_lines) == 1, res.err
    line = res.err_lines[0]
    assert line.startswith("vo-run: error: ") and str(forward_video) in line
    assert "--intrinsics" in line and "--fov" in line


def test_intrinsics_and_fov_together_are_refused(forward_seq, forward_video, tmp_path, run_cli):
    res = run_cli([forward_video, "--intrinsics", intrinsics_file(forward_seq, tmp_path / "K.txt"), "--fov", "60",
                   "--quiet", "--out", tmp_path / "o"])
    assert res.code == 2 and len(res.err_lines) == 1 and "--fov" in res.err


def test_unreadable_video_is_a_one_line_error(tmp_path, run_cli_proc):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all\n" * 10)
    res = run_cli_proc([bad, "--fov", "60", "--quiet", "--out", tmp_path / "o"])
    assert res.code == 2 and len(res.err_lines) == 1, res.err  # FFmpeg's own log lines are silenced
    assert str(bad) in res.err_lines[0] and "cannot open the video" in res.err_lines[0]


def test_selection_beyond_the_video_is_a_one_line_error(forward_video, tmp_path, run_cli):
    res = run_cli([forward_video, "--fov", "60", "--start", "30", "--quiet", "--out", tmp_path / "o"])
    assert res.code == 2 and len(res.err_lines) == 1 and "at least 2 frames" in res.err
