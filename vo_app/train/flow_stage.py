"""Training stage 1: the flow network alone (``vo-train flow``).

Supervised pretraining on the synthetic stream (:mod:`vo_app.synth.samples.synthetic`), then,
optionally from ``selfsup.start_step``, self-supervised fine-tuning on image folders with the
occlusion-masked photometric loss (:func:`vo_app.train.losses.selfsup_loss`).

Run folder (``--out``)::

    config.yaml   the configuration as run          log.jsonl   losses and validation, one line each
    last.pt       full checkpoint (for --resume)    model.pt    weights-only checkpoint (for --weights)
    best.pt       weights with the best held-out EPE so far     curve.png   the learning curve

Sample ``k`` of the data streams is a pure function of the seed and ``k``; step ``s`` uses
samples ``s*B .. s*B+B-1``, so a resumed run sees exactly the batches an uninterrupted run
would have seen.  SIGINT (Ctrl-C) finishes the current step, saves ``last.pt`` and stops;
a second Ctrl-C aborts at once.  Under ``torchrun`` each of the ``W`` processes trains on its own
``B`` samples of the step (``loop.py``), so a step sees ``W*B`` samples.
"""
from __future__ import annotations

from pathlib import Path

import torch
import yaml

from ..errors import UserError
from ..models.checkpoint import check_compatible, load_checkpoint, load_weights, save_checkpoint
from ..models.pwc.net import PWCNet
from .config import TrainConfig
from .data.folders import FolderPairs
from ..synth.samples.synthetic import SynthFlowDataset, to_tensors
from .loop import StageTrainer, loader
from .losses import epe_map, selfsup_loss, supervised_loss


def load_init_weights(model: PWCNet, src: dict, arch, path) -> None:
    """``--init``: the checkpoint's weights into ``model``; the architectures must be equal, except that
    a checkpoint without the convex upsampler may start a model with one (it starts as bilinear)."""
    import dataclasses

    from ..models.pwc.arch import PWCArch

    src_arch = PWCArch.from_dict(src["arch"])
    state = dict(src["model"])
    if arch.convex_upsample and not src_arch.convex_upsample:
        src = {**src, "arch": dataclasses.replace(src_arch, convex_upsample=True).to_dict()}
        state.update({k: v for k, v in model.state_dict().items() if k.startswith("upsampler.")})
    check_compatible(src, arch=arch, path=path)
    load_weights(model, state, path=path)


class FlowTrainer(StageTrainer):
    """One training run in ``out_dir``; :meth:`run` trains up to ``cfg.optim.steps`` and returns a summary."""

    stage = "flow"
    val_key = "val_epe"
    nonfinite = "skip"

    def __init__(self, cfg: TrainConfig, out_dir: "str | Path", *, device: str = "cpu", resume: bool = False,
                 progress: bool = True, init: "str | None" = None):
        super().__init__(out_dir, device, progress)
        self.cfg = cfg
        self.init = init
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda but no CUDA GPU is visible to torch", fix="use --device cpu")
        self.model = PWCNet(cfg.model)
        self.optim = None
        self._heldout = None
        self._init(resume)

    # ------------------------------------------------------------------ setup
    def _init(self, resume: bool) -> None:
        cfg = self.cfg
        last = self.out / "last.pt"
        if resume:
            if not last.is_file():
                raise UserError("nothing to resume: no last.pt in the run folder", path=self.out,
                                fix="start the run without --resume, or pass the --out of an earlier run")
            ckpt = load_checkpoint(last)
            if "trainer" not in ckpt or "optimizer" not in ckpt:
                raise UserError("checkpoint has no optimizer/trainer state (a weights-only export)", path=last,
                                fix="resume from the run's last.pt")
            check_compatible(ckpt, arch=cfg.model, image_size=cfg.image_size, data=cfg.data_identity(), path=last)
            torch.manual_seed(cfg.seed)
            load_weights(self.model, ckpt["model"], path=last)
            self.model.to(self.device)
            self.optim = self._make_optim()
            self.optim.load_state_dict(ckpt["optimizer"])
            self.load_trainer_state(ckpt)
        else:
            if last.exists():
                raise UserError("the run folder already holds a run (last.pt)", path=self.out,
                                fix="pass --resume to continue it, or choose a new --out")
            self.out.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(cfg.seed)
            self.model = PWCNet(cfg.model)
            if self.init is not None:  # start from trained weights (fine-tuning); same architecture required
                src = load_checkpoint(self.init)
                load_init_weights(self.model, src, cfg.model, self.init)
            self.model.to(self.device)
            self.optim = self._make_optim()
            self.log = self.open_log()
        if self.is_main:
            (self.out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def _make_optim(self):
        o = self.cfg.optim
        return torch.optim.Adam(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay)

    # ------------------------------------------------------------------ one step
    def _to(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def supervised_terms(self, batch: dict) -> tuple[torch.Tensor, dict]:
        out = self.model(batch["img1"], batch["img2"])
        flows, weights = list(out["flows"]), list(self.cfg.loss.level_weights)
        if out.get("learned_upsampling"):  # the full-size output has parameters of its own (models/pwc/upsample.py)
            flows.append(out["flow"])
            weights.append(self.cfg.loss.full_res_weight)
        loss = supervised_loss(flows, batch["flow"], weights, batch["mask"])
        with torch.no_grad():
            m = batch["mask"][:, 0] > 0
            epe = epe_map(out["flow"].float(), batch["flow"])[m].mean()
        return loss, {"sup": float(loss.detach()), "epe": float(epe)}

    def selfsup_terms(self, batch: dict) -> tuple[torch.Tensor, dict]:
        a, b = batch["img1"], batch["img2"]
        n = a.shape[0]
        out = self.model(torch.cat([a, b]), torch.cat([b, a]))
        fwd = [f[:n] for f in out["flows"]]
        bwd = [f[n:] for f in out["flows"]]
        lc = self.cfg.loss
        r = selfsup_loss(a, b, fwd, bwd, alpha=lc.alpha, beta=lc.beta, edge_weight=lc.edge_weight,
                         n_scales=lc.photo_scales)
        return r["loss"], {"photo": float(r["photo"].detach()), "smooth": float(r["smooth"].detach())}

    def train_step(self, sup_batch: dict | None, ss_batch: dict | None) -> dict:
        """One optimizer step on a supervised and/or a self-supervised batch; returns the logged numbers."""
        self.model.train()
        lr = self.cfg.optim.lr_at(self.step, self.cfg.selfsup)
        for g in self.optim.param_groups:
            g["lr"] = lr
        self.optim.zero_grad(set_to_none=True)
        stats, loss = {}, None
        with torch.autocast(self.device.type, enabled=self.amp):
            if ss_batch is not None:
                loss, s = self.selfsup_terms(self._to(ss_batch))
                stats.update(s)
            if sup_batch is not None:
                l_sup, s = self.supervised_terms(self._to(sup_batch))
                stats.update(s)
                w = 1.0 if ss_batch is None else self.cfg.selfsup.supervised_weight
                loss = w * l_sup if loss is None else loss + w * l_sup
        if not self.backward_and_step(loss):  # skip a poisoned batch instead of corrupting the weights
            return {**stats, "loss": float(loss.detach()), "skipped": 1.0}
        stats["loss"] = float(loss.detach())
        return stats

    # ------------------------------------------------------------------ validation
    def heldout(self):
        if self._heldout is None:
            from ..eval.flow import synthetic_pairs

            self._heldout = synthetic_pairs(self.cfg.val.pairs, tuple(self.cfg.image_size))
        return self._heldout

    @torch.no_grad()
    def validate(self) -> dict:
        """Mean EPE (all / non-occluded) on the first ``val.pairs`` held-out synthetic pairs."""
        from ..eval.flow import mean_metrics, pair_metrics
        from ..models.pwc.backend import PWCFlow

        if self.cfg.val.pairs == 0:
            return {}
        backend = PWCFlow(self.model, self.device)
        rows = []
        pairs = self.heldout()
        for i in range(0, len(pairs), 8):
            chunk = pairs[i:i + 8]
            flows = backend.batch([p.img1 for p in chunk], [p.img2 for p in chunk])
            rows += [pair_metrics(f[0], p.gt, p.valid, p.noc) for f, p in zip(flows, chunk)]
        m = mean_metrics(rows)
        return {"val_epe": m["epe"], "val_epe_noc": m["epe_noc"], "val_fl_all": m["fl_all"]}

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_dict(self, full: bool = True) -> dict:
        cfg = self.cfg
        ck = {"arch": cfg.model.to_dict(), "image_size": list(cfg.image_size),
              "training": {"data": cfg.data_identity(), "steps": self.step,
                           "samples": self.step * cfg.optim.batch_size * self.world, "config": cfg.to_dict(),
                           "seconds": round(self.elapsed, 1), "device": str(self.device),
                           "torch": str(torch.__version__), "stage": "flow",
                           "init": None if self.init is None else str(self.init)},
              "metrics": {**self.metrics, "step": self.step},
              "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}
        if full:
            ck["optimizer"] = self.optim.state_dict()
            ck["trainer"] = {**self.trainer_state(),
                             "data": {"synthetic_next": self.step * cfg.optim.batch_size * self.world}}
        return ck

    def save(self) -> None:
        mb = self.cfg.checkpoint.max_bytes
        save_checkpoint(self.out / "last.pt", self.checkpoint_dict(full=True), max_bytes=mb)
        save_checkpoint(self.out / "model.pt", self.checkpoint_dict(full=False), max_bytes=mb)

    def save_best(self) -> None:
        save_checkpoint(self.out / "best.pt", self.checkpoint_dict(full=False), max_bytes=self.cfg.checkpoint.max_bytes)

    # ------------------------------------------------------------------ the batches of each step
    def batches(self, total: int):
        """Per step ``(supervised batch or None, self-supervised batch or None)``."""
        cfg = self.cfg
        B = cfg.optim.batch_size
        ss_start = cfg.selfsup.start_step
        need_sup = ss_start is None or self.step < ss_start or cfg.selfsup.supervised_weight > 0
        sup_end = total if ss_start is None or cfg.selfsup.supervised_weight > 0 else min(total, ss_start)
        part = dict(rank=self.rank, world=self.world)  # this process's samples of each step
        synth = SynthFlowDataset(cfg.data, *cfg.image_size, cache_dir=cfg.runtime.cache_dir)
        sup_it = loader(synth, self.step, max(sup_end, self.step), B,
                        cfg.runtime.workers, **part) if need_sup else None
        ss_it = None
        if ss_start is not None and total > ss_start:
            ds = FolderPairs(list(cfg.selfsup.folders), *cfg.image_size, seed=cfg.data.seed, max_gap=cfg.selfsup.max_gap)
            first = max(self.step, ss_start) - ss_start
            ss_it = loader(ds, first, total - ss_start, B, cfg.runtime.workers, **part)

        def per_step(step: int):
            while True:
                in_ss = ss_start is not None and step >= ss_start
                sup = next(sup_it) if (not in_ss or cfg.selfsup.supervised_weight > 0) else None
                ss = next(ss_it) if in_ss else None
                yield sup, ss
                step += 1

        return per_step(self.step)


def load_batch(samples: list[dict]) -> dict:
    """Stack NumPy samples (from :func:`~vo_app.train.data.make_sample`) into a batch of tensors."""
    ts = [to_tensors(s) for s in samples]
    return {k: torch.stack([t[k] for t in ts]) for k in ts[0]}


def train_flow(cfg: TrainConfig, out_dir, *, device: str = "cpu", resume: bool = False, progress: bool = True,
               max_steps: int | None = None, init: "str | None" = None) -> dict:
    """Library entry point of ``vo-train flow`` (``init``: checkpoint whose weights start a new run)."""
    return FlowTrainer(cfg, out_dir, device=device, resume=resume, progress=progress, init=init).run(max_steps)

