"""Checkpoint files: round trip, format checks, one-line mismatch errors, URL fetching and its cache."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from _flowkit import one_line_error, tiny_config, tiny_run
from vo_app.errors import UserError
from vo_app.models.checkpoint import FORMAT_VERSION, fetch, load_checkpoint, load_flow_model, save_checkpoint
from vo_app.models.pwc import PWCFlow


def _single_line(exc: UserError) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_round_trip_gives_the_same_flow(tmp_path):
    run = tiny_run()
    model, ckpt = load_flow_model(run / "model.pt")
    assert ckpt["format_version"] == FORMAT_VERSION and ckpt["image_size"] == [128, 64]
    assert ckpt["training"]["steps"] == 6 and "val_epe" in ckpt["metrics"]
    assert ckpt["training"]["data"]["seed"] == 0 and ckpt["arch"]["pyramid"] == [4, 4, 6, 6, 8, 8]
    save_checkpoint(tmp_path / "copy.pt", {k: v for k, v in ckpt.items() if k not in ("format_version", "kind")})
    model2, _ = load_flow_model(tmp_path / "copy.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k])
    img = np.random.default_rng(0).random((64, 128)).astype(np.float32)
    f1 = PWCFlow(model, "cpu")(img, img[::-1].copy())
    f2 = PWCFlow(model2, "cpu")(img, img[::-1].copy())
    np.testing.assert_array_equal(f1[0], f2[0])
    last = load_checkpoint(run / "last.pt")
    assert {"optimizer", "trainer"} <= set(last) and last["trainer"]["step"] == 6


@pytest.mark.parametrize("edit,words", [
    (lambda c: c.pop("format_version"), "no format_version"),
    (lambda c: c.update(format_version=FORMAT_VERSION + 1), "not supported"),
    (lambda c: c.update(kind="vo_app.depth"), "not a PWC flow network"),
    (lambda c: c.pop("image_size"), "misses ['image_size']"),
    (lambda c: c["arch"].update(layers=3), "unknown hyper-parameter"),
])
def test_format_problems_are_one_line(tmp_path, edit, words):
    ckpt = torch.load(tiny_run() / "model.pt", weights_only=True)
    edit(ckpt)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(UserError) as info:
        load_checkpoint(tmp_path / "bad.pt")
    line = _single_line(info.value)
    assert words in line and "bad.pt" in line


def test_weights_that_do_not_fit_the_arch(tmp_path):
    ckpt = torch.load(tiny_run() / "model.pt", weights_only=True)
    ckpt["arch"]["pyramid"] = [8, 8, 8, 8, 8, 8]
    torch.save(ckpt, tmp_path / "edited.pt")
    with pytest.raises(UserError) as info:
        load_flow_model(tmp_path / "edited.pt")
    assert "do not fit its architecture" in _single_line(info.value)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"garbage" * 10)
    with pytest.raises(UserError, match="not a readable vo_app checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_with_another_config_is_a_clear_error(tmp_path):
    import shutil

    from vo_app.train.flow_stage import FlowTrainer

    shutil.copytree(tiny_run(), tmp_path / "run")
    cfg = tiny_config()
    other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, estimator=(8, 4)),
                                data=dataclasses.replace(cfg.data, seed=5))
    with pytest.raises(UserError) as info:
        FlowTrainer(other, tmp_path / "run", resume=True, progress=False)
    line = _single_line(info.value)
    assert "does not match the config" in line and "model.estimator" in line and "data.seed" in line


def test_unreachable_url_is_one_line_and_quick(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("VO_APP_CACHE", str(tmp_path / "cache"))
    t = time.perf_counter()
    with pytest.raises(UserError) as info:
        load_checkpoint("http://127.0.0.1:9/weights/pwc.pt", timeout=2.0)
    assert time.perf_counter() - t < 10
    line = _single_line(info.value)
    assert "cannot download" in line and "http://127.0.0.1:9/weights/pwc.pt" in line


def test_url_is_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VO_APP_CACHE", str(tmp_path / "cache"))
    url = "https://example.invalid/models/pwc_small.pt"
    dest = tmp_path / "cache" / "weights" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-pwc_small.pt"
    dest.parent.mkdir(parents=True)
    dest.write_bytes((tiny_run() / "model.pt").read_bytes())
    assert fetch(url) == dest  # no network needed once cached
    model, ckpt = load_flow_model(url)
    assert ckpt["training"]["steps"] == 6


def test_vo_run_with_bad_weights_is_one_line(tmp_path, run_cli, static_seq):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\0" * 100)
    res = run_cli([static_seq, "--flow", "pwc", "--weights", bad, "--quiet", "--out", tmp_path / "out"])
    assert "bad.pt" in one_line_error(res, "vo-run")


# ------------------------------------------------------------------ checkpoints over the per-file limit
def _parts(folder, name="model.pt"):
    return sorted(folder.glob(f"{name}.*.part*"))


def test_a_checkpoint_over_the_limit_is_an_index_plus_parts(tmp_path):
    ckpt = load_checkpoint(tiny_run() / "last.pt")
    body = {k: v for k, v in ckpt.items() if k not in ("format_version", "kind")}
    whole = save_checkpoint(tmp_path / "one.pt", body, max_bytes=0).stat().st_size
    limit = whole // 3
    n = -(-whole // limit)  # 3 or 4 parts
    save_checkpoint(tmp_path / "model.pt", body, max_bytes=limit)
    parts = _parts(tmp_path)
    assert len(parts) == n >= 3 and all(p.stat().st_size <= limit for p in parts)
    assert sum(p.stat().st_size for p in parts) == whole
    assert (tmp_path / "model.pt").stat().st_size < 0.05 * whole  # the index: metadata only
    back = load_checkpoint(tmp_path / "model.pt")
    assert back["trainer"]["step"] == ckpt["trainer"]["step"] and back["arch"] == ckpt["arch"]
    for k, v in ckpt["model"].items():
        assert torch.equal(v, back["model"][k]), k
    # a new save replaces the parts; a save under the limit leaves no parts behind
    body["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in body["model"].items()}
    save_checkpoint(tmp_path / "model.pt", body, max_bytes=limit)
    new = _parts(tmp_path)
    assert len(new) == n and not set(new) & set(parts)
    again = load_checkpoint(tmp_path / "model.pt")["model"]
    assert all(torch.equal(v, again[k]) for k, v in body["model"].items())
    save_checkpoint(tmp_path / "model.pt", body)
    assert _parts(tmp_path) == [] and load_checkpoint(tmp_path / "model.pt")["trainer"]["step"] == 6


@pytest.mark.parametrize("damage,words", [("delete", "is missing"), ("flip", "damaged")])
def test_a_missing_or_damaged_part_is_one_line(tmp_path, damage, words):
    ckpt = torch.load(tiny_run() / "model.pt", weights_only=True)
    save_checkpoint(tmp_path / "model.pt", {k: v for k, v in ckpt.items() if k not in ("format_version", "kind")},
                    max_bytes=20_000)
    part = _parts(tmp_path)[1]
    if damage == "delete":
        part.unlink()
    else:
        data = bytearray(part.read_bytes())
        data[100] ^= 0xFF
        part.write_bytes(bytes(data))
    with pytest.raises(UserError) as info:
        load_flow_model(tmp_path / "model.pt")
    line = _single_line(info.value)
    assert words in line and part.name in line


def test_the_full_width_network_is_saved_in_files_of_at_most_16_mb(tmp_path):
    from vo_app.models.pwc.arch import PWCArch
    from vo_app.models.pwc.net import PWCNet
    from vo_app.models.shards import MAX_FILE_BYTES

    net = PWCNet(PWCArch())
    state = {k: v.detach() for k, v in net.state_dict().items()}
    assert sum(v.numel() for v in state.values()) * 4 > 2 * MAX_FILE_BYTES  # fp32: more than two files' worth
    save_checkpoint(tmp_path / "model.pt", {"arch": PWCArch().to_dict(), "image_size": [832, 256],
                                            "training": {}, "metrics": {}, "model": state})
    files = [tmp_path / "model.pt"] + _parts(tmp_path)
    assert len(files) >= 4 and max(f.stat().st_size for f in files) <= MAX_FILE_BYTES
    model, _ = load_flow_model(tmp_path / "model.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_a_sharded_checkpoint_at_a_url_fetches_its_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("VO_APP_CACHE", str(tmp_path / "cache"))
    ckpt = torch.load(tiny_run() / "model.pt", weights_only=True)
    save_checkpoint(tmp_path / "src" / "pwc.pt", {k: v for k, v in ckpt.items() if k not in ("format_version", "kind")},
                    max_bytes=20_000)
    base = "https://example.invalid/models"
    for f in (tmp_path / "src").iterdir():  # what the server would send, put in the download cache
        url = f"{base}/{f.name}"
        dest = tmp_path / "cache" / "weights" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{f.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    assert len(list((tmp_path / "src").iterdir())) >= 3
    model, got = load_flow_model(f"{base}/pwc.pt")
    assert got["training"]["steps"] == 6


def test_every_shipped_weights_file_is_at_most_16_mb_and_loads():
    from pathlib import Path

    from vo_app.models.checkpoint import DEPTH_KIND, KIND, read_checkpoint
    from vo_app.models.shards import MAX_FILE_BYTES

    weights = Path(__file__).resolve().parents[1] / "weights"
    files = sorted(weights.iterdir())
    assert files and max(f.stat().st_size for f in files) <= MAX_FILE_BYTES
    indexes = [f for f in files if f.suffix == ".pt"]
    assert len(indexes) >= 4
    for f in indexes:
        ckpt = read_checkpoint(f)
        load_checkpoint(f, kind=DEPTH_KIND if ckpt["kind"] == DEPTH_KIND else KIND)
        assert "optimizer" not in ckpt  # weights only


def test_resume_accepts_the_same_folder_spelled_relative_or_absolute(tmp_path, monkeypatch):
    from vo_app.models.checkpoint import check_compatible

    (tmp_path / "frames").mkdir()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    ckpt = {"training": {"data": {"seed": 0, "selfsup_folders": [str(tmp_path / "frames")]}}}
    check_compatible(ckpt, data={"seed": 0, "selfsup_folders": ["frames"]})
    check_compatible(ckpt, data={"seed": 0, "selfsup_folders": ["./other/../frames"]})
    with pytest.raises(UserError) as info:
        check_compatible(ckpt, data={"seed": 0, "selfsup_folders": ["other"]})
    assert "data.selfsup_folders" in _single_line(info.value)


def test_vo_train_names_the_parts_of_a_sharded_model(tmp_path, run_cli):
    from _flowkit import TINY
    from vo_app.cli.train import main

    cfg = tmp_path / "small_files.yaml"
    cfg.write_text(TINY.read_text().replace("checkpoint:\n  every: 3\n", "checkpoint:\n  every: 3\n  max_file_mb: 0.02\n"))
    assert "max_file_mb" in cfg.read_text()
    res = run_cli(["flow", "--config", cfg, "--out", tmp_path / "run", "--quiet", "--max-steps", "1"], main=main)
    assert res.code == 0, res.err
    parts = sorted((tmp_path / "run").glob("model.pt.*.part*"))
    assert len(parts) >= 2 and f"an index plus {len(parts)} parts" in res.out and "model.pt*" in res.out
