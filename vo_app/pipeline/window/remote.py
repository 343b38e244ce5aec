"""The sliding window in a process of its own, beside the run.

GTSAM holds Python's GIL while it optimises (``docs/backend.md``), so a solve in the run's process
stops the flow thread for its whole length.  :class:`WindowProcess` keeps a
:class:`~vo_app.pipeline.window.window.SlidingWindow` in a child process and has its interface,
with one difference: :meth:`WindowProcess.add` only sends the keyframe, and :meth:`WindowProcess.result`
waits for that keyframe's solve.  Between the two the run goes on with the next pair.

The child needs about half a second to start (it imports numpy and GTSAM, not torch), longer
than a short clip's first keyframes: until it says it is ready, the window runs in the run's process, and then the
window itself (its keyframes, tracks and points) is handed over to the child.  The child computes
exactly what the window would in the run's process (``tests/test_window_process.py`` compares the
two, bit for bit), so where the handover falls does not change the result.  The run's side keeps
a copy of the poses that each reply brings back, so :meth:`pose` costs no round trip.

Faults: an exception that the window raises is raised again here, with its message.  A child that
dies (a crash inside the solver, or killed) turns every solve from then on into a failed one: the
keyframes keep the guesses the run sent (``poses.guess_pose``), and the record says so.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from .poses import guess_pose, scale_positions
from .params import WindowParams
from .tracks import strided

#: seconds to wait for the child's answer to start()/rescale(), and for it to exit at close()
_REPLY_TIMEOUT = 120.0


def _child(fd: int) -> None:
    """The child (``python -c``, started by :class:`WindowProcess`): the window's settings come first on
    the socket ``fd``, then one message at a time, until the socket ends (or the run kills it)."""
    from .window import SlidingWindow

    conn = Connection(fd)
    try:
        K, params, image_size = conn.recv()
    except (EOFError, OSError):
        return
    window = SlidingWindow(K, params, image_size=image_size)
    conn.send(("ready", None))
    while True:
        try:
            kind, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if kind == "observe":
                window.tracks.observe(*args)
                continue
            if kind == "add":
                frame = args[0][0]
                rec = window.add(*args[0], **args[1])
                reply = ("ok", (rec, {k.frame: window.poses[k.frame] for k in window.keys},
                                window.step_length(frame)))
            elif kind == "restore":  # the window as the run's process left it
                window = args[0]
                continue
            elif kind == "start":
                window.start(*args)
                reply = ("ok", None)
            elif kind == "rescale":
                window.rescale(*args)
                reply = ("ok", {k.frame: window.poses[k.frame] for k in window.keys})
            else:
                reply = ("error", f"unknown message {kind!r}")
        except Exception as exc:  # noqa: BLE001 - raised again in the run's process
            reply = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class _Tracks:
    """``window.tracks`` seen from the run: observations go to the child."""

    def __init__(self, owner: "WindowProcess"):
        self._owner = owner

    def observe(self, frame: int, ids: np.ndarray, px: np.ndarray) -> None:
        owner = self._owner
        if owner._here() is not None:
            owner._local.tracks.observe(frame, ids, px)
        else:  # only the ids that the child's store keeps: an eighth of the pickling and copying (KITTI: 50 of 400 kB)
            owner._send("observe", (frame, *strided(ids, px, owner.p.track_stride)))


class WindowProcess:
    """A :class:`SlidingWindow` in a child process.  ``K [3,3]``, ``params``, ``image_size (w, h)``: as
    :class:`SlidingWindow`'s.  Call :meth:`close` at the end (or use it as a context manager)."""

    def __init__(self, K: np.ndarray, params: WindowParams | None = None, image_size: tuple[int, int] | None = None,
                 boot_wait: float = 2.0):
        """``boot_wait``: seconds the first call waits for the child to start before the window starts
        here instead (then GTSAM is imported here too)."""
        self.p, self._K, self._image_size, self._boot_wait = params or WindowParams(), K, image_size, boot_wait
        if self.p.size < 2:
            raise ValueError(f"a window needs at least 2 keyframes, got {self.p.size}")
        # A fresh interpreter on one end of a socket pair: not fork (the run has threads by now), and not
        # multiprocessing's spawn, which imports the caller's __main__ again (a script without a
        # ``__name__ == "__main__"`` guard would run twice).  This copy of vo_app comes first on its path.
        mine, theirs = socket.socketpair()
        self._conn = Connection(mine.detach())
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]),
                                              *filter(None, [os.environ.get("PYTHONPATH")])])}
        code = "import sys; from vo_app.pipeline.window.remote import _child; _child(int(sys.argv[1]))"
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._booting = True  # neither the child nor a window here has taken a call yet
        self._local = None  # the window in this process (a SlidingWindow) until the child is ready
        self._local_rec: dict | None = None  # the record of a keyframe solved here
        self.solved_here = 0  # keyframes solved in the run's process before the child took over
        self.tracks = _Tracks(self)
        self.poses: dict[int, np.ndarray] = {}  # frame -> T_wc, as the last reply left it
        self._refs: dict[int, int] = {}  # keyframe -> the keyframe before it
        self._lengths: dict[int, float] = {}
        self._last_key: int | None = None
        self._waiting: int | None = None  # the keyframe whose solve has not been collected
        self.dead: str | None = None  # why the child is gone, once it is
        self._send("settings", (np.asarray(K, float), self.p, image_size))
        self.failed = 0

    # -- the pipe ----------------------------------------------------------------------------
    def _here(self):
        """The window in this process (a ``SlidingWindow``) while the child is not ready (or died before it
        was), else None.  The first call waits ``boot_wait`` seconds for the child; the moment it says it
        is ready, a window started here is handed over to it."""
        if self._booting:
            self._booting = False
            if self._ready(self._boot_wait):
                return None
            from .window import SlidingWindow

            self._local = SlidingWindow(self._K, self.p, image_size=self._image_size)
            return self._local
        if self._local is None or not self._ready(0.0):
            return self._local
        local, self._local = self._local, None
        self._send("restore", (local,))
        self.poses = local.poses  # the copy here from now on
        self._refs = {k.frame: k.ref for k in local.keys if k.ref is not None}
        self.failed += local.failed
        return None

    def _ready(self, timeout: float) -> bool:
        """Whether the child has said it is ready, waiting up to ``timeout`` s for it (once said, it is read)."""
        if self.dead is not None or not self._conn.poll(timeout):
            return False
        try:
            self._conn.recv()  # "ready"
        except (EOFError, OSError):  # it died before it took over: the window stays here
            self._wait(1.0)
            self.dead = f"the window's process ended (exit code {self.proc.returncode})"
            return False
        return True

    def _send(self, kind: str, args: tuple) -> None:
        if self.dead is None:
            try:
                self._conn.send(args if kind == "settings" else (kind, args))
            except (OSError, ValueError) as exc:
                self._died(f"the window's process is gone ({exc})")

    def _reply(self, timeout: float | None):
        """The child's next answer, or None once it has died."""
        if self.dead is not None:
            return None
        try:
            if timeout is not None and not self._conn.poll(timeout):
                self._died(f"the window's process did not answer in {timeout:.0f} s")
                return None
            status, value = self._conn.recv()
        except (EOFError, OSError):
            self._wait(1.0)
            self._died(f"the window's process ended (exit code {self.proc.returncode})")
            return None
        if status == "error":
            raise RuntimeError(value)
        return value

    def _wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def _died(self, why: str) -> None:
        self.dead = why
        if self.proc.poll() is None:
            self.proc.kill()
            self._wait(5.0)

    # -- SlidingWindow's interface -----------------------------------------------------------
    def start(self, frame: int, pose: np.ndarray) -> None:
        self._last_key = frame
        local = self._here()
        if local is not None:
            local.start(frame, pose)
            return
        self.poses[frame] = np.asarray(pose, float).copy()
        self._send("start", (frame, self.poses[frame]))
        self._reply(_REPLY_TIMEOUT)

    def add(self, frame: int, T_rel: np.ndarray, *args, **kwargs) -> None:
        """Send keyframe ``frame`` posed by ``T_rel [4,4]`` against the last one (the rest of the arguments as
        :meth:`SlidingWindow.add`'s); its record comes from :meth:`result`."""
        if self._waiting is not None:
            raise RuntimeError("collect the previous keyframe's result() before adding another")
        if self._last_key is None:
            raise RuntimeError("start() the window with its first keyframe")
        T_rel = np.asarray(T_rel, float)
        if T_rel.shape != (4, 4) or not np.isfinite(T_rel).all():
            raise ValueError("T_rel must be a finite [4,4] matrix")
        self._refs[frame] = self._last_key
        local = self._here()
        if local is not None:
            self._local_rec = local.add(frame, T_rel, *args, **kwargs)
            self.solved_here += 1
            self._lengths[frame] = local.step_length(frame)
        else:
            self.poses[frame] = guess_pose(self.poses[self._last_key], T_rel)
            self._send("add", ((frame, T_rel, *args), kwargs))
        self._waiting, self._last_key = frame, frame

    def result(self) -> dict:
        """The record of the last added keyframe's solve (waits for it)."""
        frame, self._waiting = self._waiting, None
        if frame is None:
            raise RuntimeError("no keyframe is waiting for its solve")
        if self._local_rec is not None:  # solved here
            rec, self._local_rec = self._local_rec, None
            return rec
        answer = self._reply(None)
        if answer is None:  # the child is gone: the guess stays
            self.failed += 1
            self._lengths[frame] = float(np.linalg.norm(self.poses[frame][:3, 3] - self.poses[self._refs[frame]][:3, 3]))
            return {"frame": frame, "status": f"failed: {self.dead}", "time_s": 0.0}
        rec, poses, length = answer
        self.poses.update(poses)
        self._lengths[frame] = length
        if rec.get("status") != "ok":
            self.failed += 1
        return rec

    def rescale(self, factor: float) -> None:
        local = self._here()
        if local is not None:
            local.rescale(factor)
            return
        self._send("rescale", (factor,))
        scale_positions(self.poses.values(), factor)  # the keyframes that left, and the child's if it is gone
        poses = self._reply(_REPLY_TIMEOUT)
        if poses is not None:
            self.poses.update(poses)

    def pose(self, frame: int) -> np.ndarray:
        return self._local.pose(frame) if self._local is not None else self.poses[frame]

    def step_length(self, frame: int) -> float:
        """The length of the step into keyframe ``frame`` as its own solve left it (what the back end reads
        right after the solve; :meth:`SlidingWindow.step_length` gives the current one)."""
        return self._lengths[frame]

    def wait_ready(self, timeout: float = _REPLY_TIMEOUT) -> bool:
        """Block until the child has taken the window over; False if it died first or did not answer
        in ``timeout`` seconds (the window then stays in this process)."""
        if self._booting:
            self._booting = not self._ready(timeout)
            return not self._booting
        if self._local is not None and self.dead is None and self._conn.poll(timeout):
            self._here()
        return self._local is None

    def close(self) -> None:
        """Stop the child; safe to call twice.  The poses stay.  The child holds nothing that needs a clean
        exit (the results are here), and an interpreter that had imported torch and GTSAM took 0.7 s to
        exit: it is killed."""
        if self.proc.poll() is None:
            self.proc.kill()
            self._wait(5.0)
        self.dead = self.dead or "closed"
        self._conn.close()
        if self._local is not None:  # it never took over: the poses are the ones solved here
            self.poses, self._local = self._local.poses, None

    def __enter__(self) -> "WindowProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
