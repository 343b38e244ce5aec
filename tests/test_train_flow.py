"""The flow training stage: data, losses, learning on a fixed batch, exact resume, Ctrl-C, the CLI."""
from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from _flowkit import TINY, one_line_error, tiny_config, tiny_run
from vo_app.train.data import SynthSpec, make_sample
from vo_app.train.flow_stage import FlowTrainer, load_batch, train_flow
from vo_app.train.losses import photometric_error, selfsup_loss, smoothness_2nd, ssim_distance, supervised_loss


# ------------------------------------------------------------------ data
def test_samples_are_a_pure_function_of_the_index():
    spec = SynthSpec(street_fraction=0.0)
    a, b = make_sample(spec, 7, 128, 64), make_sample(spec, 7, 128, 64)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["img1"], make_sample(spec, 8, 128, 64)["img1"])
    assert a["img1"].shape == (64, 128, 3) and a["flow"].shape == (64, 128, 2) and a["noc"].shape == (64, 128)


@pytest.mark.parametrize("street", [0.0, 1.0])
def test_ground_truth_flow_explains_the_second_frame(street):
    spec = SynthSpec(street_fraction=street, scenes=1, augment=False, gray_fraction=0.0)
    s = make_sample(spec, 3, 128, 64)
    ys, xs = np.mgrid[0:64, 0:128].astype(np.float32)
    warped = cv2.remap(s["img2"], xs + s["flow"][..., 0], ys + s["flow"][..., 1], cv2.INTER_LINEAR)
    m = s["noc"] > 0
    assert m.mean() > 0.5
    err = np.abs(warped - s["img1"]).mean(-1)[m].mean()
    base = np.abs(s["img2"] - s["img1"]).mean(-1)[m].mean()
    assert err < 0.35 * base, (err, base)


def _median_motion(spec, indices, w=160, h=64):
    return float(np.median([np.median(np.linalg.norm(make_sample(spec, i, w, h)["flow"], axis=-1)) for i in indices]))


def test_larger_layered_displacements():
    base = SynthSpec(street_fraction=0.0, augment=False)
    big = dataclasses.replace(base, layer_shift_scale=2.5)
    assert _median_motion(big, range(12)) > 1.8 * _median_motion(base, range(12))


def test_curriculum_by_displacement():
    spec = SynthSpec(street_fraction=0.0, augment=False, curriculum=1000, curriculum_start=0.2)
    assert spec.progress(0) == pytest.approx(0.2) and spec.progress(500) == pytest.approx(0.6)
    assert spec.progress(1000) == spec.progress(10 ** 6) == 1.0 and SynthSpec().progress(0) == 1.0
    early, late = _median_motion(spec, range(12)), _median_motion(spec, range(1000, 1012))
    assert early < 0.5 * late, (early, late)
    street = dataclasses.replace(spec, street_fraction=1.0, scenes=2, max_flow=0.5)
    for i in range(3):  # street pairs are drawn again until their motion fits the early range
        mag = np.linalg.norm(make_sample(street, i, 160, 64)["flow"], axis=-1)
        assert np.percentile(mag, 90) <= street.progress(i) * 0.5 * 160


def test_new_stream_options_keep_old_runs_resumable():
    assert SynthSpec().to_dict() == {k: v for k, v in dataclasses.asdict(SynthSpec()).items()
                                     if k not in ("layer_shift_scale", "curriculum", "curriculum_start", "pool")}
    assert SynthSpec(curriculum=10).to_dict()["curriculum"] == 10
    assert SynthSpec(pool=100).to_dict()["pool"] == 100


# ------------------------------------------------------------------ losses
def test_loss_building_blocks():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 16, 20)
    assert ssim_distance(img, img).abs().max() < 1e-4
    assert photometric_error(img, img).abs().max() < 1e-4
    assert photometric_error(img, 1 - img).mean() > 0.1
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
    affine = torch.stack([0.1 * xs + 0.2 * ys + 1, -0.3 * xs + 2]).expand(2, 2, 16, 20)
    assert smoothness_2nd(affine, img) < 1e-5  # second order: affine flow is free
    gt = torch.randn(2, 2, 64, 128)
    flows = [gt[:, :, ::f, ::f] / f for f in (64, 32, 16, 8, 4)]
    perfect = [torch.nn.functional.avg_pool2d(gt, f) / f for f in (64, 32, 16, 8, 4)]
    assert supervised_loss(perfect, gt, [1.0] * 5) < 1e-5 < supervised_loss(flows, gt, [1.0] * 5)


def test_selfsup_loss_prefers_the_true_flow():
    s = make_sample(SynthSpec(street_fraction=0.0, augment=False), 1, 128, 64)
    b = load_batch([s])
    gt = b["flow"]
    # backward flow of a layered scene is not the negated forward flow, but close enough for the test
    good = [torch.nn.functional.avg_pool2d(gt, f) / f for f in (16, 8, 4)]
    zero = [torch.zeros_like(g) for g in good]
    neg = [-g for g in good]
    l_good = selfsup_loss(b["img1"], b["img2"], good, neg)["photo"]
    l_zero = selfsup_loss(b["img1"], b["img2"], zero, zero)["photo"]
    assert l_good < l_zero


# ------------------------------------------------------------------ training
def test_loss_decreases_on_a_fixed_batch(tmp_path):
    cfg = tiny_config(lr=2e-3)
    tr = FlowTrainer(cfg, tmp_path / "run", progress=False)
    batch = load_batch([make_sample(cfg.data, i, 128, 64) for i in range(2)])
    torch.set_num_threads(1)
    losses = [tr.train_step(batch, None)["loss"] for _ in range(40)]
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


#: the stream of the 832x256 recipes (street-heavy, larger layered motions, curriculum), in miniature
WIDE_STREAM = dict(street_fraction=0.7, layer_shift_scale=2.5, curriculum=12, curriculum_start=0.3)


@pytest.mark.parametrize("stream,max_file_mb", [({}, 16.0), (WIDE_STREAM, 16.0), ({}, 0.05), ({"pool": 3}, 16.0)],
                         ids=["default", "wide-curriculum", "sharded-checkpoints", "pool-and-cache"])
def test_resume_reproduces_the_uninterrupted_run(tmp_path, stream, max_file_mb):
    from vo_app.models.checkpoint import read_checkpoint

    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **stream),
                              checkpoint=dataclasses.replace(cfg.checkpoint, max_file_mb=max_file_mb))
    if "pool" in stream:  # the split run reads the renders the straight run stored
        cfg = dataclasses.replace(cfg, runtime=dataclasses.replace(cfg.runtime, cache_dir=str(tmp_path / "cache")))
    train_flow(cfg, tmp_path / "straight", progress=False, max_steps=5)
    train_flow(cfg, tmp_path / "split", progress=False, max_steps=3)
    train_flow(cfg, tmp_path / "split", progress=False, max_steps=2, resume=True)
    parts = sorted(p.name for p in (tmp_path / "split").glob("last.pt.*.part*"))
    if max_file_mb < 1:  # the tiny run's last.pt (~0.3 MB) is an index plus parts of <= 50 kB, none left over
        assert len(parts) >= 3 and all((tmp_path / "split" / n).stat().st_size <= 50_000 for n in parts)
        assert len(parts) == int(parts[0].rsplit("of", 1)[1])
    else:
        assert parts == []
    a = read_checkpoint(tmp_path / "straight" / "last.pt")
    b = read_checkpoint(tmp_path / "split" / "last.pt")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 5
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k]))
    assert torch.equal(a["trainer"]["rng"]["torch"], b["trainer"]["rng"]["torch"])
    steps = [r["step"] for r in map(eval, (tmp_path / "split" / "log.jsonl").read_text().split("\n")[:-1])
             if "loss" in r]
    assert steps == [1, 2, 3, 4, 5]  # nothing logged twice


def test_ctrl_c_saves_a_checkpoint_and_stops(tmp_path):
    cfg = tiny_config()
    tr = FlowTrainer(cfg, tmp_path / "run", progress=False)
    step = tr.train_step

    def interrupting(*a):
        out = step(*a)
        if tr.step == 1:  # the loop increments after this call: the flag is seen before step 3
            signal.raise_signal(signal.SIGINT)
        return out

    tr.train_step = interrupting
    res = tr.run()
    assert res["interrupted"] and res["step"] == 2
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["trainer"]["step"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _selfsup_config(tmp_path, **data):
    """The tiny config, self-supervised from step 2 on a 3-frame folder (with ``data`` stream options)."""
    folder = tmp_path / "frames"
    folder.mkdir(exist_ok=True)
    s = make_sample(SynthSpec(street_fraction=0.0, augment=False), 0, 128, 64)
    for i, key in enumerate(["img1", "img2", "img1"]):
        cv2.imwrite(str(folder / f"{i:06d}.png"), (s[key][..., ::-1] * 255).astype(np.uint8))
    (folder / "intrinsics.txt").write_text("100 100 63.5 31.5\n")
    cfg = tiny_config(steps=4)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **data),
                               selfsup=dataclasses.replace(cfg.selfsup, start_step=2, folders=(str(folder),),
                                                           supervised_weight=0.5))


def test_resume_across_the_real_frame_stream(tmp_path):
    """Split inside the self-supervised part (folder pairs + the wide, curriculum synthetic batch)."""
    cfg = _selfsup_config(tmp_path, **WIDE_STREAM)
    init = str(tiny_run() / "model.pt")
    train_flow(cfg, tmp_path / "straight", progress=False, init=init)
    train_flow(cfg, tmp_path / "split", progress=False, init=init, max_steps=3)
    train_flow(cfg, tmp_path / "split", progress=False, resume=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert a["trainer"]["step"] == b["trainer"]["step"] == 4
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k


def test_selfsup_fine_tuning_on_a_folder(tmp_path):
    cfg = _selfsup_config(tmp_path)
    res = train_flow(cfg, tmp_path / "run", progress=False, init=str(tiny_run() / "model.pt"))
    rows = [eval(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert torch.load(tmp_path / "run" / "model.pt", weights_only=True)["training"]["init"].endswith("model.pt")
    ss = [r for r in rows if "photo" in r]
    assert res["step"] == 4 and [r["step"] for r in ss] == [3, 4]
    assert all(np.isfinite(r["loss"]) and r["lr"] == 1e-4 for r in ss)


# ------------------------------------------------------------------ command line
def test_vo_train_flow_cli(tmp_path, run_cli):
    from vo_app.cli.train import main

    res = run_cli(["flow", "--config", TINY, "--out", tmp_path / "run", "--quiet", "--steps", "2"], main=main)
    assert res.code == 0, res.err
    assert "step 2" in res.out and (tmp_path / "run" / "model.pt").is_file()
    assert (tmp_path / "run" / "curve.png").stat().st_size > 1000
    line = one_line_error(run_cli(["flow", "--config", TINY, "--out", tmp_path / "run", "--quiet"], main=main),
                          "vo-train")
    assert "--resume" in line
    res = run_cli(["flow", "--config", TINY, "--out", tmp_path / "run", "--quiet", "--steps", "3", "--resume"], main=main)
    assert res.code == 0 and "step 3" in res.out


@pytest.mark.parametrize("yaml_text,words", [
    ("optim: {lr: -1}\n", "learning rates"),
    ("optim: {batchsize: 2}\n", "unknown option"),
    ("image_size: [100, 64]\n", "multiples of 64"),
    ("model: {pyramid: [4, 4]}\n", "pyramid needs 6"),
    ("selfsup: {start_step: 0}\n", "--data"),
    ("foo: [1\n", "invalid YAML"),
])
def test_vo_train_bad_configs(tmp_path, run_cli, yaml_text, words):
    from vo_app.cli.train import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    line = one_line_error(run_cli(["flow", "--config", cfg, "--out", tmp_path / "run", "--quiet"], main=main),
                          "vo-train")
    assert words in line and "bad.yaml" in line


def test_vo_train_resume_without_a_run(tmp_path, run_cli):
    from vo_app.cli.train import main

    line = one_line_error(run_cli(["flow", "--config", TINY, "--out", tmp_path / "none", "--resume"], main=main),
                          "vo-train")
    assert "nothing to resume" in line


def test_tiny_run_logs_validation():
    rows = [eval(line) for line in (tiny_run() / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_epe" in r] == [0, 3, 6]


def test_init_needs_the_same_architecture(tmp_path):
    from vo_app.errors import UserError

    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, context=(8, 8, 8)))
    with pytest.raises(UserError, match="model.context"):
        FlowTrainer(cfg, tmp_path / "run", progress=False, init=str(tiny_run() / "model.pt"))


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs").glob("train_flow*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_flow_recipe_parses(path):
    """The flow recipes README "Learned flow" names (the GPU one among them) load and keep the
    working size a multiple of 64."""
    from vo_app.train.config import load_train_config

    cfg = load_train_config(path)
    assert cfg.optim.steps > 0 and cfg.image_size[0] % 64 == 0 and cfg.image_size[1] % 64 == 0
