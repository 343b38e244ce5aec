"""Sequence readers: KITTI, TUM RGB-D, plain folders; selection, resizing, errors, streaming."""
from __future__ import annotations

import gc
import inspect
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from vo_app.errors import UserError
from vo_app.io import Intrinsics, open_sequence
from vo_app.io.images import natural_key
from vo_app.io.rotations import quat_to_rotation, rotation_to_quat

W, H = 64, 48
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
K_TEXT = "50 52 31.5 23.5\n"


# ------------------------------------------------------------------ fixtures
def texture(seed: int, color: bool = False, w: int = W, h: int = H) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3) if color else (h, w)).astype(np.uint8)
    return cv2.GaussianBlur(img, (3, 3), 0)


def write_images(folder: Path, names, color=False) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    imgs = []
    for i, n in enumerate(names):
        img = texture(i, color)
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / n), img)
        imgs.append(img)
    return imgs


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = quat_to_rotation(rng.normal(size=(n, 4)))
    T[:, :3, 3] = rng.normal(size=(n, 3))
    return T


def kitti_lines(poses) -> str:
    return "".join(" ".join(f"{v:.12e}" for v in T[:3].ravel()) + "\n" for T in poses)


def tum_lines(t, poses) -> str:
    q = rotation_to_quat(poses[:, :3, :3])
    return "".join(f"{ti:.6f} {' '.join(f'{v:.12f}' for v in T[:3, 3])} {' '.join(f'{v:.12f}' for v in qi)}\n"
                   for ti, T, qi in zip(t, poses, q))


def make_kitti(root: Path, n=6, camera=0, times=True, poses=True, color=False) -> Path:
    write_images(root / f"image_{camera}", [f"{i:06d}.png" for i in range(n)], color)
    P = f"50 0 31.5 0 0 52 23.5 0 0 0 1 0"
    P2 = f"60 0 30.5 44.0 0 62 22.5 0 0 0 1 0"
    (root / "calib.txt").write_text(f"P0: {P}\nP1: {P}\nP2: {P2}\nP3: {P2}\n")
    if times:
        (root / "times.txt").write_text("".join(f"{0.1037 * i:.6e}\n" for i in range(n)))
    if poses:
        (root / "poses.txt").write_text(kitti_lines(random_poses(n)))
    return root


def make_tum(root: Path, n=6, name="rgbd_dataset_freiburg3_long", depth=True, gt=True) -> Path:
    root = root / name
    t = 1305031100.0 + 0.033 * np.arange(n)
    names = [f"rgb/{ti:.6f}.png" for ti in t]
    write_images(root, names, color=True)
    (root / "rgb.txt").write_text("# color images\n# file: x\n# timestamp filename\n"
                                  + "".join(f"{ti:.6f} {nm}\n" for ti, nm in zip(t, names)))
    if depth:
        (root / "depth").mkdir()
        lines = []
        for i, ti in enumerate(t):
            td = ti + (0.01 if i != 2 else 0.03)  # frame 2 has no depth within 0.02 s
            d = np.full((H, W), 5000 * (i + 1), np.uint16)
            d[0, 0] = 0
            cv2.imwrite(str(root / f"depth/{td:.6f}.png"), d)
            lines.append(f"{td:.6f} depth/{td:.6f}.png\n")
        (root / "depth.txt").write_text("# depth maps\n" + "".join(lines))
    if gt:
        tg = t[0] - 0.02 + 0.1 * np.arange(int(np.ceil(0.033 * n / 0.1)) + 2)
        (root / "groundtruth.txt").write_text("# ground truth\n" + tum_lines(tg, random_poses(len(tg), 3)))
    return root


def make_folder(root: Path, n=5, intr="intrinsics.txt", text=K_TEXT, sub=None, color=False) -> Path:
    img_dir = root / sub if sub else root
    write_images(img_dir, [f"frame{i}.png" for i in range(n)], color)
    if intr:
        (root / intr).write_text(text)
    return root


def check_user_error(exc: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


# ------------------------------------------------------------------ KITTI
def test_kitti_reads_gray_frames_times_and_poses(tmp_path):
    root = make_kitti(tmp_path / "05")
    seq = open_sequence(root)
    assert seq.layout == "kitti" and seq.name == "05" and len(seq) == 6 and seq.size == (W, H)
    assert seq.intrinsics == Intrinsics(50, 52, 31.5, 23.5, W, H)
    np.testing.assert_allclose(seq.timestamps, 0.1037 * np.arange(6), atol=1e-9)
    assert seq.has_real_timestamps and not seq.has_depth
    gt = np.loadtxt(root / "poses.txt").reshape(-1, 3, 4)
    np.testing.assert_allclose(seq.gt_poses[:, :3], gt)
    frames = list(seq)
    assert [f.index for f in frames] == list(range(6))
    f = frames[3]
    assert f.image.dtype == np.float32 and f.image.shape == (H, W) and f.depth is None
    np.testing.assert_allclose(f.image, texture(3) / 255.0, atol=1e-6)
    assert f.path.endswith("000003.png") and f.timestamp == pytest.approx(0.3111)


def test_kitti_official_layout_finds_poses_dir_and_defaults_times(tmp_path):
    root = make_kitti(tmp_path / "dataset" / "sequences" / "03", times=False, poses=False)
    (tmp_path / "dataset" / "poses").mkdir()
    poses = random_poses(6, 7)
    (tmp_path / "dataset" / "poses" / "03.txt").write_text(kitti_lines(poses))
    seq = open_sequence(root)
    np.testing.assert_allclose(seq.gt_poses, poses, atol=1e-11)
    np.testing.assert_allclose(seq.timestamps, np.arange(6) / 10)
    assert not seq.has_real_timestamps


def test_kitti_cropped_folder_uses_file_numbers_for_rows(tmp_path):
    root = make_kitti(tmp_path / "k", n=4)
    for i in range(2):
        (root / "image_0" / f"{i:06d}.png").unlink()
    (root / "times.txt").write_text("".join(f"{i}.5\n" for i in range(10)))
    (root / "poses.txt").write_text(kitti_lines(random_poses(10, 1)))
    seq = open_sequence(root)
    np.testing.assert_allclose(seq.timestamps, [2.5, 3.5])
    np.testing.assert_allclose(seq.gt_poses, random_poses(10, 1)[2:4], atol=1e-11)


def test_kitti_colour_camera_and_camera_choice(tmp_path):
    root = make_kitti(tmp_path / "c", camera=2, color=True)
    seq = open_sequence(root, color=True)
    assert seq.intrinsics.fx == 60 and seq.intrinsics.cx == 30.5
    img = next(iter(seq)).image
    assert img.shape == (H, W, 3)
    np.testing.assert_allclose(img, texture(0, True)[:, :, ::-1] / 255.0, atol=1e-6)
    gray = next(iter(open_sequence(root))).image
    assert gray.shape == (H, W)
    np.testing.assert_allclose(gray, cv2.cvtColor(texture(0, True), cv2.COLOR_BGR2GRAY) / 255.0, atol=2.5e-3)
    with pytest.raises(UserError) as e:
        open_sequence(root, camera=0)
    check_user_error(e, "image_0", "--camera 2")


def test_kitti_depth_png_is_metres_times_256(tmp_path):
    root = make_kitti(tmp_path / "d", n=3)
    (root / "depth").mkdir()
    d = np.full((H, W), 256 * 7, np.uint16)
    d[:, : W // 2] = 0
    cv2.imwrite(str(root / "depth" / "000001.png"), d)
    seq = open_sequence(root, size=(32, 24))
    frames = list(seq)
    assert seq.has_depth and frames[0].depth is None and frames[2].depth is None
    depth = frames[1].depth
    assert depth.shape == (24, 32) and depth.dtype == np.float32
    assert set(np.unique(depth)) == {0.0, 7.0}  # nearest neighbour: no blended values


# ------------------------------------------------------------------ TUM
def test_tum_intrinsics_by_name_depth_and_gt_association(tmp_path):
    root = make_tum(tmp_path)
    seq = open_sequence(root, color=True)
    assert seq.layout == "tum" and len(seq) == 6 and seq.has_real_timestamps
    K = seq.intrinsics
    assert (K.fx, K.fy, K.cx, K.cy) == pytest.approx((535.4 * W / 640, 539.2 * H / 480,
                                                     (320.1 + 0.5) * W / 640 - 0.5, (247.6 + 0.5) * H / 480 - 0.5))
    assert K.dist is None
    frames = list(seq)
    assert seq.has_depth and frames[2].depth is None
    assert frames[0].depth[5, 5] == pytest.approx(1.0) and frames[0].depth[0, 0] == 0
    assert frames[4].depth[5, 5] == pytest.approx(5.0)
    np.testing.assert_allclose(frames[1].image, texture(1, True)[:, :, ::-1] / 255.0, atol=1e-6)

    # Interpolated ground truth: between samples k and k+1 at fraction a.
    data = np.loadtxt(root / "groundtruth.txt")
    tg, Tg = data[:, 0], np.tile(np.eye(4), (len(data), 1, 1))
    Tg[:, :3, 3], Tg[:, :3, :3] = data[:, 1:4], quat_to_rotation(data[:, 4:])
    for i, t in enumerate(seq.timestamps):
        k = np.searchsorted(tg, t) - 1
        a = (t - tg[k]) / (tg[k + 1] - tg[k])
        np.testing.assert_allclose(seq.gt_poses[i, :3, 3], (1 - a) * Tg[k, :3, 3] + a * Tg[k + 1, :3, 3], atol=1e-9)
        R = seq.gt_poses[i, :3, :3]
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)
        # the rotation is on the geodesic: angle(R_k, R) = a * angle(R_k, R_k+1)
        ang = lambda A, B: np.arccos(np.clip((np.trace(A.T @ B) - 1) / 2, -1, 1))
        assert ang(Tg[k, :3, :3], R) == pytest.approx(a * ang(Tg[k, :3, :3], Tg[k + 1, :3, :3]), abs=1e-7)


def test_tum_gt_outside_range(tmp_path):
    root = make_tum(tmp_path, gt=False, depth=False)
    t = np.loadtxt(root / "rgb.txt", usecols=0)
    poses = random_poses(3, 5)
    (root / "groundtruth.txt").write_text(tum_lines([t[0] + 0.04, t[3], t[-1]], poses))
    seq = open_sequence(root)  # frame 0 is 0.04 s before the first sample: nearest
    np.testing.assert_allclose(seq.gt_poses[0], poses[0], atol=1e-9)
    np.testing.assert_allclose(seq.gt_poses[3], poses[1], atol=1e-9)
    (root / "groundtruth.txt").write_text(tum_lines([t[0] + 0.06, t[-1]], poses[:2]))
    assert open_sequence(root).gt_poses is None
    assert open_sequence(root, start=1).gt_poses is not None  # only selected frames matter


def test_tum_freiburg1_distortion_and_intrinsics_file(tmp_path):
    root = make_tum(tmp_path, name="rgbd_dataset_freiburg1_desk", depth=False, gt=False)
    seq = open_sequence(root)
    assert seq.intrinsics.dist is None and seq.intrinsics.fx == pytest.approx(517.3 * W / 640)
    raw = open_sequence(root, undistort=False)
    assert raw.intrinsics.dist == (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)
    assert not np.allclose(next(iter(seq)).image, next(iter(raw)).image)
    (root / "camera.txt").write_text("40 41 30 20\n")
    assert open_sequence(root).intrinsics.fx == 40
    assert open_sequence(root, intrinsics=Intrinsics(80, 80, 63.5, 47.5, 128, 96)).intrinsics.fx == 40


def test_tum_missing_listed_file_is_a_skippable_frame(tmp_path):
    root = make_tum(tmp_path, depth=False, gt=False)
    missing = sorted((root / "rgb").iterdir())[3]
    missing.unlink()
    frames = list(open_sequence(root))
    assert frames[3].image is None and "not found" in frames[3].extra["error"]
    assert missing.name in frames[3].extra["error"]
    assert all(f.image is not None for i, f in enumerate(frames) if i != 3)


# ------------------------------------------------------------------ plain folders
@pytest.mark.parametrize("name,text", [
    ("intrinsics.txt", "# fx fy cx cy\n50, 52, 31.5, 23.5\n"),
    ("camera.txt", "50 52 31.5 23.5"),
    ("camera-intrinsics.txt", "5.0e+01 0 3.15e+01\n0 52 23.5\n0 0 1\n"),
    ("calib.txt", "P0: 50 0 31.5 0 0 52 23.5 0 0 0 1 0\n"),
])
@pytest.mark.parametrize("where", ["folder", "parent"])
def test_folder_intrinsics_discovery(tmp_path, name, text, where):
    root = make_folder(tmp_path / "seq", intr=None)
    (root / name if where == "folder" else tmp_path / name).write_text(text)
    seq = open_sequence(root)
    assert seq.layout == "folder" and len(seq) == 5
    assert seq.intrinsics == Intrinsics(50, 52, 31.5, 23.5, W, H)
    np.testing.assert_allclose(seq.timestamps, np.arange(5) / 10)
    assert not seq.has_real_timestamps and seq.gt_poses is None and not seq.has_depth


def test_folder_without_intrinsics_asks_for_them(tmp_path):
    root = make_folder(tmp_path / "seq", intr=None)
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "--intrinsics FILE", "fx fy cx cy", str(root))
    (tmp_path / "k.txt").write_text(K_TEXT)
    assert open_sequence(root, intrinsics=tmp_path / "k.txt").intrinsics.fy == 52


@pytest.mark.parametrize("sub", ["color", "rgb", "images", "image_left"])
def test_folder_image_subfolders(tmp_path, sub):
    seq = open_sequence(make_folder(tmp_path / "s", sub=sub))
    assert len(seq) == 5 and Path(seq.image_paths[0]).parent.name == sub


def test_folder_natural_sort_and_ignores_non_images(tmp_path):
    root = tmp_path / "s"
    write_images(root, ["frame10.png", "frame2.jpg", "frame1.PNG", "Frame3.bmp"])
    (root / "notes.txt").write_text("hi")
    (root / "intrinsics.txt").write_text(K_TEXT)
    assert [Path(p).name for p in open_sequence(root).image_paths] == [
        "frame1.PNG", "frame2.jpg", "Frame3.bmp", "frame10.png"]
    assert sorted(["a10b", "a2b", "a2a"], key=natural_key) == ["a2a", "a2b", "a10b"]


def test_folder_undistortion_matches_opencv(tmp_path):
    dist = (0.1, -0.05, 0.001, -0.002, 0.01)
    root = make_folder(tmp_path / "s", text="50 52 31.5 23.5 " + " ".join(map(str, dist)))
    seq = open_sequence(root)
    assert seq.intrinsics == Intrinsics(50, 52, 31.5, 23.5, W, H, None)
    K = np.array([[50, 0, 31.5], [0, 52, 23.5], [0, 0, 1]])
    expected = cv2.undistort(texture(1).astype(np.float32) / 255, K, np.array(dist))
    got = seq.load(1).image
    err = np.abs(got - expected)[4:-4, 4:-4]  # cv2.undistort samples with 1/32-pixel fixed-point maps
    assert err.mean() < 1e-3 and err.max() < 1e-2
    assert np.abs(got - texture(1) / 255.0)[4:-4, 4:-4].mean() > 10 * err.mean()  # distortion did change it
    kept = open_sequence(root, undistort=False, size=(32, 24))
    assert kept.intrinsics.dist == dist and kept.intrinsics.fx == 25


def test_folder_7scenes_style_gt_gives_timestamps(tmp_path):
    root = make_folder(tmp_path / "s", n=4, sub="color", intr="camera-intrinsics.txt",
                       text="50 0 31.5\n0 52 23.5\n0 0 1\n")
    poses = random_poses(4, 9)
    (root / "groundtruth_tum.txt").write_text("# index/30\n" + tum_lines(np.arange(4) / 30, poses))
    seq = open_sequence(root, stride=2)
    np.testing.assert_allclose(seq.timestamps, [0, 2 / 30], atol=1e-6)
    assert seq.has_real_timestamps
    np.testing.assert_allclose(seq.gt_poses, poses[[0, 2]], atol=1e-9)


def test_folder_times_files(tmp_path):
    root = make_folder(tmp_path / "s", n=4)
    (root / "times.txt").write_text("0.5\n0.7\n0.9\n1.1\n")
    np.testing.assert_allclose(open_sequence(root).timestamps, [0.5, 0.7, 0.9, 1.1])
    (root / "times.txt").write_text("".join(f"{2 + i} frame{i}.png\n" for i in range(4)))
    seq = open_sequence(root, start=1)
    np.testing.assert_allclose(seq.timestamps, [3, 4, 5])
    assert seq.has_real_timestamps
    (root / "groundtruth.txt").write_text(tum_lines([2.0, 6.0], random_poses(2)))
    assert open_sequence(root).gt_poses.shape == (4, 4, 4)
    seq = open_sequence(root, fps=25.0)  # fps never overrides real timestamps
    np.testing.assert_allclose(seq.timestamps, [2, 3, 4, 5])


# ------------------------------------------------------------------ options
def test_resize_scales_intrinsics_and_uses_area_interpolation(tmp_path):
    root = make_folder(tmp_path / "s")
    seq = open_sequence(root, size=(32, 24))
    assert seq.size == (32, 24) and seq.native_size == (W, H)
    assert seq.intrinsics == Intrinsics(50, 52, 31.5, 23.5, W, H).scaled(32, 24)
    assert seq.intrinsics.cx == pytest.approx(15.5) and seq.intrinsics.fx == 25
    img = seq.load(2).image
    np.testing.assert_allclose(img, cv2.resize(texture(2).astype(np.float32) / 255, (32, 24),
                                               interpolation=cv2.INTER_AREA), atol=1e-6)
    big = open_sequence(root, size=(128, 96), color=True).load(0).image
    assert big.shape == (96, 128, 3) and big.dtype == np.float32 and 0 <= big.min() and big.max() <= 1


def test_stride_start_max_frames(tmp_path):
    root = make_kitti(tmp_path / "k", n=10)
    full = open_sequence(root)
    seq = open_sequence(root, start=1, stride=3, max_frames=2)
    assert len(seq) == 2 and list(seq.source_indices) == [1, 4]
    assert [Path(p).name for p in seq.image_paths] == ["000001.png", "000004.png"]
    np.testing.assert_allclose(seq.timestamps, full.timestamps[[1, 4]])
    np.testing.assert_allclose(seq.gt_poses, full.gt_poses[[1, 4]])
    frames = list(seq)
    assert [(f.index, f.source_index) for f in frames] == [(0, 1), (1, 4)]
    np.testing.assert_allclose(frames[1].image, texture(4) / 255.0, atol=1e-6)
    assert len(open_sequence(root, start=1, stride=3)) == 3


def test_gray_source_replicated_in_colour_mode(tmp_path):
    img = open_sequence(make_folder(tmp_path / "s"), color=True).load(0).image
    assert img.shape == (H, W, 3)
    assert np.array_equal(img[..., 0], img[..., 2])


def test_streaming_keeps_no_images(tmp_path):
    seq = open_sequence(make_folder(tmp_path / "s", n=8))
    it = iter(seq)
    assert inspect.isgenerator(it)
    first = next(it)
    ref = weakref.ref(first.image)
    del first
    gc.collect()
    assert ref() is None  # the sequence and the generator did not keep the image
    for _ in it:
        pass
    arrays = [v for v in vars(seq).values() if isinstance(v, np.ndarray)]
    assert all(a.size <= 16 * len(seq) for a in arrays)
    assert not any(isinstance(v, np.ndarray) and v.shape[-2:] == (H, W) for v in vars(seq).values())


# ------------------------------------------------------------------ bad input
def test_missing_directory(tmp_path):
    with pytest.raises(UserError) as e:
        open_sequence(tmp_path / "nope")
    check_user_error(e, "nope", "not found")
    with pytest.raises(UserError) as e:
        open_sequence(tmp_path / "nope", layout="folder")
    check_user_error(e, "nope")


def test_directory_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(UserError) as e:
        open_sequence(tmp_path / "empty")
    check_user_error(e, "empty", "no images")


def test_corrupt_image_mid_sequence_is_yielded_with_error(tmp_path):
    root = make_folder(tmp_path / "s")
    (root / "frame2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    frames = list(open_sequence(root))
    assert len(frames) == 5 and frames[2].image is None
    err = frames[2].extra["error"]
    assert "frame2.png" in err and "\n" not in err
    assert all(f.image is not None and "error" not in f.extra for i, f in enumerate(frames) if i != 2)


def test_image_size_change_raises_on_load(tmp_path):
    root = make_folder(tmp_path / "s")
    cv2.imwrite(str(root / "frame3.png"), texture(0, w=60))
    seq = open_sequence(root)  # lazy: opening is fine
    with pytest.raises(UserError) as e:
        list(seq)
    check_user_error(e, "frame3.png", "60x48", "64x48")


@pytest.mark.parametrize("calib,words", [
    ("P1: 1 0 0 0 0 1 0 0 0 0 1 0\n", ["no 'P0:' line"]),
    ("P0: 50 0 31.5 0 0 52 23.5 0 0 0 1\n", ["11 numbers", "12 numbers"]),
    ("P0: 50 0 31.5 0 0 52 x 0 0 0 1 0\n", ["non-numeric"]),
    ("P0: -50 0 31.5 0 0 52 23.5 0 0 0 1 0\n", ["positive"]),
    ("", ["no 'P0:' line"]),
])
def test_bad_kitti_calibration(tmp_path, calib, words):
    root = make_kitti(tmp_path / "k")
    (root / "calib.txt").write_text(calib)
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "calib.txt", "P0:", *words)


def test_kitti_without_calib(tmp_path):
    root = make_kitti(tmp_path / "k")
    (root / "calib.txt").unlink()
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "calib.txt", "P0:", str(root))
    (tmp_path / "K.txt").write_text(K_TEXT)
    assert open_sequence(root, layout="kitti", intrinsics=tmp_path / "K.txt").intrinsics.fy == 52


@pytest.mark.parametrize("text,words", [
    ("50 52 31.5\n", ["3 numbers"]),
    ("fx fy cx cy\n", ["non-numeric", "line 1"]),
    ("0 52 31.5 23.5\n", ["positive"]),
    ("50 0 31.5\n0 52 23.5\n0 0 2\n", ["3x3"]),
])
def test_bad_intrinsics_file(tmp_path, text, words):
    root = make_folder(tmp_path / "s", text=text)
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "intrinsics.txt", "fx fy cx cy", *words)


def test_missing_intrinsics_argument_file(tmp_path):
    root = make_folder(tmp_path / "s")
    with pytest.raises(UserError) as e:
        open_sequence(root, intrinsics=tmp_path / "nope.txt")
    check_user_error(e, "nope.txt", "--intrinsics")


def test_tum_folder_without_rgb_txt(tmp_path):
    root = make_tum(tmp_path)
    (root / "rgb.txt").unlink()
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "no rgb.txt", root.name)
    with pytest.raises(UserError) as e:
        open_sequence(root, layout="tum")
    check_user_error(e, "no rgb.txt")


def test_tum_without_intrinsics(tmp_path):
    root = make_tum(tmp_path, name="my_rgbd_capture", depth=False, gt=False)
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "my_rgbd_capture", "--intrinsics")


def test_malformed_rgb_txt(tmp_path):
    root = make_tum(tmp_path, depth=False, gt=False)
    (root / "rgb.txt").write_text("1.0 rgb/a.png\nnot-a-time rgb/b.png\n")
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "rgb.txt", "line 2")


@pytest.mark.parametrize("opts", [dict(), dict(start=5), dict(start=0, stride=10)])
def test_fewer_than_two_frames(tmp_path, opts):
    root = make_folder(tmp_path / "s", n=1 if not opts else 5)
    with pytest.raises(UserError) as e:
        open_sequence(root, **opts)
    check_user_error(e, str(root), "at least 2 frames")


@pytest.mark.parametrize("opts", [dict(size=(0, 10)), dict(stride=0), dict(max_frames=1), dict(layout="video")])
def test_bad_options(tmp_path, opts):
    with pytest.raises(UserError) as e:
        open_sequence(make_folder(tmp_path / "s"), **opts)
    check_user_error(e)


def test_ground_truth_row_count_mismatch(tmp_path):
    root = make_kitti(tmp_path / "k")
    (root / "poses.txt").write_text(kitti_lines(random_poses(3)))
    with pytest.raises(UserError) as e:
        open_sequence(root)
    check_user_error(e, "poses.txt", "3 pose rows for 6 images")


# ------------------------------------------------------------------ real data (skipped when absent)
def _shared(name: str) -> Path:
    p = SHARED / name
    if not p.is_dir():
        pytest.skip(f"shared data {p} not present")
    return p


@pytest.mark.parametrize("name,fx,size", [("kitti06_0000-0050", 707.0912, (1226, 370)),
                                         ("kitti01_0000-0050", 718.856, (1241, 376))])
def test_real_kitti(name, fx, size):
    root = _shared(name)
    seq = open_sequence(root)
    assert seq.layout == "kitti" and len(seq) == 51 and seq.size == size
    assert seq.intrinsics.fx == pytest.approx(fx) and seq.has_real_timestamps
    assert seq.gt_poses.shape == (51, 4, 4) and np.allclose(seq.gt_poses[0], np.eye(4), atol=1e-5)
    small = open_sequence(root, size=(416, 128), max_frames=3)
    frames = list(small)
    assert len(frames) == 3 and frames[0].image.shape == (128, 416)
    assert 0 <= frames[0].image.min() and frames[0].image.max() <= 1


def test_real_7scenes():
    root = _shared("7scenes_redkitchen_0000-0299")
    seq = open_sequence(root, stride=10, color=True)
    assert seq.layout == "folder" and len(seq) == 30
    assert seq.intrinsics == Intrinsics(585, 585, 320, 240, 640, 480)
    np.testing.assert_allclose(seq.timestamps[:3], [0, 1 / 3, 2 / 3], atol=1e-5)
    pose = np.loadtxt(root / "pose" / "frame-000010.pose.txt")
    np.testing.assert_allclose(seq.gt_poses[1], pose, atol=2e-2)
    assert seq.load(1).image.shape == (480, 640, 3)


def test_folder_7scenes_depth_every_fifth_frame_with_invalid_readings(tmp_path):
    root = tmp_path / "s"
    write_images(root / "color", [f"frame-{i:06d}.color.png" for i in range(6)])
    (root / "camera-intrinsics.txt").write_text("50 0 31.5\n0 52 23.5\n0 0 1\n")
    (root / "depth").mkdir()
    raw = np.full((H, W), 1500, np.uint16)
    raw[0, :3] = 65535  # the Kinect's "no reading"
    raw[1, :2] = 0
    for i in (0, 5):
        assert cv2.imwrite(str(root / "depth" / f"frame-{i:06d}.depth.png"), raw)
    seq = open_sequence(root)
    assert seq.has_depth
    frames = list(seq)
    assert [f.depth is not None for f in frames] == [True, False, False, False, False, True]
    d = frames[0].depth
    assert d[0, :3].max() == 0 and d[1, :2].max() == 0 and d[2, 0] == pytest.approx(1.5)
    assert not open_sequence(root, stride=2, start=1, max_frames=2).has_depth  # frames 1 and 3 have none
