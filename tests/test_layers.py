"""Layers import only downward: cli -> viewer -> train/eval/pipeline -> models/synth -> io -> geometry.

Every import of the package is checked, including those inside functions (parsed from the source,
not executed).  ``vo_app.errors``, ``vo_app.configs`` and the package root (its version) may be
imported from anywhere; inside one layer, packages do not import each other, except train, which
may import eval (never the reverse).
"""
from __future__ import annotations

import ast
from pathlib import Path

import vo_app

ROOT = Path(vo_app.__file__).resolve().parent

#: the layer of each subpackage: a module may import its own package and lower layers.
LAYER = {"geometry": 0, "io": 1, "models": 2, "synth": 2, "train": 3, "eval": 3, "pipeline": 3, "viewer": 4, "cli": 5}
ANYWHERE = {"errors", "configs", "_core", ""}  # "" : the package root (vo_app.__version__)
SIDEWAYS = {("train", "eval")}  # (importer, imported) inside one layer


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and not parts[1].startswith("__") else ""  # vo_app.__version__: the root


def _imports(path: Path):
    """``(line, imported vo_app module)`` of every import in ``path``, relative ones resolved."""
    rel = path.relative_to(ROOT.parent).with_suffix("")
    here = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "vo_app" or a.name.startswith("vo_app."):
                    yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "vo_app" or mod.startswith("vo_app."):
                if mod == "vo_app":  # from vo_app import geometry: the names are subpackages
                    for a in node.names:
                        yield node.lineno, f"vo_app.{a.name}"
                else:
                    yield node.lineno, mod


def _violations() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        src_mod = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        src = _package(src_mod)
        if src in ANYWHERE:
            continue
        if src not in LAYER:  # a new package must be placed in the map before it can import anything
            bad.append(f"{path.relative_to(ROOT.parent)}: package {src} is in no layer (add it to LAYER)")
            continue
        for line, mod in _imports(path):
            dst = _package(mod)
            if dst in ANYWHERE or dst == src:
                continue
            if dst not in LAYER:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {mod}, which is in no layer")
            elif LAYER[dst] > LAYER[src] or (LAYER[dst] == LAYER[src] and (src, dst) not in SIDEWAYS):
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {src} imports {mod}")
    return bad


def test_every_import_goes_down_the_layers():
    bad = _violations()
    assert not bad, "imports against the layer map:\n" + "\n".join(bad)


def test_the_walk_sees_imports_inside_functions(tmp_path, monkeypatch):
    """The check itself: an upward import hidden in a function body is found."""
    global ROOT
    pkg = tmp_path / "vo_app"
    (pkg / "io").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "io" / "__init__.py").write_text("")
    (pkg / "io" / "x.py").write_text("def f():\n    from ..viewer import live\n    from ..geometry import se3\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", pkg)
    assert _violations() == ["vo_app/io/x.py:2: io imports vo_app.viewer"]


def test_a_package_outside_the_map_is_reported(tmp_path, monkeypatch):
    """A new subpackage cannot escape the check by being absent from LAYER."""
    pkg = tmp_path / "vo_app"
    (pkg / "batch").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "batch" / "__init__.py").write_text("from ..cli import run\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", pkg)
    assert _violations() == ["vo_app/batch/__init__.py: package batch is in no layer (add it to LAYER)"]


def _module_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import mod`` resolved to ``pkg.mod``)."""
    names = {".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
             for p in ROOT.rglob("*.py")}
    out = {}
    for path in ROOT.rglob("*.py"):
        src = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for _, mod in _imports(path):
            deps.add(mod if mod in names else mod.rsplit(".", 1)[0])
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # from .pkg import module
            if isinstance(node, ast.ImportFrom) and node.level:
                base = src.split(".")[: len(src.split(".")) - node.level + (1 if path.name == "__init__.py" else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
                deps |= {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in names}
        out[src] = {d for d in deps if d in names and d != src}
    return out


def test_no_two_modules_import_each_other():
    """Not even from inside a function (synth/room.py and synth/scene.py did); package ``__init__``
    files, which re-export their modules, are left out."""
    graph = _module_imports()
    pkgs = {p.parent.relative_to(ROOT.parent).as_posix().replace("/", ".") for p in ROOT.rglob("__init__.py")}
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps
                    if a not in pkgs and b not in pkgs and a in graph.get(b, set())})
    assert not pairs, f"modules that import each other: {pairs}"
