"""Training stages 2 and 3: the depth network (``vo-train depth``) and joint flow + depth (``vo-train joint``).

Stage 2 (``joint=False``), flow frozen:
- steps ``0 .. selfsup.start_step``: supervised warm start on the synthetic renderer's exact
  depth (``data/depth_synth.py``; a deviation from the paper, which trains from scratch);
- from ``selfsup.start_step``: TrianFlow's self-supervised losses on ``--data`` folders
  (``depth_losses.py``): the pair's pose comes from F on the flow matches
  (:func:`vo_app.geometry.two_view`, the runtime's steps 3-7, with :func:`two_view_params`: no
  early exits, no refinement, 100 inliers at least, M_r under RANSAC's F), the re-sampled matches are triangulated,
  the predicted depth is aligned to them (L_d), reprojected (L_p) and smoothed (L_s).  The flow
  is DIS (computed in the loader) or a frozen ``vo-train flow`` checkpoint.

Stage 3 (``joint=True``): the PWC flow network is trained too, with its own self-supervised
loss L_f plus the flow-to-rigid-flow and epipolar terms; all depth losses as in stage 2.

Run folder (``--out``): ``config.yaml``, ``log.jsonl``, ``curve.png``, ``last.pt`` (resumable),
``model.pt`` (depth weights), ``best.pt`` (depth weights with the best held-out AbsRel) and, for
``joint``, ``flow.pt`` (flow weights).  The loop (resume, Ctrl-C, time limit, data-parallel
``torchrun``) is ``loop.py``'s.  A non-finite loss stops the run; the last good ``last.pt`` is kept.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import yaml

from ..errors import UserError
from ..geometry.reproject_t import epipolar_distance_t, reproject_depth_t
from ..geometry import TwoViewParams, two_view_tensors
from ..geometry.warp import pixel_grid_t
from ..models.checkpoint import (DEPTH_KIND, KIND, check_compatible, load_checkpoint, load_weights,
                                 save_checkpoint)
from ..models.depth.arch import DepthArch
from ..models.depth.net import DepthNet, depth_target_for_network
from .data.depth_folders import DepthFolderPairs
from ..synth.samples.depth_synth import SynthDepthDataset, heldout_depth_set
from .depth_config import DepthTrainConfig
from .depth_losses import (disparity_smoothness, multiple_masks, reprojection_loss, rigid_photometric_loss,
                           supervised_depth_loss, triangulate_matches, triangulation_loss)
from .loop import StageTrainer, loader
from .losses import masked_mean, selfsup_loss


def two_view_params(matches: int) -> TwoViewParams:
    """Steps 3-7 as the self-supervised losses use them: ``vo-run``'s, except that every pair with 8
    candidates goes through RANSAC (no early exit), the pose is not refined, and a pair needs 100
    RANSAC inliers, and M_r is that of RANSAC's F (with an untrained flow, the F of the pose from it
    can leave M_r nearly empty, and the reprojection loss's mask with it)."""
    return TwoViewParams(n_matches=matches, early_exits=False, refine=False, min_inliers=100, rigid_from_ransac=True)


class DepthTrainer(StageTrainer):
    """One depth (or joint) run in ``out_dir``; :meth:`run` trains and returns a summary."""

    val_key = "val_absrel"
    nonfinite = "stop"

    def __init__(self, cfg: DepthTrainConfig, out_dir, *, device: str = "cpu", resume: bool = False,
                 progress: bool = True, init: "str | None" = None, joint: bool = False,
                 flow_init: "str | None" = None):
        super().__init__(out_dir, device, progress)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda but no CUDA GPU is visible to torch", fix="use --device cpu")
        self.cfg, self.init, self.joint, self.flow_init = cfg, init, joint, flow_init
        self.stage = "joint" if joint else "depth"
        self.flow_net = None
        self._heldout = None
        self.depth_stats = [0.0, 0]  # sum and count of the supervised ground-truth depths seen (metres)
        self._init(resume)

    def networks(self) -> list:
        """The trained modules: the depth network, and the flow network in the joint stage."""
        return [self.model] + ([self.flow_net] if self.joint else [])

    # ------------------------------------------------------------------ setup
    def _flow_source(self, resume_ckpt: dict | None):
        """The PWC network: trainable in ``joint``, frozen for stage 2 with ``flow.backend: pwc``."""
        from ..models.pwc.arch import PWCArch
        from ..models.pwc.net import PWCNet

        if resume_ckpt is not None and "flow" in resume_ckpt:
            net = PWCNet(PWCArch.from_dict(resume_ckpt["flow"]["arch"]))
            load_weights(net, resume_ckpt["flow"]["model"], path=self.out / "last.pt")
            return net
        src = self.flow_init or self.cfg.flow.weights
        if not src:
            raise UserError("the joint stage trains the flow network and needs its weights",
                            fix="pass --flow-init CKPT (e.g. weights/pwc_small_cpu.pt) or set flow.weights")
        ck = load_checkpoint(src, kind=KIND)
        net = PWCNet(PWCArch.from_dict(ck["arch"]))
        load_weights(net, ck["model"], path=src)
        return net

    def _init(self, resume: bool) -> None:
        cfg = self.cfg
        last = self.out / "last.pt"
        ckpt = None
        if resume:
            if not last.is_file():
                raise UserError("nothing to resume: no last.pt in the run folder", path=self.out,
                                fix="start the run without --resume, or pass the --out of an earlier run")
            ckpt = load_checkpoint(last, kind=DEPTH_KIND)
            if "trainer" not in ckpt or "optimizer" not in ckpt:
                raise UserError("checkpoint has no optimizer/trainer state (a weights-only export)", path=last,
                                fix="resume from the run's last.pt")
            if ckpt["training"].get("stage") != self.stage:
                raise UserError(f"the run in this folder is a {ckpt['training'].get('stage')!r} run, not {self.stage!r}",
                                path=last, fix=f"resume it with vo-train {ckpt['training'].get('stage')}")
            check_compatible(ckpt, arch=cfg.model, image_size=cfg.image_size, data=cfg.data_identity(), path=last)
        elif last.exists():
            raise UserError("the run folder already holds a run (last.pt)", path=self.out,
                            fix="pass --resume to continue it, or choose a new --out")
        torch.manual_seed(cfg.seed)
        self.model = DepthNet(cfg.model)
        if ckpt is not None:
            load_weights(self.model, ckpt["model"], path=last)
        elif self.init is not None:
            src = load_checkpoint(self.init, kind=DEPTH_KIND)
            # the input stretch holds no weights: --init may switch it
            same = dataclasses.replace(cfg.model, input_stretch=DepthArch.from_dict(src["arch"]).input_stretch)
            check_compatible(src, arch=same, path=self.init)
            load_weights(self.model, src["model"], path=self.init)
        if self.joint and (cfg.image_size[0] % 64 or cfg.image_size[1] % 64):
            raise UserError(f"the joint stage trains the flow network, whose input must be a multiple of 64; "
                            f"image_size is {list(cfg.image_size)}", path=cfg.source or None,
                            fix="set image_size to multiples of 64, e.g. [448, 128]")
        if self.joint or cfg.flow.backend == "pwc":
            self.flow_net = self._flow_source(ckpt)
            self.flow_net.to(self.device).train(self.joint)
            for p in self.flow_net.parameters():
                p.requires_grad_(self.joint)
        self.model.to(self.device)
        params = list(self.model.parameters()) + (list(self.flow_net.parameters()) if self.joint else [])
        self.optim = torch.optim.Adam(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        if ckpt is not None:
            self.optim.load_state_dict(ckpt["optimizer"])
            self.load_trainer_state(ckpt)
            self.depth_stats = list(ckpt["trainer"].get("depth_stats", [0.0, 0]))
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            self.log = self.open_log()
        if self.is_main:
            (self.out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    # ------------------------------------------------------------------ batches
    def _ss_start(self) -> int | None:
        return 0 if self.joint else self.cfg.selfsup.start_step

    def batches(self, total: int):
        """Per step ``(synthetic supervised batch or None, folder batch or None)``."""
        cfg = self.cfg
        B = cfg.optim.batch_size
        ss_start = self._ss_start()
        sw = cfg.selfsup.supervised_weight
        need_sup = ss_start is None or self.step < ss_start or sw > 0
        sup_end = total if ss_start is None or sw > 0 else min(total, ss_start)
        part = dict(rank=self.rank, world=self.world)  # this process's samples of each step
        synth = SynthDepthDataset(cfg.data, *cfg.image_size, cache_dir=cfg.runtime.cache_dir)
        sup_it = loader(synth, self.step, max(sup_end, self.step), B,
                        cfg.runtime.workers, **part) if need_sup else None
        ss_it = None
        if ss_start is not None and total > ss_start:
            dis = cfg.flow.dis_preset if (cfg.flow.backend == "dis" and not self.joint) else None
            ds = DepthFolderPairs(list(cfg.selfsup.folders), *cfg.image_size, seed=cfg.data.seed,
                                  max_gap=cfg.selfsup.max_gap, dis_preset=dis)
            ss_it = loader(ds, max(self.step, ss_start) - ss_start, total - ss_start, B, cfg.runtime.workers, **part)

        def per_step(step: int):
            while True:
                in_ss = ss_start is not None and step >= ss_start
                sup = next(sup_it) if (not in_ss or sw > 0) else None
                yield sup, (next(ss_it) if in_ss else None), step
                step += 1

        return per_step(self.step)

    # ------------------------------------------------------------------ losses
    def supervised_terms(self, batch: dict) -> tuple[torch.Tensor, dict]:
        out = self.model(batch["img1"])
        target = depth_target_for_network(batch["depth1"], batch["fx_ratio"], self.cfg.model)
        loss = supervised_depth_loss(out["depth"].float(), target)
        valid = batch["depth1"] > 0
        self.depth_stats[0] += float(batch["depth1"][valid].sum())
        self.depth_stats[1] += int(valid.sum())
        return loss, {"sup": float(loss.detach())}

    def _flows(self, a: torch.Tensor, b: torch.Tensor, batch: dict):
        """Forward/backward flows ``[B,2,H,W]`` and, in the joint stage, the flow loss L_f."""
        if "flow_fwd" in batch:
            return batch["flow_fwd"], batch["flow_bwd"], None
        n = a.shape[0]
        if not self.joint:  # frozen: any working size (padded to the network's multiple of 64, then cropped)
            from ..models.pwc.backend import pad_to_multiple

            with torch.no_grad():
                x, (h, w) = pad_to_multiple(torch.cat([a, b]))
                flow = self.flow_net(x, torch.cat([x[n:], x[:n]]))["flow"][:, :, :h, :w]
            return flow[:n], flow[n:], None
        out = self.flow_net(torch.cat([a, b]), torch.cat([b, a]))
        ff, fb = out["flow"][:n], out["flow"][n:]
        fwd = [f[:n] for f in out["flows"]]
        bwd = [f[n:] for f in out["flows"]]
        r = selfsup_loss(a, b, fwd, bwd, n_scales=3)
        return ff, fb, r["loss"]

    def selfsup_terms(self, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        cfg, lc = self.cfg, self.cfg.loss
        a, b, K = batch["img1"], batch["img2"], batch["K"].to(torch.float64)
        n = a.shape[0]
        ff, fb, l_flow = self._flows(a, b, batch)
        first = (step * self.world + self.rank) * n  # the global index of the first sample (loop.loader)
        seeds = np.arange(first, first + n, dtype=np.int64) + 1000003 * cfg.seed
        tv = two_view_tensors(ff.detach().float(), fb.detach().float(), K, seeds, two_view_params(lc.matches))
        tri = triangulate_matches(tv.p1, tv.p2, K, tv.R, tv.t, tv.drawn, lc.cos_threshold)
        tri["valid"] = tri["valid"] & tv.ok[:, None]
        out = self.model(torch.cat([a, b]))
        # The losses run in fp32 even under mixed precision: pixel coordinates times depth can
        # overflow fp16 (65504); the first GPU run, all in fp16, stopped on a NaN at step 220.
        with torch.autocast(a.device.type, enabled=False):
            return self._selfsup_losses(a.float(), b.float(), K, tv, tri, out["depth"].float(),
                                        out["disp"][0].float(), ff.float(), l_flow)

    def _selfsup_losses(self, a, b, K, tv, tri, depth, disp, ff, l_flow) -> tuple[torch.Tensor, dict]:
        """L_d, L_p, L_s (and L_ph, and the joint stage's flow terms) of :meth:`selfsup_terms`, in fp32."""
        lc = self.cfg.loss
        n = a.shape[0]
        depth1, depth2 = depth[:n], depth[n:]
        ld = triangulation_loss(depth1, depth2, tv.p1, tv.p2, tri, lc.min_points)
        used = ld["used"].to(depth1.dtype).view(n, 1, 1, 1)
        a1 = depth1 * ld["s1"].to(depth1.dtype).view(n, 1, 1, 1)
        a2 = depth2 * ld["s2"].to(depth1.dtype).view(n, 1, 1, 1)
        R, t = tv.R.to(depth1.dtype), tv.t.to(depth1.dtype)
        Kf = K.to(depth1.dtype)
        coords2, z2 = reproject_depth_t(a1, Kf, R, t)
        mask = tv.occ * tv.rigid * used
        if lc.masks:
            mm = multiple_masks(a1.detach(), a2.detach(), coords2.detach(), Kf, R, t)
            for name in lc.masks:
                mask = mask * mm[name]
        lp = reprojection_loss(a1, a2, Kf, R, t, mask, coords2, z2)
        ls = disparity_smoothness(disp, torch.cat([a, b]))
        loss = lc.triangulation * ld["loss"] + lc.reprojection * lp + lc.smoothness * ls
        stats = {"L_d": float(ld["loss"].detach()), "L_p": float(lp.detach()), "L_s": float(ls.detach()),
                 "pairs_used": float(ld["used"].float().mean())}
        if lc.rigid_photo > 0:
            lph = rigid_photometric_loss(a, b, coords2, mask)
            loss = loss + lc.rigid_photo * lph
            stats["L_ph"] = float(lph.detach())
        if l_flow is not None:
            rigid_flow = coords2.detach() - pixel_grid_t(*a.shape[-2:], a.device, a.dtype)
            rmask = (tv.rigid * used).detach()
            fe = masked_mean((ff - rigid_flow).abs().sum(1, keepdim=True), rmask)
            ep = masked_mean(epipolar_distance_t(ff, tv.F.detach()), rmask)
            loss = loss + lc.flow_photo * l_flow + lc.flow_error * fe + lc.epipolar * ep
            stats.update(L_f=float(l_flow.detach()), flow_error=float(fe.detach()), epipolar=float(ep.detach()))
        return loss, stats

    def train_step(self, sup_batch: dict | None, ss_batch: dict | None, step: int | None = None) -> dict:
        """One optimizer step; returns the logged numbers (``skipped`` when the loss is not finite)."""
        step = self.step if step is None else step
        self.model.train()
        lr = self.cfg.optim.lr_at(step, None if self.joint else self.cfg.selfsup)
        if self.joint:
            lr = self.cfg.selfsup.lr
        for g in self.optim.param_groups:
            g["lr"] = lr
        self.optim.zero_grad(set_to_none=True)
        stats, loss = {}, None
        to = lambda d: {k: v.to(self.device, non_blocking=True) for k, v in d.items()}  # noqa: E731
        with torch.autocast(self.device.type, enabled=self.amp):
            if ss_batch is not None:
                loss, s = self.selfsup_terms(to(ss_batch), step)
                stats.update(s)
            if sup_batch is not None:
                l_sup, s = self.supervised_terms(to(sup_batch))
                stats.update(s)
                w = 1.0 if ss_batch is None else self.cfg.selfsup.supervised_weight
                loss = w * l_sup if loss is None else loss + w * l_sup
        if not self.backward_and_step(loss):
            return {**stats, "loss": float(loss.detach()), "skipped": 1.0}
        stats["loss"] = float(loss.detach())
        return stats

    # ------------------------------------------------------------------ validation
    def heldout(self):
        if self._heldout is None:
            self._heldout = heldout_depth_set(self.cfg.val.pairs, *self.cfg.image_size)
        return self._heldout

    @torch.no_grad()
    def validate(self) -> dict:
        """Held-out synthetic AbsRel, median-scaled and metric (depth capped at 80 m)."""
        from ..eval.depth import DRIVING_CAP, depth_metrics
        from ..models.depth.predictor import DepthPredictor

        if self.cfg.val.pairs == 0:
            return {}
        pred = DepthPredictor(self.model, self.cfg.image_size, str(self.device))
        rows_med, rows_met = [], []
        for i in range(0, len(self.heldout()), 8):
            chunk = self.heldout()[i:i + 8]
            depths = pred.predict([s["img1"] for s in chunk], np.array([s["fx_ratio"] for s in chunk]))
            for d, s in zip(depths, chunk):
                rows_med.append(depth_metrics(d, s["depth1"], DRIVING_CAP, median_scale=True)["abs_rel"])
                rows_met.append(depth_metrics(d, s["depth1"], DRIVING_CAP, median_scale=False)["abs_rel"])
        self.model.train()
        return {"val_absrel": float(np.nanmean(rows_med)), "val_absrel_metric": float(np.nanmean(rows_met))}

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_dict(self, full: bool = True) -> dict:
        cfg = self.cfg
        ck = {"arch": cfg.model.to_dict(), "image_size": list(cfg.image_size),
              "training": {"data": cfg.data_identity(), "steps": self.step,
                           "samples": self.step * cfg.optim.batch_size * self.world,
                           "config": cfg.to_dict(), "seconds": round(self.elapsed, 1), "device": str(self.device),
                           "torch": str(torch.__version__), "stage": self.stage,
                           "init": None if self.init is None else str(self.init),
                           "mean_depth": self.depth_stats[0] / self.depth_stats[1] if self.depth_stats[1] else None},
              "metrics": {**self.metrics, "step": self.step},
              "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}
        if full:
            ck["optimizer"] = self.optim.state_dict()
            ck["trainer"] = {**self.trainer_state(), "depth_stats": list(self.depth_stats)}
            if self.joint:
                ck["flow"] = {"arch": self.flow_net_arch(), "model": self._flow_state()}
        return ck

    def flow_net_arch(self) -> dict:
        return self.flow_net.arch.to_dict() if hasattr(self.flow_net, "arch") else {}

    def _flow_state(self) -> dict:
        return {k: v.detach().cpu() for k, v in self.flow_net.state_dict().items()}

    def save(self) -> None:
        half, mb = self.cfg.checkpoint.half, self.cfg.checkpoint.max_bytes
        save_checkpoint(self.out / "last.pt", self.checkpoint_dict(full=True), kind=DEPTH_KIND, max_bytes=mb)
        save_checkpoint(self.out / "model.pt", self.checkpoint_dict(full=False), kind=DEPTH_KIND, half=half,
                        max_bytes=mb)
        if self.joint:
            ck = {"arch": self.flow_net_arch(), "image_size": list(self.cfg.image_size),
                  "training": {"stage": "joint", "steps": self.step, "config": self.cfg.to_dict()},
                  "metrics": {"step": self.step}, "model": self._flow_state()}
            save_checkpoint(self.out / "flow.pt", ck, kind=KIND, half=half, max_bytes=mb)

    def save_best(self) -> None:
        save_checkpoint(self.out / "best.pt", self.checkpoint_dict(full=False), kind=DEPTH_KIND,
                        half=self.cfg.checkpoint.half, max_bytes=self.cfg.checkpoint.max_bytes)


def train_depth(cfg: DepthTrainConfig, out_dir, *, device: str = "cpu", resume: bool = False, progress: bool = True,
                max_steps: int | None = None, init: "str | None" = None, joint: bool = False,
                flow_init: "str | None" = None) -> dict:
    """Library entry point of ``vo-train depth`` / ``vo-train joint``."""
    tr = DepthTrainer(cfg, out_dir, device=device, resume=resume, progress=progress, init=init, joint=joint,
                      flow_init=flow_init)
    return tr.run(max_steps)
