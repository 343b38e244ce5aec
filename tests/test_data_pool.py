"""The finite render pool (data.pool) and its on-disk cache (runtime.cache_dir, vo-train cache)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from _flowkit import TINY, one_line_error
from vo_app.synth.samples.depth_synth import SynthDepthSpec, make_depth_sample
from vo_app.synth.samples.synthetic import SynthSpec, make_sample


def _same(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    return all(a[k] == b[k] if isinstance(a[k], str) else np.array_equal(a[k], b[k]) for k in a)


FLOW = SynthSpec(street_fraction=0.5, scenes=2, pool=4)
DEPTH = SynthDepthSpec(scenes=2, handheld_fraction=0.3, turn_fraction=0.3, pool=3)


@pytest.mark.parametrize("kind", ["flow", "depth"])
def test_a_pool_sample_is_the_same_with_no_cold_or_warm_cache(tmp_path, kind):
    def make(i, cache):
        if kind == "flow":
            return make_sample(FLOW, i, 128, 64, cache)
        return make_depth_sample(DEPTH, i, 128, 64, cache_dir=cache)

    cache = str(tmp_path / "cache")
    for i in (1, 5, 6):
        none = make(i, None)
        cold = make(i, cache)
        warm = make(i, cache)
        assert _same(none, cold) and _same(none, warm)
    pool = FLOW.pool if kind == "flow" else DEPTH.pool
    files = sorted((tmp_path / "cache").glob("*/*.npz"))
    assert [int(f.stem) for f in files] == sorted({i % pool for i in (1, 5, 6)})  # one render per pool entry
    assert files[0].parent.name.startswith(f"{kind}-128x64-")


def test_epochs_reuse_the_render_and_draw_a_new_augmentation():
    plain = dataclasses.replace(FLOW, augment=False, gray_fraction=0.0)
    a, b = make_sample(plain, 1, 128, 64), make_sample(plain, 1 + FLOW.pool, 128, 64)
    assert _same(a, b)  # the same pool entry, no augmentation: the same pair
    a, b = make_sample(FLOW, 1, 128, 64), make_sample(FLOW, 1 + FLOW.pool, 128, 64)
    assert not np.array_equal(a["img1"], b["img1"])  # another augmentation of it
    assert np.array_equal(np.abs(a["flow"]).sum(), np.abs(b["flow"]).sum())  # same motion (maybe mirrored)
    c = make_sample(FLOW, 2, 128, 64)
    assert not np.array_equal(np.abs(a["flow"]).sum(), np.abs(c["flow"]).sum())  # another entry


def test_pool_images_are_on_the_8_bit_grid_and_a_damaged_entry_is_rendered_again(tmp_path):
    spec = dataclasses.replace(FLOW, augment=False, gray_fraction=0.0)
    cache = str(tmp_path / "cache")
    s = make_sample(spec, 0, 128, 64, cache)
    assert np.array_equal(np.round(s["img1"] * 255) / 255, s["img1"].astype(np.float64))
    entry = next((tmp_path / "cache").glob("*/0000000.npz"))
    entry.write_bytes(b"not an npz")
    assert _same(make_sample(spec, 0, 128, 64, cache), s)
    assert entry.stat().st_size > 1000  # replaced by a good one


def test_vo_train_cache_fills_the_pool_and_skips_stored_entries(tmp_path, run_cli):
    from vo_app.cli.train import main

    cfg = tmp_path / "pool.yaml"
    cfg.write_text(TINY.read_text().replace("  scenes: 2\n", "  scenes: 2\n  pool: 5\n"))
    cache = tmp_path / "cache"
    res = run_cli(["cache", "flow", "--config", cfg, "--cache-dir", cache, "--workers", "1", "--quiet"], main=main)
    assert res.code == 0, res.err
    assert "5 rendered" in res.out and len(list(cache.glob("*/*.npz"))) == 5
    from vo_app.train.config import load_train_config

    before = {f: f.stat().st_mtime_ns for f in cache.glob("*/*.npz")}
    c = load_train_config(cfg)
    for i in range(7):  # the training stream reads these entries: nothing new is written
        make_sample(c.data, i, *c.image_size, str(cache))
    assert {f: f.stat().st_mtime_ns for f in cache.glob("*/*.npz")} == before
    res = run_cli(["cache", "flow", "--config", cfg, "--cache-dir", cache, "--workers", "1", "--quiet"], main=main)
    assert res.code == 0 and "0 rendered" in res.out and "5 already stored" in res.out
    import signal

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the fill keeps this process's Ctrl-C
    res = run_cli(["cache", "flow", "--config", TINY, "--cache-dir", cache, "--quiet"], main=main)
    assert "no data.pool" in one_line_error(res, "vo-train")


def test_a_pool_with_a_curriculum_is_a_config_error(tmp_path):
    from vo_app.errors import UserError
    from vo_app.train.config import load_train_config

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(TINY.read_text().replace("  scenes: 2\n", "  scenes: 2\n  pool: 5\n  curriculum: 100\n"))
    with pytest.raises(UserError, match="cannot be combined"):
        load_train_config(cfg)


def test_vo_train_cache_refuses_a_pool_that_does_not_fit_on_the_disk(tmp_path, run_cli, monkeypatch):
    import shutil
    from collections import namedtuple

    from vo_app.cli.train import main

    cfg = tmp_path / "pool.yaml"
    cfg.write_text(TINY.read_text().replace("  scenes: 2\n", "  scenes: 2\n  pool: 1000\n"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 10**6, 10**6))  # 1 MB free
    res = run_cli(["cache", "flow", "--config", cfg, "--cache-dir", tmp_path / "cache", "--workers", "1", "--quiet"],
                  main=main)
    line = one_line_error(res, "vo-train")
    assert "needs about" in line and "lower data.pool" in line
    assert len(list((tmp_path / "cache").glob("*/*.npz"))) == 1  # it stopped after the one that measured the size

