"""``vo-run`` and the placeholder commands: bad input is one ``vo-run: error:`` line on stderr, exit code 2."""
from __future__ import annotations

import json

import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest



def assert_user_error(res, *names: str, prog: str = "vo-run") -> str:
    """Exit 2, exactly one stderr line ``<prog>: error: ...`` that names every ``names``, no traceback."""
    assert res.code == 2, (res.code, res.err)
    assert "Traceback" not in res.err and "Traceback" not in res.out
    assert len(res.err_lines) == 1, res.err
    line = res.err_lines[0]
    assert line.startswith(f"{prog}: error: "), line
    for name in names:
        assert str(name) in line, (name, line)
    return line


@pytest.fixture
def kitti_copy(static_seq, tmp_path):
    """A writable copy of the 10-frame static KITTI fixture (image_2/, depth/, calib.txt, ...)."""
    dst = tmp_path / "seq"
    shutil.copytree(static_seq, dst)
    return dst


def write_folder(root: Path, sizes, intrinsics: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        assert cv2.imwrite(str(root / f"frame{i:03d}.png"), rng.integers(0, 255, (h, w), dtype=np.uint8))
    if intrinsics:
        (root / "intrinsics.txt").write_text("40 40 31.5 23.5\n")
    return root


# ------------------------------------------------------------------ inputs
def test_missing_directory(tmp_path, run_cli):
    missing = tmp_path / "no_such_sequence"
    assert_user_error(run_cli([missing, "--quiet", "--out", tmp_path / "out"]), missing)
    assert not (tmp_path / "out").exists()  # nothing created for a failed start


def test_missing_directory_subprocess(tmp_path, run_cli_proc):
    missing = tmp_path / "no_such_sequence"
    assert_user_error(run_cli_proc([missing, "--quiet"], cwd=tmp_path), missing)


def test_sequence_is_a_regular_file(tmp_path, run_cli):
    f = tmp_path / "video.mp4"
    f.write_bytes(b"\0" * 10)
    assert_user_error(run_cli([f, "--quiet", "--out", tmp_path / "out"]), f)


@pytest.mark.parametrize("content", [[], ["notes.txt", "data.csv"]])
def test_directory_without_images(tmp_path, run_cli, content):
    d = tmp_path / "empty"
    d.mkdir()
    for name in content:
        (d / name).write_text("x\n")
    line = assert_user_error(run_cli([d, "--quiet", "--out", tmp_path / "out"]), d)
    assert "no images" in line


def test_images_of_different_sizes(kitti_copy, tmp_path, run_cli):
    odd = kitti_copy / "image_2" / "000004.png"
    assert cv2.imwrite(str(odd), np.zeros((64, 64, 3), np.uint8))
    line = assert_user_error(run_cli([kitti_copy, "--quiet", "--out", tmp_path / "out"]), odd)
    assert "64x64" in line and "416x128" in line


def test_images_of_different_sizes_subprocess(kitti_copy, tmp_path, run_cli_proc):
    odd = kitti_copy / "image_2" / "000006.png"
    assert cv2.imwrite(str(odd), np.zeros((128, 400, 3), np.uint8))
    res = run_cli_proc([kitti_copy, "--config", "demo", "--quiet", "--out", tmp_path / "out"], cwd=tmp_path)
    assert "400x128" in assert_user_error(res, odd)


def test_kitti_without_calib(kitti_copy, tmp_path, run_cli):
    (kitti_copy / "calib.txt").unlink()
    line = assert_user_error(run_cli([kitti_copy, "--quiet", "--out", tmp_path / "out"]), kitti_copy)
    assert "calib.txt" in line


def test_calib_without_the_camera_line(kitti_copy, tmp_path, run_cli):
    calib = kitti_copy / "calib.txt"
    p0 = calib.read_text().splitlines()[0]  # images are in image_2/: P2 is needed
    calib.write_text(p0 + "\n")
    line = assert_user_error(run_cli([kitti_copy, "--quiet", "--out", tmp_path / "out"]), calib)
    assert "P2" in line


@pytest.mark.parametrize("text,words", [
    ("P0: 1 2 x\n", "P0 has 3 numbers"),
    ("P0: 240 0 207 0 0 240 63 0 0 0 x 0\n", "non-numeric"),
    ("P0: 240 0 207 0 0 240 63 0 0 0 nan 0\n", "non-finite"),
    ("P0: -240 0 207 0 0 240 63 0 0 0 1 0\n", "positive"),
    ("hello\n", "P0"),
])
def test_malformed_calibration(kitti_copy, tmp_path, run_cli, text, words):
    (kitti_copy / "image_2").rename(kitti_copy / "image_0")
    calib = kitti_copy / "calib.txt"
    calib.write_text(text)
    line = assert_user_error(run_cli([kitti_copy, "--quiet", "--out", tmp_path / "out"]), calib)
    assert words in line


def test_malformed_calibration_subprocess(kitti_copy, tmp_path, run_cli_proc):
    calib = kitti_copy / "calib.txt"
    calib.write_text("P2: 1 2 x\n")
    assert_user_error(run_cli_proc([kitti_copy, "--quiet", "--out", tmp_path / "out"]), calib)


def test_tum_folder_without_rgb_txt(handheld_tum_seq, tmp_path, run_cli):
    d = tmp_path / "rgbd_dataset_freiburg1_xyz"
    shutil.copytree(handheld_tum_seq, d)
    (d / "rgb.txt").unlink()
    assert (d / "depth.txt").exists() and (d / "groundtruth.txt").exists()
    line = assert_user_error(run_cli([d, "--quiet", "--out", tmp_path / "out"]), d)
    assert "rgb.txt" in line
    shutil.rmtree(d / "rgb")  # no images at all: still the missing rgb.txt, not "no images"
    assert "rgb.txt" in assert_user_error(run_cli([d, "--quiet", "--out", tmp_path / "out"]), d)


def test_missing_intrinsics_file(kitti_copy, tmp_path, run_cli):
    f = tmp_path / "K.txt"
    assert_user_error(run_cli([kitti_copy, "--intrinsics", f, "--quiet", "--out", tmp_path / "out"]), f)


def test_folder_without_intrinsics(tmp_path, run_cli):
    folder = write_folder(tmp_path / "imgs", [(64, 48)] * 3, intrinsics=False)
    assert "--intrinsics" in assert_user_error(run_cli([folder, "--quiet", "--out", tmp_path / "out"]), folder)


def test_rgbd_scale_without_depth(kitti_copy, tmp_path, run_cli):
    shutil.rmtree(kitti_copy / "depth")
    assert_user_error(run_cli([kitti_copy, "--scale", "rgbd", "--quiet", "--out", tmp_path / "out"]), kitti_copy)


@pytest.mark.parametrize("args,words", [(["--scale", "depth"], "depth network"), (["--flow", "pwc"], "pwc")])
def test_unavailable_models(kitti_copy, tmp_path, run_cli, args, words):
    assert words in assert_user_error(run_cli([kitti_copy, *args, "--quiet", "--out", tmp_path / "out"]))


# ------------------------------------------------------------------ frame count
def test_single_image_folder(tmp_path, run_cli):
    folder = write_folder(tmp_path / "one", [(64, 48)])
    line = assert_user_error(run_cli([folder, "--quiet", "--out", tmp_path / "out"]), folder)
    assert "at least 2 frames" in line


def test_max_frames_1_is_rejected(kitti_copy, tmp_path, run_cli):
    line = assert_user_error(run_cli([kitti_copy, "--max-frames", "1", "--quiet", "--out", tmp_path / "out"]))
    assert "--max-frames" in line


@pytest.mark.parametrize("args", [["--start", "9"], ["--stride", "10"], ["--start", "100"]])
def test_selection_leaving_fewer_than_2_frames(kitti_copy, tmp_path, run_cli, args):
    line = assert_user_error(run_cli([kitti_copy, *args, "--quiet", "--out", tmp_path / "out"]), kitti_copy)
    assert "at least 2 frames" in line


# ------------------------------------------------------------------ output folder
def test_out_is_a_regular_file(kitti_copy, tmp_path, run_cli):
    f = tmp_path / "result.txt"
    f.write_text("keep me\n")
    assert_user_error(run_cli([kitti_copy, "--quiet", "--out", f]), f)
    assert f.read_text() == "keep me\n"


def test_out_under_a_regular_file_subprocess(kitti_copy, tmp_path, run_cli_proc):
    f = tmp_path / "result.txt"
    f.write_text("keep me\n")
    assert_user_error(run_cli_proc([kitti_copy, "--quiet", "--out", f / "sub"]), f / "sub")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write to read-only folders")
def test_out_in_read_only_folder(kitti_copy, tmp_path, run_cli):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert_user_error(run_cli([kitti_copy, "--quiet", "--out", ro / "out"]), ro / "out")
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------ options
def test_unknown_config_preset(kitti_copy, tmp_path, run_cli):
    line = assert_user_error(run_cli([kitti_copy, "--config", "nope", "--quiet", "--out", tmp_path / "out"]),
                             "nope.yaml")
    assert "demo" in line and "kitti" in line  # lists the presets


@pytest.mark.parametrize("text,words", [("a: [\n", "invalid YAML"), ("- 1\n", "mapping"), ("foo: 1\n", "foo")])
def test_bad_config_file(kitti_copy, tmp_path, run_cli, text, words):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert words in assert_user_error(run_cli([kitti_copy, "--config", cfg, "--quiet", "--out", tmp_path / "o"]), cfg)


@pytest.mark.parametrize("text", ["size: abc\n", "top_ratio: 0\n", "n_matches: abc\n", "min_inlier_share: 1.5\n"])
def test_bad_config_values(kitti_copy, tmp_path, text, run_cli):
    # in-process; the *_subprocess tests check the real process's exit code and stderr
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    res = run_cli([kitti_copy, "--config", cfg, "--max-frames", "2", "--quiet", "--out", tmp_path / "o"])
    assert_user_error(res, cfg)


def test_config_files_layer_in_order(kitti_copy, tmp_path, run_cli):
    """--config A --config B: B's keys on top of A's (not B alone), and a bad value names its file."""
    from vo_app.pipeline.config import load_config

    mine = tmp_path / "mine.yaml"
    mine.write_text("n_matches: 1234\n")
    cfg = load_config(["indoor", mine])
    indoor, default = load_config("indoor"), load_config()
    assert cfg.n_matches == 1234 and cfg.size == indoor.size != default.size
    out = tmp_path / "o"
    res = run_cli([kitti_copy, "--config", "demo", "--config", mine, "--max-frames", "3", "--quiet", "--out", out])
    assert res.code == 0, res.err
    conf = json.loads((out / "report.json").read_text())["config"]
    assert conf["n_matches"] == 1234 and conf["size"] == load_config("demo").to_dict()["size"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("hybrid_window: 4\n")
    assert "hybrid_window" in assert_user_error(run_cli([kitti_copy, "--config", "demo", "--config", bad, "--quiet",
                                                         "--out", tmp_path / "o2"]), bad)


def test_dis_option_overrides_the_preset(kitti_copy, tmp_path, run_cli):
    from vo_app.pipeline.config import load_config

    out = tmp_path / "o"
    res = run_cli([kitti_copy, "--config", "demo", "--dis", "fine", "--max-frames", "3", "--quiet", "--out", out])
    assert res.code == 0, res.err
    assert json.loads((out / "report.json").read_text())["config"]["dis_preset"] == "fine" != load_config("demo").dis_preset
    assert "vo-run --help" in assert_user_error(run_cli([kitti_copy, "--dis", "coarse", "--quiet", "--out", tmp_path / "b"]))


@pytest.mark.parametrize("size", ["abc", "12x3", "0x100", "20x20x3", "-416x128"])
def test_bad_size(kitti_copy, tmp_path, run_cli, size):
    line = assert_user_error(run_cli([kitti_copy, f"--size={size}", "--quiet", "--out", tmp_path / "out"]))
    assert repr(size) in line and "--size" in line


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_negative_seed(kitti_copy, tmp_path, backend, run_cli_proc):
    res = run_cli_proc([kitti_copy, "--seed", "-1", "--backend", backend, "--max-frames", "2", "--quiet",
                              "--out", tmp_path / "out"])
    assert res.code == 0 or (res.code == 2 and "Traceback" not in res.err), res.err[-300:]


@pytest.mark.parametrize("args", [["--layout", "bogus"], ["--no-such-option"], ["--camera", "7"]])
def test_click_usage_errors_are_one_line(kitti_copy, tmp_path, run_cli, args):
    line = assert_user_error(run_cli([kitti_copy, *args, "--quiet", "--out", tmp_path / "out"]))
    assert "vo-run --help" in line


def test_help(run_cli):
    res = run_cli(["--help"])
    assert res.code == 0 and res.err == ""
    assert "Usage: vo-run" in res.out and "SEQUENCE" in res.out
    for opt in ("--out", "--config", "--scale", "--size", "--max-frames", "--seed", "--demo", "--quiet"):
        assert opt in res.out


def test_help_subprocess(run_cli_proc):
    res = run_cli_proc(["--help"])
    assert res.code == 0 and "Usage:" in res.out and res.err == ""


def test_valid_run_exits_0(kitti_copy, tmp_path, run_cli):
    out = tmp_path / "out"
    res = run_cli([kitti_copy, "--config", "demo", "--max-frames", "3", "--quiet", "--out", out])
    assert res.code == 0 and res.err == ""
    assert "frames: 3" in res.out and all((out / n).is_file() for n in ("trajectory_kitti.txt", "report.json"))


# ------------------------------------------------------------------ vo-train flow, vo-eval flow (formerly placeholders)
@pytest.mark.parametrize("prog,args", [("vo-train", ["flow"]), ("vo-eval", ["flow", "--flow", "pwc"])])
def test_flow_commands_usage_errors_exit_2_with_one_line(run_cli, prog, args):
    import importlib

    mod = importlib.import_module(f"vo_app.cli.{prog.split('-')[1]}")
    res = run_cli(args, main=mod.main)
    assert res.code == 2 and res.out == "" and "Traceback" not in res.err
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith(f"{prog}: error: ")


def test_vo_view_without_a_run_folder(run_cli):
    from vo_app.cli import view

    res = run_cli([], main=view.main)  # a placeholder, or (being implemented) a usage error: one line either way
    assert res.code == 2 and "Traceback" not in res.err
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("vo-view: ")


@pytest.mark.parametrize("prog,args", [("vo-train", ["flow"]), ("vo-eval", ["flow", "--flow", "pwc"])])
def test_flow_console_scripts(prog, args):
    exe = Path(sys.executable).parent / prog
    if not exe.exists():
        pytest.skip(f"{prog} console script not installed")
    import subprocess

    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(f"{prog}: error: ")
