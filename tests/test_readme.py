"""The user documentation: README.md is short and its commands parse against the CLI;
docs/config.md has a row for every VOConfig field and is current."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from vo_app.cli import config_doc
from vo_app.pipeline.config import VOConfig

ROOT = Path(__file__).resolve().parents[1]


def test_config_doc_has_a_row_for_every_field():
    text = (ROOT / "docs" / "config.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \|", text, re.M)
    fields = [f.name for f in dataclasses.fields(VOConfig)]
    assert sorted(rows) == sorted(fields), f"missing: {set(fields) - set(rows)}, extra: {set(rows) - set(fields)}"
    for line in text.splitlines():
        if line.startswith("| `"):
            assert line.rstrip().split("|")[-2].strip(), f"no meaning in {line}"


def test_config_doc_is_current():
    assert (ROOT / "docs" / "config.md").read_text() == config_doc.render(), \
        "docs/config.md is stale: run .venv/bin/python -m vo_app.cli.config_doc"


def test_config_doc_needs_a_meaning_for_every_field(monkeypatch):
    """A field without a comment or a flag help makes the generator fail, not write an empty row."""
    comments, flags = config_doc.field_comments(), config_doc.cli_flags()
    name = next(f.name for f in dataclasses.fields(VOConfig) if f.name not in flags)
    monkeypatch.setattr(config_doc, "field_comments", lambda: {k: v for k, v in comments.items() if k != name})
    try:
        config_doc.render()
    except ValueError as e:
        assert name in str(e)
    else:
        raise AssertionError("render() accepted a field without a description")
