"""The depth network and its training stages: shapes, shared differentiable geometry, losses at the
truth, checkpoints, exact resume, the NaN stop, bad input, and the joint stage end to end."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from _flowkit import one_line_error
from vo_app.geometry.pose_torch import triangulate_midpoint_t
from vo_app.geometry.reproject_t import reproject_depth_t
from vo_app.geometry.scale import align_scale_t, robust_ratio, robust_ratio_t
from vo_app.geometry._reference.triangulation import triangulate_midpoint
from vo_app.models.checkpoint import DEPTH_KIND, KIND, load_checkpoint, load_depth_model, save_checkpoint
from vo_app.models.depth import RESNET18, SMALL, DepthArch, DepthNet, DepthPredictor
from vo_app.synth.samples.depth_synth import SynthDepthSpec, depth_tensors, make_depth_sample
from vo_app.train.depth_losses import (disparity_smoothness, multiple_masks, reprojection_loss, rigid_photometric_loss,
                                       supervised_depth_loss, triangulate_matches, triangulation_loss)

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "train_depth_tiny.yaml"
TINY_ARCH = DepthArch(stem=4, widths=(4, 4, 8, 8), blocks=(1, 1, 1, 1), decoder=(4, 4, 4, 8, 8))


# ------------------------------------------------------------------ the network
def test_shapes_and_depth_range():
    torch.manual_seed(0)
    net = DepthNet(SMALL).eval()
    out = net(torch.rand(2, 3, 64, 128))
    assert [tuple(d.shape) for d in out["disp"]] == [(2, 1, 64, 128), (2, 1, 32, 64), (2, 1, 16, 32), (2, 1, 8, 16)]
    assert all(((d > 0) & (d < 1)).all() for d in out["disp"])
    assert out["depth"].shape == (2, 1, 64, 128)
    assert (out["depth"] >= SMALL.min_depth).all() and (out["depth"] <= SMALL.max_depth).all()
    # the mapping's end points: d=0 -> max_depth, d=1 -> min_depth
    ends = net.disp_to_depth(torch.tensor([0.0, 1.0]))
    assert torch.allclose(ends, torch.tensor([SMALL.max_depth, SMALL.min_depth]), rtol=1e-5)
    gray = net(torch.rand(1, 1, 64, 128))["depth"]
    assert gray.shape == (1, 1, 64, 128)
    with pytest.raises(ValueError, match="multiple of 32"):
        net(torch.rand(1, 3, 60, 128))


def test_full_resnet18_layout():
    n_enc = sum(p.numel() for p in DepthNet(RESNET18).encoder.parameters())
    assert 11.0e6 < n_enc < 11.3e6  # ResNet-18 without its classifier: 11.18 M parameters
    assert sum(p.numel() for p in DepthNet(SMALL).parameters()) < 1.0e6


def test_predictor_resizes_and_applies_the_focal_length():
    torch.manual_seed(0)
    pred = DepthPredictor(DepthNet(TINY_ARCH), (128, 64))
    img = np.random.default_rng(0).random((100, 300, 3)).astype(np.float32)
    a, = pred.predict([img], 0.58)
    b, = pred.predict([img], 1.16)
    assert a.shape == (100, 300) and np.isfinite(a).all()
    np.testing.assert_allclose(b, 2 * a, rtol=1e-5)  # twice the focal length: the same image is twice as far


# ------------------------------------------------------------------ shared differentiable geometry
def _random_two_view(n=40, seed=0):
    rng = np.random.default_rng(seed)
    K = np.array([[200.0, 0, 64], [0, 200.0, 32], [0, 0, 1]])
    X = np.c_[rng.uniform(-3, 3, n), rng.uniform(-1, 1, n), rng.uniform(4, 20, n)]
    ang = 0.05
    R = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    t = np.array([0.1, 0.0, -1.0])
    t /= np.linalg.norm(t)
    X2 = X @ R.T + t
    p1 = (X @ K.T)[:, :2] / X[:, 2:]
    p2 = (X2 @ K.T)[:, :2] / X2[:, 2:]
    p1 += rng.normal(0, 0.3, p1.shape)
    return p1, p2, K, R, t, X


def test_torch_triangulation_matches_numpy_and_has_gradients():
    p1, p2, K, R, t, _ = _random_two_view()
    ref = triangulate_midpoint(p1, p2, K, R, t)
    T = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    tr = triangulate_midpoint_t(T(p1), T(p2), T(K), T(R), T(t))
    X, d1, d2, valid = tr.points, tr.depth1, tr.depth2, tr.valid
    np.testing.assert_allclose(X.numpy(), ref.points, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(d1.numpy(), ref.depth1, rtol=1e-10)
    assert np.array_equal(valid.numpy(), ref.valid)

    def f(a, b):
        return triangulate_midpoint_t(a, b, T(K), T(R), T(t)).depth1

    q1 = T(p1[:6]).requires_grad_()
    q2 = T(p2[:6]).requires_grad_()
    assert torch.autograd.gradcheck(f, (q1, q2))


def test_scale_alignment_recovers_the_scale_and_is_differentiable():
    rng = np.random.default_rng(1)
    tri = torch.tensor(rng.uniform(2, 30, (2, 50)))
    pred = tri * torch.tensor([[3.0], [0.25]])
    valid = torch.ones_like(tri, dtype=torch.bool)
    valid[0, :5] = False
    s = align_scale_t(pred, tri, valid)
    np.testing.assert_allclose(s.numpy(), [1 / 3.0, 4.0], rtol=1e-9)
    noisy = pred * torch.tensor(1 + 0.05 * rng.standard_normal((2, 50)))
    small = noisy[:, :8].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda q: align_scale_t(q, tri[:, :8], torch.ones_like(valid[:, :8]), 1),
                                    (small,))
    # too few usable samples: NaN, and still no NaN in the gradient of the other rows
    few = valid.clone()
    few[1, 10:] = False
    q = noisy.clone().requires_grad_()
    s = align_scale_t(q, tri, few)
    assert torch.isfinite(s[0]) and torch.isnan(s[1])
    s[0].backward()
    assert torch.isfinite(q.grad).all() and (q.grad[1] == 0).all()


def _ratio_rows(seed: int, n: int = 300):
    """Rows of depth pairs with every case of the rule: outliers, invalid entries, weights, ties."""
    rng = np.random.default_rng(seed)
    denom = rng.uniform(1, 40, (6, n))
    numer = denom * np.exp(rng.normal(np.log(rng.uniform(0.2, 5, (6, 1))), 0.05, (6, n)))
    bad = rng.random((6, n)) < 0.3
    numer[bad] *= rng.uniform(0.1, 10, bad.sum())  # 30 % outliers
    numer[0, :7], denom[0, 7:12] = np.nan, -1.0  # unusable entries
    numer[1, :40] = 2.0 * denom[1, :40]  # exact ties in the log-ratios
    numer[2, :25] = 0.7 * denom[2, :25]
    numer[2, 17:25] *= 50.0  # 17 inliers among 25 usable: below min_count, the median of all 25 is kept
    numer[2, 25:] = np.nan
    numer[3, :] = denom[3, :] * np.where(np.arange(n) % 2 == 0, 1.0, 3.0)  # two equal clusters: MAD 0
    weights = rng.uniform(0.1, 3.0, (6, n))
    weights[4, :5] = 0.0
    return numer, denom, weights


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("min_count", [20, 30])
def test_training_scale_rule_is_the_runtime_rule(seed, weighted, min_count):
    """robust_ratio_t (training, batched torch) returns robust_ratio's ratio and count row by row (the
    NumPy rule is the oracle), and align_scale_t's least squares runs over exactly its inliers."""
    numer, denom, weights = _ratio_rows(seed)
    T = torch.from_numpy
    w = T(weights) if weighted else None
    ratio, inliers, n_used = robust_ratio_t(T(numer), T(denom), torch.ones(numer.shape, dtype=torch.bool),
                                            min_count, w)
    for b in range(len(numer)):
        r_np, n_np = robust_ratio(numer[b], denom[b], min_count, weights=weights[b] if weighted else None)
        assert int(n_used[b]) == n_np and int(inliers[b].sum()) in (n_np, 0)
        if np.isnan(r_np):
            assert torch.isnan(ratio[b])
        else:
            np.testing.assert_allclose(float(ratio[b]), r_np, rtol=1e-12)
    assert torch.isnan(ratio[2]) == (min_count > 25) and int(n_used[2]) == 25
    if min_count == 20:  # the fallback: too few inliers, the median of every usable pair
        np.testing.assert_allclose(float(ratio[2]), np.exp(np.median(np.log(numer[2, :25] / denom[2, :25]))),
                                   rtol=1e-12)
    # the training scale: least squares of tri / pred over the inliers of the same rule
    s = align_scale_t(T(denom), T(numer), torch.ones(numer.shape, dtype=torch.bool), min_count)
    _, inl, _ = robust_ratio_t(T(numer), T(denom), torch.ones(numer.shape, dtype=torch.bool), min_count)
    for b in range(len(numer)):
        m = inl[b].numpy()
        x = denom[b][m] / numer[b][m]
        expect = x.sum() / (x * x).sum() if m.sum() >= min_count and not torch.isnan(ratio[b]) else np.nan
        np.testing.assert_allclose(float(s[b]), expect, rtol=1e-9)


def test_training_scale_ignores_outliers():
    """30 % gross outliers do not move align_scale_t (the rule's 3-MAD cut); a plain least squares moves."""
    rng = np.random.default_rng(3)
    tri = rng.uniform(2, 30, (1, 200))
    pred = tri * 0.5 * np.exp(rng.normal(0, 0.01, tri.shape))
    pred[0, :60] *= rng.uniform(3, 6, 60)
    s = float(align_scale_t(torch.from_numpy(pred), torch.from_numpy(tri), torch.ones(tri.shape, dtype=torch.bool)))
    assert abs(s - 2.0) < 0.02
    x = pred[0] / tri[0]
    assert abs(x.sum() / (x * x).sum() - 2.0) > 0.5


# ------------------------------------------------------------------ the synthetic depth stream
def _depth_agreement(s: dict) -> float:
    """Median relative gap between frame 1's depth moved by ``T_21`` and frame 2's depth there."""
    K, T = s["K"], s["T_21"]
    H, W = s["depth1"].shape
    v, u = np.mgrid[0:H:4, 0:W:4]
    d = s["depth1"][v, u]
    ok = (d > 0) & (d < 60)
    X = np.linalg.inv(K) @ np.stack([u[ok], v[ok], np.ones(ok.sum())]) * d[ok]
    Y = T[:3, :3] @ X + T[:3, 3:]
    p = K @ Y
    x, y = np.round(p[0] / p[2]).astype(int), np.round(p[1] / p[2]).astype(int)
    inside = (Y[2] > 0.5) & (x >= 0) & (x < W) & (y >= 0) & (y < H)
    d2 = s["depth2"][y[inside], x[inside]]
    seen = d2 > 0
    assert seen.sum() > 200
    return float(np.median(np.abs(Y[2][inside][seen] / d2[seen] - 1)))


def test_turned_driving_frames_look_across_the_street_with_a_consistent_pose():
    base = dict(augment=False, handheld_fraction=0.0, gray_fraction=0.0)
    plain = make_depth_sample(SynthDepthSpec(**base), 3, 160, 64, pair=True)
    turned = make_depth_sample(SynthDepthSpec(**base, turn_fraction=1.0), 3, 160, 64, pair=True)
    # the forward camera moves along its optical axis; a turned one does not (mostly sideways)
    t_plain, t_turn = plain["T_21"][:3, 3], turned["T_21"][:3, 3]
    assert abs(t_plain[2]) > 0.95 * np.linalg.norm(t_plain)
    assert abs(t_turn[2]) < 0.95 * np.linalg.norm(t_turn)
    assert not np.allclose(plain["depth1"], turned["depth1"])
    for s in (plain, turned):  # the pose of the pair agrees with the rendered depths
        assert _depth_agreement(s) < 0.02
    assert SynthDepthSpec().turn_fraction == 0.0  # streams of existing configs are unchanged


# ------------------------------------------------------------------ losses on a pair with known depth and pose
@pytest.fixture(scope="module")
def true_pair():
    """A synthetic driving pair, the exact flows from its depth and pose, and the pose from F."""
    from vo_app.geometry import TwoViewParams, two_view_tensors
    from vo_app.io.types import Intrinsics
    from vo_app.synth import compute_flow

    s = make_depth_sample(SynthDepthSpec(augment=False, handheld_fraction=0.0, gray_fraction=0.0), 0, 256, 128,
                          pair=True)
    T21, K = s["T_21"], s["K"]
    intr = Intrinsics(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], width=256, height=128)
    P2 = np.linalg.inv(T21)
    ff, _ = compute_flow(s["depth1"], np.eye(4), P2, intr, s["depth2"])
    fb, _ = compute_flow(s["depth2"], P2, np.eye(4), intr, s["depth1"])
    to = lambda f: torch.nan_to_num(torch.from_numpy(f).permute(2, 0, 1)[None].float())  # noqa: E731
    Kt = torch.from_numpy(K)[None]
    tv = two_view_tensors(to(ff), to(fb), Kt, [0], TwoViewParams(n_matches=3000, early_exits=False, refine=False,
                                                                 min_inliers=100))
    b = depth_tensors(s)
    return {"tv": tv, "K": Kt, "d1": b["depth1"][None].double(), "d2": b["depth2"][None].double(),
            "img1": b["img1"][None].double(), "img2": b["img2"][None].double(), "T21": T21}


def test_pose_from_flow_is_exact_on_true_flow(true_pair):
    tv, T21 = true_pair["tv"], true_pair["T21"]
    assert bool(tv.ok[0])
    R_err = np.degrees(np.arccos(np.clip((np.trace(tv.R[0].numpy().T @ T21[:3, :3]) - 1) / 2, -1, 1)))
    assert R_err < 0.01
    np.testing.assert_allclose(tv.t[0].numpy(), T21[:3, 3] / np.linalg.norm(T21[:3, 3]), atol=1e-4)


def _losses(p, d1, d2):
    tv, K = p["tv"], p["K"]
    tri = triangulate_matches(tv.p1, tv.p2, K, tv.R, tv.t, tv.drawn)
    ld = triangulation_loss(d1, d2, tv.p1, tv.p2, tri)
    a1, a2 = d1 * ld["s1"].view(-1, 1, 1, 1), d2 * ld["s2"].view(-1, 1, 1, 1)
    c2, z2 = reproject_depth_t(a1, K, tv.R, tv.t)
    mask = tv.occ.double() * tv.rigid.double()
    lp = reprojection_loss(a1, a2, K, tv.R, tv.t, mask, c2, z2)
    lph = rigid_photometric_loss(p["img1"], p["img2"], c2, mask)
    return ld, lp, lph, (a1, a2, c2)


def test_losses_vanish_at_the_truth_and_grow_when_perturbed(true_pair):
    p = true_pair
    ld, lp, lph, _ = _losses(p, p["d1"], p["d2"])
    assert float(ld["loss"]) < 1e-6 and float(lp) < 0.01
    # the scale that aligns true depth to the unit-baseline triangulation is 1 / |t|
    np.testing.assert_allclose(float(ld["s1"]), 1 / np.linalg.norm(p["T21"][:3, 3]), rtol=1e-4)
    ld3, lp3, _, _ = _losses(p, 3 * p["d1"], 3 * p["d2"])  # scale-invariant by design
    assert abs(float(ld3["loss"]) - float(ld["loss"])) < 1e-9 and abs(float(lp3) - float(lp)) < 1e-9
    g = torch.Generator().manual_seed(0)
    noise = 1 + 0.2 * torch.randn(p["d1"].shape, generator=g, dtype=torch.float64)
    ldn, lpn, lphn, _ = _losses(p, p["d1"] * noise, p["d2"])
    assert float(ldn["loss"]) > 100 * max(float(ld["loss"]), 1e-6) and float(lpn) > 5 * float(lp)
    assert float(lphn) > 2 * float(lph)
    ramp = torch.linspace(0.5, 1.5, p["d1"].shape[-1], dtype=torch.float64).view(1, 1, 1, -1)
    ldr, lpr, _, _ = _losses(p, p["d1"] * ramp, p["d2"] * ramp)  # a wrong shape, not just a wrong scale
    assert float(ldr["loss"]) > 1e-3 and float(lpr) > 5 * float(lp)


def test_smoothness_and_supervised_loss():
    img = torch.rand(2, 3, 32, 64)
    flat = torch.full((2, 1, 32, 64), 0.3)
    assert float(disparity_smoothness(flat, img)) == 0.0
    assert float(disparity_smoothness(flat * 7, img)) == 0.0  # mean-normalised: the scale does not matter
    rough = torch.rand(2, 1, 32, 64)
    assert float(disparity_smoothness(rough, img)) > 0.1
    # an image edge where the disparity jumps makes the jump cheaper
    step = torch.zeros(1, 1, 32, 64)
    step[..., 32:] = 1.0
    d = 0.2 + 0.5 * step
    assert float(disparity_smoothness(d, step.expand(1, 3, 32, 64))) < float(disparity_smoothness(d, torch.zeros(1, 3, 32, 64)))
    gt = torch.rand(2, 1, 8, 8) * 10 + 1
    gt[0, 0, 0, 0] = 0  # no depth there
    assert float(supervised_depth_loss(gt.clamp_min(1), gt)) < 1e-6
    assert abs(float(supervised_depth_loss(gt * 2, gt)) - np.log(2)) < 1e-5


def test_multiple_masks_flag_what_they_should(true_pair):
    p = true_pair
    _, _, _, (a1, a2, c2) = _losses(p, p["d1"], p["d2"])
    tv = p["tv"]
    m = multiple_masks(a1, a2, c2, p["K"], tv.R, tv.t)
    h, w = a1.shape[-2:]
    for k in ("edge", "overlap", "blank"):
        assert m[k].shape == (1, 1, h, w) and set(np.unique(m[k].numpy())) <= {0.0, 1.0}
    x, y = c2[:, 0], c2[:, 1]
    outside = ((x < 2) | (x > w - 3) | (y < 2) | (y > h - 3)).unsqueeze(1)
    assert (m["edge"][outside] == 0).all() and (m["edge"][~outside] == 1).all() and outside.any()
    # forward motion: frame 2 sees less than frame 1 near the borders, and nothing piles up
    assert 0.2 < float(m["blank"].mean()) < 1.0 and float(m["overlap"].mean()) > 0.95
    # a frame squeezed into a point: every pixel overlaps
    squeezed = torch.full_like(c2, 10.0)
    assert float(multiple_masks(a1, a2, squeezed, p["K"], tv.R, tv.t)["overlap"].mean()) == 0.0


# ------------------------------------------------------------------ checkpoints
def _tiny_ckpt(path, arch=TINY_ARCH, kind=DEPTH_KIND, half=False):
    net = DepthNet(arch)
    return save_checkpoint(path, {"arch": arch.to_dict(), "image_size": [128, 64], "training": {}, "metrics": {},
                                  "model": net.state_dict()}, kind=kind, half=half)


def test_checkpoint_kinds_and_mismatch_errors(tmp_path):
    from vo_app.errors import UserError

    p = _tiny_ckpt(tmp_path / "d.pt")
    model, ck = load_depth_model(p)
    assert isinstance(model, DepthNet) and ck["kind"] == DEPTH_KIND
    with pytest.raises(UserError, match="holds a depth network, not a PWC flow network"):
        load_checkpoint(p)  # a depth file where flow weights are expected
    with pytest.raises(UserError, match="holds a PWC flow network, not a depth network"):
        load_depth_model(REPO / "weights" / "pwc_small_cpu.pt")
    bad = torch.load(p, weights_only=True)
    bad["arch"]["widths"] = [4, 4, 8]
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(UserError, match="widths needs 4"):
        load_depth_model(tmp_path / "bad.pt")
    other = DepthArch(stem=4, widths=(4, 4, 8, 16), blocks=(1, 1, 1, 1), decoder=(4, 4, 4, 8, 8))
    bad = torch.load(p, weights_only=True)
    bad["arch"] = other.to_dict()
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(UserError, match="do not fit its architecture") as e:
        load_depth_model(tmp_path / "shape.pt")
    assert "\n" not in str(e.value)


def test_fp16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    full = _tiny_ckpt(tmp_path / "full.pt", SMALL)
    torch.manual_seed(0)
    half = _tiny_ckpt(tmp_path / "half.pt", SMALL, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    m_full, _ = load_depth_model(full)
    m_half, ck = load_depth_model(half)
    assert ck["storage"] == "fp16" and next(m_half.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 64, 128)
    a, b = m_full(x)["depth"], m_half(x)["depth"]
    assert float(((a - b).abs() / a).max()) < 0.02


# ------------------------------------------------------------------ training runs
@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 6-frame synthetic driving video (KITTI layout) for the self-supervised stages."""
    from vo_app.synth import write_sequence

    d = tmp_path_factory.mktemp("video") / "seq"
    write_sequence(d, layout="kitti", n_frames=6, width=256, height=96, motion="forward", seed=4, write_flow=False)
    return d


def _cfg(video, **over):
    from vo_app.train.depth_config import load_depth_config

    cfg = load_depth_config(TINY)
    ss = dataclasses.replace(cfg.selfsup, start_step=3, folders=(str(video),))
    return dataclasses.replace(cfg, selfsup=ss, **over)


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_depth_stage_learns_on_a_fixed_batch(tmp_path):
    from vo_app.train.depth_stage import DepthTrainer
    from vo_app.train.depth_config import load_depth_config

    cfg = load_depth_config(TINY)
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, lr=1e-2))
    tr = DepthTrainer(cfg, tmp_path / "run", progress=False)
    s = [depth_tensors(make_depth_sample(cfg.data, i, 128, 64)) for i in range(2)]
    batch = {k: torch.stack([x[k] for x in s]) for k in s[0]}
    torch.set_num_threads(1)
    losses = [tr.train_step(batch, None, 0)["loss"] for _ in range(40)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


def test_resume_reproduces_the_uninterrupted_run(tmp_path, video):
    from vo_app.train.depth_stage import train_depth

    cfg = _cfg(video)
    full = train_depth(cfg, tmp_path / "full", progress=False)
    assert full["step"] == 6
    part = train_depth(cfg, tmp_path / "part", progress=False, max_steps=4)  # stops inside the self-supervised part
    assert part["step"] == 4
    train_depth(cfg, tmp_path / "part", progress=False, resume=True)
    a, b = _weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [ln for ln in (tmp_path / "part" / "log.jsonl").read_text().splitlines() if '"loss"' in ln]
    assert len(log) == 6 and '"L_d"' in log[-1]  # one line per step, the self-supervised terms logged
    ck = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    assert ck["training"]["mean_depth"] > 1.0 and ck["training"]["stage"] == "depth"
    assert (tmp_path / "full" / "curve.png").is_file()


def _poison_from(monkeypatch, first_step: int) -> None:
    """Make the self-supervised loss NaN from ``first_step`` on."""
    from vo_app.train import depth_stage

    orig = depth_stage.DepthTrainer.selfsup_terms

    def poisoned(self, batch, step):
        loss, s = orig(self, batch, step)
        return (loss * float("nan"), s) if step >= first_step else (loss, s)

    monkeypatch.setattr(depth_stage.DepthTrainer, "selfsup_terms", poisoned)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, video, monkeypatch, capsys):
    from vo_app.train import depth_stage

    cfg = _cfg(video)
    _poison_from(monkeypatch, 4)
    res = depth_stage.train_depth(cfg, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    assert res["nonfinite"] and res["step"] == 4
    assert "non-finite loss at step 5" in err and "last good checkpoint is kept" in err
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ck["trainer"]["step"] == 3  # the checkpoint of step 3 (checkpoint.every: 3), not a poisoned one
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_nan_loss_before_the_first_checkpoint_says_nothing_was_saved(tmp_path, video, monkeypatch, capsys):
    """Seen on a GPU run: a NaN before checkpoint.every must not point at a last.pt that does not exist."""
    from vo_app.cli.train import _report
    from vo_app.train import depth_stage

    cfg = _cfg(video)
    cfg = dataclasses.replace(cfg, selfsup=dataclasses.replace(cfg.selfsup, start_step=0))
    assert cfg.checkpoint.every > 1
    _poison_from(monkeypatch, 1)
    res = depth_stage.train_depth(cfg, tmp_path / "run", progress=False)
    assert res["nonfinite"] and res["step"] == 1 and not (tmp_path / "run" / "last.pt").exists()
    assert _report("depth", res, "", "cfg.yaml", tmp_path / "run") == 3
    out, err = capsys.readouterr()
    assert "No checkpoint had been saved yet." in err and "last good checkpoint is kept" not in err
    assert "no weights saved" in out and "model.pt" not in out
    assert "nothing to resume" in err


def test_joint_stage_trains_flow_and_depth(tmp_path, video, run_cli):
    from vo_app.cli.train import main

    res = run_cli(["joint", "--config", TINY, "--out", tmp_path / "j", "--data", video, "--steps", "2", "--quiet",
                   "--flow-init", REPO / "weights" / "pwc_small_cpu.pt"], main=main)
    assert res.code == 0, res.err
    assert "flow weights" in res.out
    flow = load_checkpoint(tmp_path / "j" / "flow.pt")
    assert flow["kind"] == KIND and flow["training"]["stage"] == "joint"
    before = load_checkpoint(REPO / "weights" / "pwc_small_cpu.pt")["model"]
    assert any(not torch.equal(before[k], flow["model"][k]) for k in before)  # the flow was trained
    log = (tmp_path / "j" / "log.jsonl").read_text()
    assert '"L_f"' in log and '"flow_error"' in log and '"L_d"' in log


# ------------------------------------------------------------------ bad input
def _folder(tmp_path, sizes, intrinsics=True):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(d / f"{i:06d}.png"), np.random.default_rng(i).integers(0, 255, (h, w), np.uint8))
    if intrinsics:
        (d / "intrinsics.txt").write_text("100 100 32 24\n")
    return d


@pytest.mark.parametrize("case,words", [
    ("two", "at least 3"),
    ("mixed", "one size"),
    ("nointr", "intrinsics"),
])
def test_bad_data_folders_are_one_line_errors(tmp_path, run_cli, case, words):
    from vo_app.cli.train import main

    sizes = {"two": [(64, 48)] * 2, "mixed": [(64, 48), (64, 48), (80, 48)], "nointr": [(64, 48)] * 3}[case]
    d = _folder(tmp_path, sizes, intrinsics=case != "nointr")
    line = one_line_error(run_cli(["depth", "--config", TINY, "--out", tmp_path / "run", "--data", d, "--quiet"],
                                  main=main), "vo-train")
    assert words in line, line


def test_depth_cli_errors(tmp_path, run_cli):
    from vo_app.cli.train import main

    line = one_line_error(run_cli(["depth", "--config", TINY, "--out", tmp_path / "r", "--quiet", "--init",
                                   REPO / "weights" / "pwc_small_cpu.pt"], main=main), "vo-train")
    assert "not a depth network" in line
    line = one_line_error(run_cli(["joint", "--config", TINY, "--out", tmp_path / "j", "--quiet"], main=main),
                          "vo-train")
    assert "--data" in line
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("loss: {masks: [edge, corner]}\n")
    line = one_line_error(run_cli(["depth", "--config", cfg, "--out", tmp_path / "r2", "--quiet"], main=main),
                          "vo-train")
    assert "corner" in line and "bad.yaml" in line


def test_frozen_pwc_flow_at_a_size_that_is_not_a_multiple_of_64(tmp_path, video):
    from vo_app.train.depth_config import FlowSourceConfig
    from vo_app.train.depth_stage import train_depth

    cfg = _cfg(video, image_size=(160, 64),
               flow=FlowSourceConfig(backend="pwc", weights=str(REPO / "weights" / "pwc_small_cpu.pt")))
    res = train_depth(cfg, tmp_path / "run", progress=False, max_steps=5)
    assert res["step"] == 5 and not res["nonfinite"]
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"L_d"' in log


def test_shipped_cpu_checkpoint_loads_and_beats_the_untrained_network():
    from vo_app.eval.depth import depth_metrics
    from vo_app.synth.samples.depth_synth import heldout_depth_set

    path = REPO / "weights" / "depth_small_cpu.pt"
    assert path.stat().st_size <= 16 * 1024 * 1024
    pred = DepthPredictor.from_checkpoint(path)
    assert pred.arch == SMALL and pred.size == (416, 128)
    torch.manual_seed(0)
    untrained = DepthPredictor(DepthNet(SMALL), pred.size)
    frames = heldout_depth_set(4, *pred.size)
    fx = np.array([f["fx_ratio"] for f in frames])
    ours = [depth_metrics(d, f["depth1"], 80.0, median_scale=True)["abs_rel"]
            for d, f in zip(pred.predict([f["img1"] for f in frames], fx), frames)]
    base = [depth_metrics(d, f["depth1"], 80.0, median_scale=True)["abs_rel"]
            for d, f in zip(untrained.predict([f["img1"] for f in frames], fx), frames)]
    assert np.mean(ours) < 0.2 < 0.4 < np.mean(base), (ours, base)


def test_torch_epipolar_distance_matches_the_numpy_reference():
    from vo_app.geometry._reference.inlier_map import epipolar_distance_map
    from vo_app.geometry.reproject_t import epipolar_distance_t

    rng = np.random.default_rng(3)
    flow = rng.normal(0, 3, (2, 16, 24, 2)).astype(np.float32)
    Fm = rng.normal(0, 1, (2, 3, 3))
    got = epipolar_distance_t(torch.from_numpy(flow).permute(0, 3, 1, 2).double(), torch.from_numpy(Fm))
    for b in range(2):
        np.testing.assert_allclose(got[b, 0].numpy(), epipolar_distance_map(Fm[b], flow[b]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("train_depth*.yaml"))
                         + sorted((REPO / "configs").glob("train_joint*.yaml")), ids=lambda p: p.name)
def test_every_shipped_depth_recipe_parses(path):
    """The recipes README "Depth network" names (the shipped weights' four stages among them) and the
    joint stage's (``vo-train joint`` reads the same depth config) load."""
    from vo_app.train.depth_config import load_depth_config

    cfg = load_depth_config(path)
    assert cfg.optim.steps > 0 and 0.0 <= cfg.data.turn_fraction <= 1.0


@functools.lru_cache(maxsize=None)
def _plain_depth(i: int) -> np.ndarray:
    """``depth1`` ``[64, 128]`` of sample ``i`` of the plain street stream (no handheld, augmentation or gray
    frames), rendered once for the two stream-identity tests below."""
    from vo_app.synth.samples.depth_synth import SynthDepthSpec, make_depth_sample

    plain = SynthDepthSpec(handheld_fraction=0.0, augment=False, gray_fraction=0.0)
    return make_depth_sample(plain, i, 128, 64)["depth1"]


def test_road_objects_only_occlude_and_old_streams_keep_their_identity():
    from vo_app.synth.samples.depth_synth import SynthDepthSpec, make_depth_sample

    assert "road_objects" not in SynthDepthSpec().to_dict() and "pool" not in SynthDepthSpec().to_dict()
    assert SynthDepthSpec(road_objects=True).to_dict()["road_objects"] is True
    busy = SynthDepthSpec(handheld_fraction=0.0, augment=False, gray_fraction=0.0, road_objects=True)
    changed = 0
    for i in range(6):
        a = _plain_depth(i)
        b = make_depth_sample(busy, i, 128, 64)["depth1"]
        both = (a > 0) & (b > 0)
        assert np.all(b[both] <= a[both] + 1e-4)  # added boxes can only hide what was behind them
        changed += int(np.any(np.abs(a - b) > 1e-3))
    assert changed >= 1


def test_junction_frames_see_the_buildings_across_and_old_streams_keep_their_identity():
    from vo_app.synth.samples.depth_synth import SynthDepthSpec, make_depth_sample

    assert "junction_fraction" not in SynthDepthSpec().to_dict()
    assert SynthDepthSpec(junction_fraction=0.3).to_dict()["junction_fraction"] == 0.3
    ends = SynthDepthSpec(handheld_fraction=0.0, augment=False, gray_fraction=0.0, junction_fraction=1.0)
    far_plain, far_ends = [], []
    for i in range(6):
        a = _plain_depth(i)
        b = make_depth_sample(ends, i, 128, 64)["depth1"]
        # the centre of the image: the street's far end, 15-60 m ahead at a junction
        far_plain.append(float(np.median(a[24:34, 56:72][a[24:34, 56:72] > 0])))
        far_ends.append(float(np.median(b[24:34, 56:72][b[24:34, 56:72] > 0])))
    assert max(far_ends) <= 64.0  # the buildings across, within 15-60 m (+ their 0-3 m setback)
    assert np.median(far_plain) > np.median(far_ends)


def test_input_stretch_makes_the_network_blind_to_affine_brightness_changes():
    """``input_stretch`` maps each image's 2 % and 98 % quantiles to 0 and 1 inside the network, so a
    darker, lower-contrast copy of an image gives the same depth; without it, it does not."""
    torch.manual_seed(0)
    net = DepthNet(dataclasses.replace(TINY_ARCH, input_stretch=0.02)).eval()
    plain = DepthNet(TINY_ARCH).eval()
    plain.load_state_dict(net.state_dict())  # the stretch holds no weights
    img = torch.rand(2, 3, 64, 96) ** 2
    dull = 0.5 * img + 0.2
    with torch.no_grad():
        torch.testing.assert_close(net(img)["depth"], net(dull)["depth"], rtol=1e-4, atol=1e-4)
        assert (plain(img)["depth"] - plain(dull)["depth"]).abs().max() > 1e-3


def test_input_stretch_travels_in_the_checkpoint_and_init_may_switch_it(tmp_path, video):
    from vo_app.errors import UserError
    from vo_app.train.depth_stage import train_depth

    with pytest.raises(UserError, match="input_stretch"):
        dataclasses.replace(TINY_ARCH, input_stretch=0.5)
    old = {k: v for k, v in TINY_ARCH.to_dict().items() if k != "input_stretch"}  # written before the option
    assert DepthArch.from_dict(old) == TINY_ARCH
    stretched = dataclasses.replace(TINY_ARCH, input_stretch=0.02)
    model, _ = load_depth_model(_tiny_ckpt(tmp_path / "s.pt", arch=stretched))
    assert model.arch.input_stretch == 0.02
    # weights without the stretch continue with it (and a real architecture change stays an error)
    res = train_depth(_cfg(video, model=stretched), tmp_path / "run", progress=False, max_steps=1,
                      init=str(_tiny_ckpt(tmp_path / "plain.pt")))
    assert res["step"] == 1
    assert load_depth_model(tmp_path / "run" / "model.pt")[0].arch.input_stretch == 0.02
    wider = dataclasses.replace(TINY_ARCH, stem=8)
    with pytest.raises(UserError, match="model.stem"):
        train_depth(_cfg(video, model=wider), tmp_path / "run2", progress=False, max_steps=1,
                    init=str(_tiny_ckpt(tmp_path / "plain.pt")))
