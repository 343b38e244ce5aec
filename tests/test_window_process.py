"""The window in its own process (``vo_app/pipeline/window/remote.py``): the same solves as in the run's
process, and a child that dies turns into failed solves that keep the guesses."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gtsam")

from test_window import H, K, W, drive  # noqa: E402
from vo_app.pipeline.window.remote import WindowProcess  # noqa: E402
from vo_app.pipeline.window.window import SlidingWindow, StepMeasurement, WindowParams  # noqa: E402

TIMING = {"time_s", "build_s"}


def _stream(n: int, seed: int = 0):
    """Keyframe by keyframe: (frame, its observations (ids, px), the guess T_rel 4% long, a ground step)."""
    rng = np.random.default_rng(seed + 1)
    poses, pts = drive(n, seed=seed)
    ids = np.arange(len(pts))
    out = []
    for k in range(n):
        T = poses[k]
        Xc = (pts - T[:3, 3]) @ T[:3, :3]
        front = Xc[:, 2] > 1
        u = (Xc[front] / Xc[front, 2:3]) @ K.T
        inside = (u[:, 0] >= 0) & (u[:, 0] < W) & (u[:, 1] >= 0) & (u[:, 1] < H)
        idx = np.flatnonzero(front)[inside]
        obs = (ids[idx], u[inside, :2] + rng.normal(0, 0.3, (len(idx), 2)))
        guess = None
        if k > 0:
            guess = np.linalg.inv(poses[k]) @ poses[k - 1]
            guess[:3, 3] *= 1.04
        length = 1.0 * np.exp(rng.normal(0, 0.03))
        out.append((k, obs, guess, [StepMeasurement("ground", length, 0.05)]))
    return poses, out


def _feed(win, stream, *, remote: bool, after=None, ready_at=None):
    """``ready_at``: the keyframe before which the test waits for the process to take the window over."""
    recs = []
    for k, (ids, px), guess, steps in stream:
        if k == ready_at:
            assert win.wait_ready(60.0)
        win.tracks.observe(k, ids, px)
        if guess is None:
            win.start(k, np.eye(4))
            continue
        rec = win.add(k, guess, steps=steps)
        recs.append(win.result() if remote else rec)
        if after is not None:
            after(k, win)
    return recs


def _strip(rec: dict) -> dict:
    return {key: v for key, v in rec.items() if key not in TIMING}


@pytest.mark.parametrize("ready_at", [0, 4])
def test_the_process_solves_exactly_what_the_window_solves_here(ready_at):
    """``ready_at`` 0: every keyframe is solved in the child; 4: the first three are solved here while the
    child starts (it imports GTSAM, about 0.35 s), then the window is handed over to it."""
    params = WindowParams(size=5, max_tracks=80, iterations=4)
    _, stream = _stream(12)
    local = SlidingWindow(K, params, image_size=(W, H))
    # boot_wait 0: the first call does not wait for the child, so the window starts here
    with WindowProcess(K, params, image_size=(W, H), boot_wait=0.0 if ready_at else 2.0) as remote:
        lengths = []

        def step(k, win):  # the back end reads the new keyframe's step right after its solve
            lengths.append(win.step_length(k))
            if k == 3:
                win.rescale(2.0)  # the first absolute measurement changes the units

        recs_l = _feed(local, stream, remote=False, after=step)
        recs_r = _feed(remote, stream, remote=True, after=step, ready_at=ready_at)
        assert remote.solved_here == ready_at - 1 if ready_at else remote.solved_here == 0
        assert [_strip(r) for r in recs_r] == [_strip(r) for r in recs_l]
        assert all(r["status"] == "ok" for r in recs_r) and recs_r[-1]["tracks"] > 20
        assert lengths[11:] == lengths[:11]
        for k in range(12):
            assert np.array_equal(remote.pose(k), local.pose(k)), k


def test_an_error_in_the_process_is_raised_here_with_its_message():
    with WindowProcess(K, WindowParams(size=3), image_size=(W, H)) as remote:
        assert remote.wait_ready(60.0)
        remote.start(0, np.eye(4))
        with pytest.raises(RuntimeError, match="ValueError: scale factor must be positive"):
            remote.rescale(-1.0)
        with pytest.raises(ValueError, match="finite"):
            remote.add(1, np.full((4, 4), np.nan))


def test_a_process_that_dies_before_it_takes_over_leaves_the_window_here():
    params = WindowParams(size=4, max_tracks=60, iterations=3)
    _, stream = _stream(6)
    local = SlidingWindow(K, params, image_size=(W, H))
    with WindowProcess(K, params, image_size=(W, H)) as remote:
        remote.proc.kill()
        remote.proc.wait(10)
        recs_r = _feed(remote, stream, remote=True)
        assert not remote.wait_ready(1.0) and remote.solved_here == 5
    assert [_strip(r) for r in recs_r] == [_strip(r) for r in _feed(local, stream, remote=False)]
    assert all(np.array_equal(remote.pose(k), local.pose(k)) for k in range(6))  # after close() too


def test_a_killed_process_fails_the_later_solves_and_keeps_the_guesses():
    params = WindowParams(size=4, max_tracks=60, iterations=3)
    _, stream = _stream(9)
    killed = {}

    def kill_at_5(k, win):
        if k == 5:
            win.proc.kill()
            win.proc.wait(10)
            killed["poses"] = {f: T.copy() for f, T in win.poses.items()}

    with WindowProcess(K, params, image_size=(W, H)) as remote:
        recs = _feed(remote, stream, remote=True, after=kill_at_5, ready_at=0)
        assert [r["status"] for r in recs[:5]] == ["ok"] * 5
        assert all(r["status"].startswith("failed: the window's process") for r in recs[5:]), recs[5:]
        assert remote.failed == 3
        for k, _, guess, _ in stream[6:]:  # each later keyframe: its reference's pose and the front end's motion
            expect = remote.pose(k - 1) @ np.linalg.inv(guess)
            assert np.allclose(remote.pose(k), expect, atol=1e-12) and np.isfinite(remote.pose(k)).all()
            assert remote.step_length(k) == pytest.approx(np.linalg.norm(guess[:3, 3]))
        for f, T in killed["poses"].items():  # what was solved before stays
            assert np.array_equal(remote.pose(f), T)
