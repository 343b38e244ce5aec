"""What every training stage shares: deterministic loaders, Ctrl-C handling, and the step loop.

A stage subclasses :class:`StageTrainer` and provides the model(s), one optimizer step
(:meth:`StageTrainer.train_step`), the batches of each step (:meth:`StageTrainer.batches`),
validation and the checkpoint contents.  The loop gives every stage the same behaviour:

- ``--resume`` is exact: sample ``k`` of each data stream is a pure function of the seed and
  ``k``, and step ``s`` uses samples ``s*B .. s*B+B-1`` (:func:`loader`), the learning rate is a
  function of the step, and the RNG states are saved (``state.py``);
- data-parallel under ``torchrun --nproc_per_node W`` (``distributed.py``): rank ``r`` uses samples
  ``(s*W + r)*B .. (s*W + r)*B + B - 1`` at step ``s`` (so ``W = 1`` is the stream above), the
  gradients are averaged over the ranks (:meth:`StageTrainer.backward_and_step`), the decisions to
  skip a step or to stop are taken together, and only rank 0 writes (log, checkpoints, plot, bar)
  and validates;
- a first SIGINT (Ctrl-C) finishes the current step, saves ``last.pt`` and stops; a second aborts;
- ``runtime.max_minutes`` stops with a checkpoint; progress bar, ``log.jsonl``, ``curve.png``;
- a non-finite loss either skips the step (``nonfinite = "skip"``, the flow stage) or stops the
  run keeping the last good checkpoint (``"stop"``, the depth stages) and says so.
"""
from __future__ import annotations

import abc
import math
import os
import signal
import sys
import time
from pathlib import Path

import torch

from . import distributed as ddp
from .curve import JsonlLog, plot_curve


class _StepSamples(torch.utils.data.Sampler):
    """The sample indices of steps ``first .. last - 1`` for rank ``rank`` of ``world``, in order.

    Step ``s`` contributes ``(s*world + rank)*batch + j`` for ``j = 0 .. batch - 1``: the ranks of
    one step share the ``world*batch`` consecutive samples ``s*world*batch ..``; with
    ``world = 1`` the indices are just ``first*batch .. last*batch - 1``.
    """

    def __init__(self, first: int, last: int, batch: int, rank: int = 0, world: int = 1):
        self.first, self.last, self.batch = int(first), int(last), int(batch)
        self.rank, self.world = int(rank), int(world)

    def __iter__(self):
        for s in range(self.first, self.last):
            start = (s * self.world + self.rank) * self.batch
            yield from range(start, start + self.batch)

    def __len__(self) -> int:
        return max(0, self.last - self.first) * self.batch


def _worker_init(_):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the training process
    torch.set_num_threads(1)


def loader(ds, first_step: int, last_step: int, batch: int, workers: int, *, rank: int = 0, world: int = 1):
    """Iterator over the batches of steps ``first_step .. last_step - 1`` of map-style ``ds``.

    Each batch holds ``batch`` samples: those of rank ``rank`` of ``world`` processes
    (:class:`_StepSamples`; the defaults give samples ``s*batch .. s*batch + batch - 1`` at step ``s``).
    """
    kw = dict(num_workers=workers, worker_init_fn=_worker_init, prefetch_factor=2) if workers else {}
    # a private generator: creating a loader must not consume the global torch RNG (exact --resume)
    gen = torch.Generator().manual_seed(first_step)
    return iter(torch.utils.data.DataLoader(ds, batch_size=batch,
                                            sampler=_StepSamples(first_step, last_step, batch, rank, world),
                                            generator=gen, **kw))


class StopFlag:
    """First SIGINT: ask the loop to stop after the current step; the second one raises at once.

    ``grace`` seconds: a second SIGINT that close to the first counts as the same request.  Under
    ``torchrun`` a Ctrl-C reaches each worker twice, from the terminal and relayed by the launcher.
    """

    def __init__(self, prog: str = "vo-train", grace: float = 0.0, announce: bool = True):
        self.stop = False
        self._old = None
        self.prog = prog
        self.announce = announce
        self.grace = grace
        self._t_first = 0.0

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread
            self._old = None
        return self

    def _handle(self, signum, frame):
        if self.stop:
            if time.monotonic() - self._t_first < self.grace:
                return
            raise KeyboardInterrupt
        self.stop = True
        self._t_first = time.monotonic()
        if self.announce:  # once per run, not once per torchrun process
            print(f"\n{self.prog}: stopping after this step and saving a checkpoint (Ctrl-C again to abort)",
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class _NoLog:
    """The log of ranks other than 0: rows are dropped (rank 0 writes ``log.jsonl``)."""

    def write(self, **row) -> None:
        pass


class StageTrainer(abc.ABC):
    """The loop of one training run in ``out_dir``; see the module docstring for the contract.

    Subclasses set ``stage`` (name), ``val_key`` (the validation number to minimise for
    ``best.pt``), ``nonfinite``, and implement :meth:`batches`, :meth:`train_step`,
    :meth:`validate`, :meth:`save` and :meth:`save_best`.  They set ``self.cfg`` (with
    ``optim``, ``val``, ``checkpoint``, ``log``, ``runtime``), ``self.optim`` and ``self.log``
    (made by :meth:`open_log`), and end :meth:`train_step` with :meth:`backward_and_step`.

    Under ``torchrun`` (``WORLD_SIZE > 1``) the constructor joins the process group (``self.rank``
    of ``self.world``; 0 of 1 otherwise; ``self.device`` is ``cuda:LOCAL_RANK`` for CUDA) and
    :meth:`run` leaves it at the end.  Subclasses write files only where ``self.is_main``.
    """

    stage = "train"
    val_key = "val"
    nonfinite = "skip"

    def __init__(self, out_dir, device: str, progress: bool):
        self.out = Path(out_dir)
        self.rank, self.world, self.device, self._own_group = ddp.setup(torch.device(device))
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        self.amp = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step = 0
        self.elapsed = 0.0  # training seconds over all sessions of the run
        self.metrics: dict = {}
        self.best = math.inf
        self.interrupted = False
        self.stopped_nonfinite = False
        self.skipped = 0

    # -------------------------------------------------------------- hooks
    def networks(self) -> list:
        """The trained modules (their parameters and buffers are kept identical over the ranks)."""
        return [self.model]

    @abc.abstractmethod
    def batches(self, total: int):
        """Iterator yielding, per step, the argument tuple of :meth:`train_step`."""

    @abc.abstractmethod
    def train_step(self, *batches) -> dict:
        """One optimizer step; returns the numbers to log (``skipped`` when the loss is not finite)."""

    def validate(self) -> dict:
        return {}

    @abc.abstractmethod
    def save(self) -> None:
        """Write ``last.pt`` and the weights-only exports (rank 0)."""

    @abc.abstractmethod
    def save_best(self) -> None:
        """Write ``best.pt`` (rank 0)."""

    def trainer_state(self) -> dict:
        """The loop's part of a resumable checkpoint (``world``: processes of the run, for the data stream)."""
        from .state import rng_state

        return {"step": self.step, "elapsed": self.elapsed, "best": self.best, "rng": rng_state(),
                "scaler": self.scaler.state_dict() if self.amp else None, "world": self.world}

    def open_log(self, keep_until_step: int | None = None):
        """``log.jsonl`` (see :class:`~vo_app.train.curve.JsonlLog`) on rank 0; a log that drops its rows elsewhere."""
        return JsonlLog(self.out / "log.jsonl", keep_until_step=keep_until_step) if self.is_main else _NoLog()

    def load_trainer_state(self, ckpt: dict) -> None:
        from .state import set_rng_state

        tr = ckpt["trainer"]
        self.step = int(tr["step"])
        self.elapsed = float(tr.get("elapsed", 0.0))
        self.best = float(tr.get("best", math.inf))
        self.metrics = dict(ckpt.get("metrics", {}))
        if tr.get("scaler") and self.amp:
            self.scaler.load_state_dict(tr["scaler"])
        set_rng_state(tr["rng"])
        was = int(tr.get("world", 1))
        if was != self.world and self.is_main:
            print(f"vo-train: the run was trained by {was} process(es) and goes on with {self.world}: from here the "
                  "batches differ from those of an uninterrupted run", file=sys.stderr)
        self.log = self.open_log(keep_until_step=self.step)

    # -------------------------------------------------------------- one optimizer step
    def optimized_params(self) -> list:
        """The parameters of the optimizer, in its order."""
        return [p for g in self.optim.param_groups for p in g["params"]]

    def backward_and_step(self, loss: torch.Tensor) -> bool:
        """The end of every ``train_step``: backward, (all-reduce), clip, optimizer step.

        ``loss``: this rank's scalar loss of the step.  Returns False, without touching the weights,
        when the loss is not finite on this rank or on any other one (the step is then skipped or
        stops the run on every rank, see ``nonfinite``).  With ``world > 1`` the gradients are
        averaged over the ranks before clipping, and BatchNorm buffers (updated by this step's forward
        pass, skipped step or not) are copied from rank 0, so every rank ends the step with the same
        weights.
        """
        bad = not bool(torch.isfinite(loss.detach()))
        if self.world > 1:
            bad = ddp.any_rank(bad, self.device)
        if bad:
            self._sync_buffers()
            return False
        self.scaler.scale(loss).backward()
        params = self.optimized_params()
        if self.world > 1:
            ddp.average_gradients(params, self.world)
        if self.cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.optim)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        self.scaler.step(self.optim)
        self.scaler.update()
        self._sync_buffers()
        return True

    def _sync_buffers(self) -> None:
        if self.world > 1:
            ddp.broadcast_from_rank0([b for m in self.networks() for b in m.buffers()])

    def _sync_start(self) -> None:
        """Start every rank from rank 0's weights (as ``DistributedDataParallel`` does)."""
        if self.world > 1:
            ddp.broadcast_from_rank0([t for m in self.networks() for t in (*m.parameters(), *m.buffers())])

    # -------------------------------------------------------------- loop
    def _after_step(self, stats: dict, total: int, bar) -> None:
        """Bookkeeping after step ``self.step``: skipped steps, the log, validation, checkpoints."""
        cfg = self.cfg
        if "skipped" in stats:
            self.skipped += 1  # the same on every rank: skipping is decided together (backward_and_step)
            if self.is_main:
                where = "" if self.world == 1 else " (on at least one rank)"
                print(f"vo-train: non-finite loss at step {self.step}{where}; step skipped", file=sys.stderr)
            if self.skipped > 20:
                raise RuntimeError("more than 20 steps with a non-finite loss: lower optim.lr")
        else:
            for k, v in stats.items():
                self._acc[k] = self._acc.get(k, 0.0) + v
            self._n_acc += 1
        if self._n_acc and (self.step % cfg.log.every == 0 or self.step == total):
            now = time.perf_counter()
            row = {k: round(v / self._n_acc, 5) for k, v in self._acc.items()}
            self.log.write(step=self.step, lr=round(self.optim.param_groups[0]["lr"], 8),
                           sec_per_step=round((now - self._t_log) / self._n_acc, 4), **row)
            self.metrics["train_loss"] = row["loss"]
            if bar is not None:
                val = {"val": f"{self.metrics[self.val_key]:.3f}"} if self.val_key in self.metrics else {}
                bar.set_postfix(loss=f"{row['loss']:.3f}", **val)
            self._acc, self._n_acc, self._t_log = {}, 0, now
        if cfg.val.every and cfg.val.pairs and (self.step % cfg.val.every == 0 or self.step == total):
            self._validate_and_log()
        if cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0 and self.is_main:
            self.save()
        if bar is not None:
            bar.update(1)

    def _validate_and_log(self) -> None:
        """Validate, log and keep ``best.pt``: rank 0 only (validation holds no collective)."""
        if not self.is_main:
            return
        v = self.validate()
        if not v:
            return
        self.metrics.update(v, val_step=self.step)
        self.log.write(step=self.step, **{k: round(x, 5) for k, x in v.items()})
        if v[self.val_key] < self.best:
            self.best = v[self.val_key]
            self.save_best()

    def run(self, max_steps: int | None = None) -> dict:
        """Train until ``cfg.optim.steps`` (or ``max_steps`` more steps, or the time limit, or Ctrl-C)."""
        threads = torch.get_num_threads()
        if self.cfg.runtime.threads:
            torch.set_num_threads(self.cfg.runtime.threads)
        done = False
        try:
            self._sync_start()
            res = self._run(max_steps)
            if os.environ.get("VO_TRAIN_DUMP_WEIGHTS") == "1":
                self.dump_weights()
            done = True
            return res
        finally:
            torch.set_num_threads(threads)
            ddp.teardown(self._own_group, barrier=done)

    def dump_weights(self) -> Path:
        """``weights_rank{rank}.pt`` in the run folder: ``{"<i>.<name>": tensor}`` of the state dicts of
        :meth:`networks` (``VO_TRAIN_DUMP_WEIGHTS=1``; the tests compare the ranks' weights)."""
        path = self.out / f"weights_rank{self.rank}.pt"
        torch.save({f"{i}.{k}": v.detach().cpu() for i, m in enumerate(self.networks())
                    for k, v in m.state_dict().items()}, path)
        return path

    def _run(self, max_steps: int | None) -> dict:
        cfg = self.cfg
        total = cfg.optim.steps if max_steps is None else min(cfg.optim.steps, self.step + max_steps)
        it = self.batches(total)
        if self.step == 0 and cfg.val.every and cfg.val.pairs:
            self._validate_and_log()
        bar = None
        if self.progress:  # rank 0 only (__init__)
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.step, unit="step", desc=f"vo-train {self.stage}", dynamic_ncols=True,
                       file=sys.stderr)
        t_start = time.perf_counter()
        limit = cfg.runtime.max_minutes * 60.0
        self._acc, self._n_acc, self._t_log = {}, 0, time.perf_counter()
        try:
            with StopFlag(grace=2.0 if self.world > 1 else 0.0, announce=self.is_main) as flag:
                while self.step < total:
                    stop, timeout = flag.stop, bool(limit and time.perf_counter() - t_start > limit)
                    if self.world > 1:  # one rank's Ctrl-C or clock stops them all, at the same step
                        stop, timeout = ddp.any_rank_flags([stop, timeout], self.device)
                    if stop:
                        self.interrupted = True
                        break
                    if timeout:
                        if self.is_main:
                            print(f"vo-train: time limit of {cfg.runtime.max_minutes:g} min reached at step "
                                  f"{self.step}", file=sys.stderr)
                        break
                    t0 = time.perf_counter()
                    stats = self.train_step(*next(it))
                    if "skipped" in stats and self.nonfinite == "stop":  # decided on every rank together
                        self.stopped_nonfinite = True
                        if self.is_main:
                            where = f"({stats.get('loss')})" if self.world == 1 else "(on at least one rank)"
                            kept = (f"The last good checkpoint is kept: {self.out / 'last.pt'} (step {self._saved_step()})"
                                    if (self.out / "last.pt").is_file() else "No checkpoint had been saved yet.")
                            print(f"vo-train: non-finite loss at step {self.step + 1} {where}; stopping. {kept}",
                                  file=sys.stderr)
                        break
                    if self.world > 1 and "skipped" not in stats:  # log the mean over the whole batch
                        stats = ddp.mean_over_ranks(stats, self.world, self.device)
                    self.step += 1
                    self.elapsed += time.perf_counter() - t0
                    self._after_step(stats, total, bar)
        except BaseException:
            if bar is not None:
                bar.close()
            raise  # a hard abort (second Ctrl-C, crash) keeps the last periodic checkpoint
        if bar is not None:
            bar.close()
        if self.stopped_nonfinite:
            return self.summary()
        if cfg.val.every and cfg.val.pairs and self.metrics.get("val_step") != self.step and self.is_main:
            self._validate_and_log()  # stopped off-schedule (time limit, Ctrl-C): metrics of the saved weights
        if not self.is_main:
            return self.summary()
        self.save()
        try:
            plot_curve(self.out / "log.jsonl", self.out / "curve.png",
                       title=f"vo-train {self.stage}: {Path(cfg.source).name or 'config'} ({self.device.type})")
        except Exception as e:  # noqa: BLE001 - a plot must never lose a run
            print(f"vo-train: could not plot the curve ({e})", file=sys.stderr)
        return self.summary()

    def _saved_step(self) -> str:
        last = self.out / "last.pt"
        if not last.is_file():
            return "none saved yet"
        try:
            from ..models.checkpoint import read_checkpoint

            return str(int(read_checkpoint(last)["trainer"]["step"]))
        except Exception:  # noqa: BLE001 - only for the message
            return "?"

    def summary(self) -> dict:
        return {"step": self.step, "metrics": dict(self.metrics), "interrupted": self.interrupted,
                "nonfinite": self.stopped_nonfinite, "seconds": self.elapsed, "out": str(self.out),
                "rank": self.rank, "world": self.world}
