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


# --- README.md ------------------------------------------------------------------------------

README = ROOT / "README.md"
MAX_LINES = 300


def _entry_points() -> dict[str, str]:
    """``vo-* -> module`` from pyproject.toml's [project.scripts] (the editable install's metadata
    can lag behind a command added since)."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return {name: target.split(":")[0] for name, target in scripts.items() if name.startswith("vo-")}


def _click_command(module: str):
    import importlib

    import click

    mod = importlib.import_module(module)
    if isinstance(getattr(mod, "cli", None), click.Command):
        return mod.cli
    cmds = [v for v in vars(mod).values() if isinstance(v, click.Command)]
    assert len(cmds) == 1, f"{module}: no single click command"
    return cmds[0]


def readme_commands(text: str) -> list[tuple[str, list[str]]]:
    """``(command, args)`` for every ``vo-*`` call in the README's fenced code blocks (all but
    ```text listings): lines
    joined at a trailing backslash, comments dropped, split at ``&&``, ``||``, ``;`` and ``|``."""
    import shlex

    names = set(_entry_points())
    out = []
    for lang, block in re.findall(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.M | re.S):
        if lang == "text":  # a listing, not commands
            continue
        joined = re.sub(r"\\\n", " ", block)
        for line in joined.splitlines():
            lex = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lex.whitespace_split, lex.commenters = True, "#"
            try:
                toks = list(lex)
            except ValueError:  # unbalanced quotes: not a shell line (the layout block), unless it calls vo-*
                assert not any(re.search(rf"(^|[\s/]){n}\b", line) for n in names), f"cannot parse: {line}"
                continue
            words: list[str] = []
            for tok in toks + [";"]:
                if tok and set(tok) <= set(";&|"):
                    for i, w in enumerate(words):
                        if Path(w).name in names:
                            out.append((Path(w).name, words[i + 1:]))
                            break
                    words = []
                else:
                    words.append(tok)
    return out


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines (at most {MAX_LINES}: move details to docs/)"


def test_readme_keeps_the_two_commands_first():
    text = README.read_text()
    first = text.index("bash scripts/install.sh && .venv/bin/vo-run")
    second = text.index("bash scripts/install.sh && .venv/bin/python -m pytest -q")
    assert first < second
    assert text.find("```") < first and text[:first].count("```") == 1  # the first code block


def _parse_errors(cmds, fragments: bool = False) -> list[str]:
    """The commands of ``cmds`` that click's parser rejects (nothing runs).  ``fragments``:
    inline examples that may leave out a required option, so a missing one is not an error."""
    import click

    modules = _entry_points()
    bad = []
    for name, args in cmds:
        cmd = _click_command(modules[name])
        label = f"{name} {' '.join(args)}"
        try:
            if isinstance(cmd, click.Group):
                sub = cmd.get_command(click.Context(cmd), args[0]) if args else None
                if sub is None:
                    raise click.UsageError(f"no subcommand {args[:1]}")
                cmd, name, args = sub, f"{name} {args[0]}", args[1:]
            cmd.make_context(name, list(args), resilient_parsing=False)
        except click.exceptions.Exit:  # --help
            pass
        except click.MissingParameter as e:
            if not fragments:
                bad.append(f"{label}: {e.format_message()}")
        except click.ClickException as e:
            bad.append(f"{label}: {e.format_message()}")
    return bad


def readme_inline_commands(text: str) -> list[tuple[str, list[str]]]:
    """``(command, args)`` of the inline code spans that call a ``vo-*`` command with arguments
    (the table's commands), ``$VAR`` and ``...`` kept as plain words."""
    import shlex

    names = set(_entry_points())
    out = []
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # fenced blocks are checked apart
    for span in re.findall(r"`([^`]+)`", prose):  # a span may wrap over lines
        span = " ".join(span.split())
        words = span.split()
        if len(words) > 1 and Path(words[0]).name in names:
            out.append((Path(words[0]).name, shlex.split(span)[1:]))
    return out


def test_readme_commands_parse_against_the_cli():
    cmds = readme_commands(README.read_text())
    assert len(cmds) >= 10 and {c for c, _ in cmds} >= {"vo-run", "vo-eval", "vo-view", "vo-train"}
    bad = _parse_errors(cmds)
    assert not bad, "README commands that do not parse:\n" + "\n".join(bad)


def test_readme_inline_commands_parse_against_the_cli():
    cmds = readme_inline_commands(README.read_text())
    assert len(cmds) >= 5  # the table's commands at least
    bad = _parse_errors(cmds, fragments=True)
    assert not bad, "README inline commands that do not parse:\n" + "\n".join(bad)


def test_readme_command_check_catches_a_wrong_option():
    """The parser check fails on an option that does not exist."""
    import click

    (name, args), = readme_commands("```bash\n.venv/bin/vo-run DIR --no-such-option 3  # x\n```\n")
    assert (name, args) == ("vo-run", ["DIR", "--no-such-option", "3"])
    cmd = _click_command(_entry_points()["vo-run"])
    try:
        cmd.make_context(name, args, resilient_parsing=False)
    except click.NoSuchOption:
        pass
    else:
        raise AssertionError("an unknown option parsed")


def test_readme_links_point_at_files():
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"
    assert "../shared" not in text


#: the documentation pages this test keeps honest (the others have their own owners)
DOC_PAGES = ["README.md", "docs/install.md", "docs/running.md", "docs/evaluation.md", "docs/results.md",
             "docs/scale.md", "docs/learned_models.md", "docs/training.md", "docs/config.md"]


def test_docs_cite_files_that_exist():
    """Every repository path the user documentation names in code spans exists (a moved module
    or a renamed benchmark shows up here), and none points outside the repository."""
    pat = re.compile(r"(?<![\w./-])((?:vo_app|benchmarks|configs|tests|weights|docs|scripts|csrc)/[\w./-]*\w)")
    missing = []
    for page in DOC_PAGES:
        text = (ROOT / page).read_text()
        assert "../shared" not in text, f"{page} cites a path outside the repository"
        for m in pat.finditer(text):
            path, after = m.group(1), text[m.end():m.end() + 1]
            if after in "*<{" and after or any(part.isupper() for part in path.split("/")):
                continue  # a pattern (configs/train_*.yaml) or a placeholder (configs/CONFIG)
            if not (ROOT / path.split("#")[0]).exists():
                missing.append(f"{page}: {path}")
    assert not missing, "documented paths that do not exist:\n" + "\n".join(sorted(set(missing)))
