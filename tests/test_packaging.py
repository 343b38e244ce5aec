"""Packaging: a wheel works outside the source tree (presets included), and install.sh's plan.

``test_wheel_runs_outside_the_source_tree`` builds a wheel from a copy of the sources (CPU-only
core: ``VO_NO_CUDA=1``), installs it ``--no-deps`` into a fresh venv that sees this venv's
dependencies through a ``.pth`` file, and runs ``vo-synth`` and ``vo-run --config kitti`` from a
folder outside the repository.  About 20 s on 2 cores (busy with other jobs), most of it
compiling the C++ core.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sysconfig.get_path("scripts")  # cmake from pip lives here
N_FRAMES = 8


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = SCRIPTS + os.pathsep + env.get("PATH", "")
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1", **extra)
    return env


def _why_no_build() -> str | None:
    """Why a wheel cannot be built here, or None."""
    path = _env()["PATH"]
    cxx = os.environ.get("CXX")
    if not (shutil.which(cxx, path=path) if cxx else any(shutil.which(c, path=path) for c in ("c++", "g++", "clang++"))):
        return "no C++ compiler (c++, g++, clang++ or $CXX) to build the vo_app._core extension"
    if not shutil.which("cmake", path=path):
        return "no cmake to build the vo_app._core extension"
    for mod in ("pip", "setuptools", "wheel", "pybind11"):
        if importlib.util.find_spec(mod) is None:  # not imported here: setuptools must not meet pip's distutils
            return f"{mod} is not installed in this interpreter (the build runs with --no-build-isolation)"
    return None


def _run(cmd, cwd: Path, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(**env), capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} exited {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


_WHY = _why_no_build()


@pytest.mark.skipif(_WHY is not None, reason=f"cannot build a wheel: {_WHY}")
def test_wheel_runs_outside_the_source_tree(tmp_path):
    # A copy of the sources: pip builds in the source folder (build/, *.egg-info), and the
    # checkout's build outputs (vo_app/_core*.so, loaded by running processes) stay untouched.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "_skbuild", "dist", "runs", "weights", "*.egg-info", "__pycache__", "*.so",
        ".pytest_cache", ".hypothesis"))
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", wheels], src,
         VO_NO_CUDA="1")
    (wheel,) = wheels.glob("vo_app-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in ("kitti", "tum", "indoor", "demo"):
        assert f"vo_app/configs/{preset}.yaml" in names
    assert any(n.startswith("vo_app/_core") for n in names)

    # A fresh venv: the wheel goes into it, the dependencies come from this interpreter's
    # site-packages through plain path lines (no `import` line, so the editable install's
    # finder in there is not run and nothing resolves to the source tree).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    vpy = venv / "bin" / "python"
    site_dir = Path(_run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip())
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site_dir / "_vo_app_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    _run([sys.executable, "-m", "pip", "--python", vpy, "install", "--no-deps", wheel], tmp_path)

    work = tmp_path / "work"  # not the repository: nothing can come from the source tree
    work.mkdir()
    probe = "import vo_app, vo_app._core, vo_app.pipeline.config as c; print(vo_app.__file__); print(c.CONFIG_DIR)"
    where, config_dir = _run([vpy, "-c", probe], work).stdout.split()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where
    assert Path(config_dir).resolve().is_relative_to(venv.resolve()), config_dir

    _run([venv / "bin" / "vo-synth", "seq", "--frames", N_FRAMES, "--size", "416x128", "--no-flow"], work)
    _run([venv / "bin" / "vo-run", "seq", "--config", "kitti", "--out", "out", "--quiet"], work)
    rows = (work / "out" / "trajectory_kitti.txt").read_text().splitlines()
    assert len(rows) == N_FRAMES
    assert all(len(r.split()) == 12 for r in rows)


# ------------------------------------------------------------------ scripts/install.sh --dry-run
def _dry_run(tmp_path: Path, **env) -> str:
    """The plan of install.sh, run from a copy (its own folder, no .venv: the checkout's is never looked at)."""
    root = tmp_path / "root"
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "scripts" / "install.sh", root / "scripts" / "install.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    res = subprocess.run(["bash", "scripts/install.sh", "--dry-run"], cwd=root, capture_output=True, text=True,
                         timeout=120, env={**_env(PYTHON=sys.executable), **env})
    assert res.returncode == 0, res.stderr
    assert not (root / ".venv").exists()
    return res.stdout


def test_install_plan_cpu(tmp_path):
    out = _dry_run(tmp_path, VO_TORCH="cpu")
    assert "torch: cpu (VO_TORCH=cpu)" in out
    assert "pip install torch==2.13.0" in out
    assert '-m venv .venv' in out and "--system-site-packages" not in out
    assert 'pip install --no-build-isolation -e ".[viewer,test]"' in out
    assert "--no-index" not in out


def test_install_plan_system_torch(tmp_path):
    out = _dry_run(tmp_path, VO_TORCH="system", VO_CUDA_ARCHS="90")
    assert "torch: system (VO_TORCH=system)" in out
    assert "-m venv --system-site-packages .venv" in out
    assert "torch==" not in out  # the torch of $PYTHON is used, none is installed
    assert "pip install --no-build-isolation --no-deps -e ." in out
    assert '"click>=8.1"' in out and '"evo>=1.28"' in out  # the other dependencies, from pyproject.toml
    assert 'export VO_CUDA_ARCHS="90"' in out


def test_install_plan_auto_and_wheels(tmp_path):
    import torch

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    out = _dry_run(tmp_path, VO_TORCH="auto", VO_WHEELS=str(wheels))
    mode = "system" if torch.cuda.is_available() else "cpu"
    assert f"torch: {mode} (" in out
    pips = [line for line in out.splitlines() if line.strip().startswith("pip install")]
    assert pips and all(f"--no-index --find-links {wheels.resolve()}" in line for line in pips)


def test_training_imports_without_evo():
    """vo-train validates with vo_app.eval.depth; a GPU machine with torch but no evo must run it
    (the first GPU lease failed on this).  The trajectory metrics then name evo when used."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['evo'] = None\n"
            "import vo_app.eval.depth, vo_app.train.depth_stage, vo_app.train.flow_stage\n"
            "import vo_app.eval as e\n"
            "try:\n    e.ate\nexcept ModuleNotFoundError as x:\n    print('needs evo' if 'evo' in str(x) else x)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "needs evo"
