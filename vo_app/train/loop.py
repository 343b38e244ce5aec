"""What every training stage shares: deterministic loaders, Ctrl-C handling, and the step loop.

A stage subclasses :class:`StageTrainer` and provides the model(s), one optimizer step
(:meth:`StageTrainer.train_step`), the batches of each step (:meth:`StageTrainer.batches`),
validation and the checkpoint contents.  The loop gives every stage the same behaviour:

- ``--resume`` is exact: sample ``k`` of each data stream is a pure function of the seed and
  ``k``, and step ``s`` uses samples ``s*B .. s*B+B-1`` (:func:`loader`), the learning rate is a
  function of the step, and the RNG states are saved (``state.py``);
- a first SIGINT (Ctrl-C) finishes the current step, saves ``last.pt`` and stops; a second aborts;
- ``runtime.max_minutes`` stops with a checkpoint; progress bar, ``log.jsonl``, ``curve.png``;
- a non-finite loss either skips the step (``nonfinite = "skip"``, the flow stage) or stops the
  run keeping the last good checkpoint (``"stop"``, the depth stages) and says so.
"""
from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

import torch

from .curve import JsonlLog, plot_curve


class _Range(torch.utils.data.Sampler):
    """Indices ``start, start + 1, ..., stop - 1`` in order."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = int(start), int(stop)

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def _worker_init(_):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the training process
    torch.set_num_threads(1)


def loader(ds, first_step: int, last_step: int, batch: int, workers: int):
    """Iterator over the batches of steps ``first_step .. last_step - 1`` of map-style ``ds``."""
    kw = dict(num_workers=workers, worker_init_fn=_worker_init, prefetch_factor=2) if workers else {}
    # a private generator: creating a loader must not consume the global torch RNG (exact --resume)
    gen = torch.Generator().manual_seed(first_step)
    return iter(torch.utils.data.DataLoader(ds, batch_size=batch, sampler=_Range(first_step * batch, last_step * batch),
                                            generator=gen, **kw))


class StopFlag:
    """First SIGINT: ask the loop to stop after the current step; the second one raises at once."""

    def __init__(self, prog: str = "vo-train"):
        self.stop = False
        self._old = None
        self.prog = prog

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread
            self._old = None
        return self

    def _handle(self, signum, frame):
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        print(f"\n{self.prog}: stopping after this step and saving a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class NonFiniteLoss(RuntimeError):
    """A stage with ``nonfinite = "stop"`` met a NaN/inf loss (its last good checkpoint is kept)."""


class StageTrainer:
    """The loop of one training run in ``out_dir``; see the module docstring for the contract.

    Subclasses set ``stage`` (name), ``val_key`` (the validation number to minimise for
    ``best.pt``), ``nonfinite``, and implement :meth:`batches`, :meth:`train_step`,
    :meth:`validate`, :meth:`save` and :meth:`save_best`.  They set ``self.cfg`` (with
    ``optim``, ``val``, ``checkpoint``, ``log``, ``runtime``), ``self.optim`` and ``self.log``.
    """

    stage = "train"
    val_key = "val"
    nonfinite = "skip"

    def __init__(self, out_dir, device: str, progress: bool):
        self.out = Path(out_dir)
        self.device = torch.device(device)
        self.progress = progress
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
    def batches(self, total: int):
        """Iterator yielding, per step, the argument tuple of :meth:`train_step`."""
        raise NotImplementedError

    def train_step(self, *batches) -> dict:
        raise NotImplementedError

    def validate(self) -> dict:
        return {}

    def save(self) -> None:
        raise NotImplementedError

    def save_best(self) -> None:
        raise NotImplementedError

    def trainer_state(self) -> dict:
        """The loop's part of a resumable checkpoint."""
        from .state import rng_state

        return {"step": self.step, "elapsed": self.elapsed, "best": self.best, "rng": rng_state(),
                "scaler": self.scaler.state_dict() if self.amp else None}

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
        self.log = JsonlLog(self.out / "log.jsonl", keep_until_step=self.step)

    # -------------------------------------------------------------- loop
    def _after_step(self, stats: dict, total: int, bar) -> None:
        """Bookkeeping after step ``self.step``: skipped steps, the log, validation, checkpoints."""
        cfg = self.cfg
        if "skipped" in stats:
            self.skipped += 1
            print(f"vo-train: non-finite loss at step {self.step}; step skipped", file=sys.stderr)
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
        if cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0:
            self.save()
        if bar is not None:
            bar.update(1)

    def _validate_and_log(self) -> None:
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
        try:
            return self._run(max_steps)
        finally:
            torch.set_num_threads(threads)

    def _run(self, max_steps: int | None) -> dict:
        cfg = self.cfg
        total = cfg.optim.steps if max_steps is None else min(cfg.optim.steps, self.step + max_steps)
        it = self.batches(total)
        if self.step == 0 and cfg.val.every and cfg.val.pairs:
            self._validate_and_log()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.step, unit="step", desc=f"vo-train {self.stage}", dynamic_ncols=True,
                       file=sys.stderr)
        t_start = time.perf_counter()
        limit = cfg.runtime.max_minutes * 60.0
        self._acc, self._n_acc, self._t_log = {}, 0, time.perf_counter()
        try:
            with StopFlag() as flag:
                while self.step < total:
                    if flag.stop:
                        self.interrupted = True
                        break
                    if limit and time.perf_counter() - t_start > limit:
                        print(f"vo-train: time limit of {cfg.runtime.max_minutes:g} min reached at step {self.step}",
                              file=sys.stderr)
                        break
                    t0 = time.perf_counter()
                    stats = self.train_step(*next(it))
                    if "skipped" in stats and self.nonfinite == "stop":
                        self.stopped_nonfinite = True
                        print(f"vo-train: non-finite loss at step {self.step + 1} ({stats.get('loss')}); stopping. "
                              f"The last good checkpoint is kept: {self.out / 'last.pt'} (step "
                              f"{self._saved_step()})", file=sys.stderr)
                        break
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
        if cfg.val.every and cfg.val.pairs and self.metrics.get("val_step") != self.step:
            self._validate_and_log()  # stopped off-schedule (time limit, Ctrl-C): metrics of the saved weights
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
            return str(int(torch.load(last, map_location="cpu", weights_only=True)["trainer"]["step"]))
        except Exception:  # noqa: BLE001 - only for the message
            return "?"

    def summary(self) -> dict:
        return {"step": self.step, "metrics": dict(self.metrics), "interrupted": self.interrupted,
                "nonfinite": self.stopped_nonfinite, "seconds": self.elapsed, "out": str(self.out)}
