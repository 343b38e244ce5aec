"""Shared fixtures: small synthetic sequences (rendered once per session) and CLI runners.

Sequences are rendered lazily, on first use, into one session temp folder, so a
single test file only pays for the sequences it needs (about 1-2 s each).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under pytest-xdist (``-n N``) each of the N workers gets cores // N threads for torch (OpenMP) and the
# C++ kernels, and so do the processes the tests start: N workers of all-core thread pools would
# oversubscribe the machine.  Set here, before anything imports torch; a value already set is kept.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VO_NUM_THREADS"):
        os.environ.setdefault(_var, _THREADS)

#: (motion, frames, layout) of each session sequence; all 416x128, seed 0, with depth, no flow files.
SEQUENCES = {
    "forward": ("forward", 40, "kitti"),
    "handheld": ("handheld", 20, "both"),  # <root>/kitti and <root>/tum
    "rotation": ("rotation", 15, "kitti"),
    "static": ("static", 10, "kitti"),
}
WIDTH, HEIGHT = 416, 128


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


def _render(root: Path, name: str) -> Path:
    from vo_app.synth import write_sequence

    motion, n, layout = SEQUENCES[name]
    out = root / name
    if not (out / "synth.json").exists():
        write_sequence(out, layout=layout, n_frames=n, width=WIDTH, height=HEIGHT, motion=motion, seed=0,
                       write_flow=False)
    return out


@pytest.fixture(scope="session")
def forward_seq(synth_root) -> Path:
    """40 forward-driving frames, KITTI layout (image_2/, depth/, calib.txt, times.txt, poses.txt)."""
    return _render(synth_root, "forward")


@pytest.fixture(scope="session")
def handheld_seq(synth_root) -> Path:
    """20 handheld frames, KITTI layout."""
    return _render(synth_root, "handheld") / "kitti"


@pytest.fixture(scope="session")
def handheld_tum_seq(synth_root) -> Path:
    """The same 20 handheld frames in the TUM RGB-D layout (timestamps start at 1.0 s)."""
    return _render(synth_root, "handheld") / "tum"


@pytest.fixture(scope="session")
def rotation_seq(synth_root) -> Path:
    """15 frames of pure rotation about a fixed centre, KITTI layout."""
    return _render(synth_root, "rotation")


@pytest.fixture(scope="session")
def static_seq(synth_root) -> Path:
    """10 identical frames of a static camera, KITTI layout."""
    return _render(synth_root, "static")


# ------------------------------------------------------------------ command line
@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture
def run_cli(capsys):
    """Run an entry point in-process: ``run_cli(args, main=vo_app.cli.run.main) -> CliResult``."""

    def runner(args: list, main=None) -> CliResult:
        if main is None:
            from vo_app.cli.run import main
        capsys.readouterr()  # drop anything printed before
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in args])
        cap = capsys.readouterr()
        return CliResult(_exit_code(info.value), cap.out, cap.err)

    return runner


def run_cli_subprocess(args: list, module: str = "vo_app.cli.run", cwd: Path | None = None,
                       timeout: float = 120) -> CliResult:
    """Run ``python -m <module> args`` in a fresh interpreter (real exit code, real stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-m", module, *[str(a) for a in args]], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def run_cli_proc():
    return run_cli_subprocess
