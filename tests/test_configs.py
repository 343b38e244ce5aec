"""Training configs: the base + override files of configs/ load to the options they had as full
copies (tests/fixtures/train_configs_resolved.json, made from the files before the conversion),
and the ``extends:`` chain is resolved and checked by the loader."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vo_app.errors import UserError
from vo_app.train.config import load_train_config, read_train_yaml
from vo_app.train.depth_config import load_depth_config

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = json.loads((ROOT / "tests" / "fixtures" / "train_configs_resolved.json").read_text())


def _load(path: Path):
    return (load_train_config if path.name.startswith("train_flow") else load_depth_config)(path)


def _resolved(path: Path) -> dict:
    d = _load(path).to_dict()
    d.pop("source")
    return json.loads(json.dumps(d))  # tuples -> lists, as in the fixture


def test_every_shipped_config_is_in_the_snapshot():
    assert sorted(p.name for p in (ROOT / "configs").glob("*.yaml")) == sorted(SNAPSHOT)


@pytest.mark.parametrize("name", sorted(SNAPSHOT))
def test_config_resolves_to_its_snapshot(name):
    got = _resolved(ROOT / "configs" / name)
    want = SNAPSHOT[name]
    bad = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert not bad, f"{name}: resolved options differ from the snapshot: {bad}"


def test_joint_cpu_config_parses_as_a_joint_config():
    cfg = load_depth_config(ROOT / "configs" / "train_joint_cpu.yaml")
    assert cfg.loss.flow_photo > 0 and cfg.loss.epipolar > 0  # the joint losses are on
    assert cfg.image_size[0] % 64 == 0  # the flow network's multiple


def test_override_files_are_small():
    """The override files hold only what differs from their base."""
    for p in (ROOT / "configs").glob("*.yaml"):
        text = p.read_text()
        if "extends:" in text:
            options = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            assert len(options) <= 16, f"{p.name}: {len(options)} option lines"


def test_extends_merges_sections_key_by_key(tmp_path):
    (tmp_path / "base.yaml").write_text("seed: 3\noptim: {lr: 1.0e-3, steps: 100}\nval: {every: 5}\n")
    (tmp_path / "mid.yaml").write_text("extends: base.yaml\noptim: {steps: 200}\n")
    (tmp_path / "top.yaml").write_text("extends: mid.yaml\nval: {pairs: 2}\nseed: 4\n")
    assert read_train_yaml(tmp_path / "top.yaml", "x") == {
        "seed": 4, "optim": {"lr": 1e-3, "steps": 200}, "val": {"every": 5, "pairs": 2}}
    cfg = load_train_config(tmp_path / "top.yaml")
    assert (cfg.seed, cfg.optim.lr, cfg.optim.steps, cfg.val.every, cfg.val.pairs) == (4, 1e-3, 200, 5, 2)


@pytest.mark.parametrize("text,expect", [
    ("extends: missing.yaml\n", "missing.yaml not found"),
    ("extends: [a.yaml]\n", "expected a file name"),
    ("extends: loop.yaml\n", "leads back"),
])
def test_extends_errors_name_the_file(tmp_path, text, expect):
    (tmp_path / "loop.yaml").write_text("extends: cfg.yaml\n")
    (tmp_path / "cfg.yaml").write_text(text)
    with pytest.raises(UserError) as e:
        load_depth_config(tmp_path / "cfg.yaml")
    assert expect in str(e.value) and "yaml" in str(e.value)


def test_run_and_training_options_convert_values_by_one_rule():
    """io/yaml_file.value_like is the one conversion of both schemas: a bool is no number, a number is no
    bool, an int must be whole, a tuple takes a sequence but not a string."""
    from vo_app.io.yaml_file import value_like
    from vo_app.pipeline.config import load_config

    assert value_like(3, 0.5) == 3.0 and isinstance(value_like(3, 0.5), float)
    assert value_like(4.0, 1) == 4 and value_like([1, 2], (0, 0)) == (1, 2)
    for value, default in [(True, 0.5), (True, 1), (1, False), (1.5, 1), ("ab", (0, 0))]:
        with pytest.raises(ValueError):
            value_like(value, default)
    with pytest.raises(UserError, match="ransac_threshold"):
        load_config(None, ransac_threshold=True)  # a float option: `true` used to be read as 1.0
