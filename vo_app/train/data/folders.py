"""Unlabelled frame pairs from the user's image folders, for self-supervised fine-tuning."""
from __future__ import annotations

import numpy as np
import torch

from ...errors import UserError


class FolderPairs(torch.utils.data.Dataset):
    """Pairs ``(t, t + gap)`` of consecutive frames from sequences opened with :func:`vo_app.io.open_sequence`.

    ``ds[i]`` (a pure function of ``(seed, i)``) -> ``{"img1", "img2"}`` ``[3,H,W]`` float32 in
    [0,1] at the working size ``(width, height)`` (gray frames are replicated to 3 channels),
    ``K [3,3]`` float32 (the working-size intrinsics, mirrored with the images) and ``fx_ratio``.
    A random left-right mirror and frame order reversal are the only augmentation (the
    photometric loss needs the true appearance of both frames).
    """

    def __init__(self, folders: list[str], width: int, height: int, seed: int = 0, max_gap: int = 1):
        from ...io import open_sequence

        if not folders:
            raise UserError("self-supervised fine-tuning needs image folders", fix="pass --data FOLDER (repeatable)")
        self.seqs = [open_sequence(f, size=(int(width), int(height)), color=True) for f in folders]
        self.seed, self.max_gap = int(seed), int(max_gap)
        self.counts = np.array([max(0, len(s) - 1) for s in self.seqs])
        if self.counts.sum() == 0:
            raise UserError("the --data folders hold no frame pairs", path=folders[0], fix="pass sequences of 2+ frames")

    def __len__(self) -> int:
        return 2 ** 40

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 7, int(i)])
        k = int(rng.choice(len(self.seqs), p=self.counts / self.counts.sum()))
        seq = self.seqs[k]
        gap = int(rng.integers(1, min(self.max_gap, len(seq) - 1) + 1))
        t = int(rng.integers(0, len(seq) - gap))
        a, b = seq.load(t).image, seq.load(t + gap).image
        if a is None or b is None:
            a = b = seq.load(t).image if a is not None else seq.load(t + gap).image
        if rng.random() < 0.5:
            a, b = b, a
        imgs = []
        for im in (a, b):
            im = np.asarray(im, np.float32)
            im = np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im
            imgs.append(im)
        K = np.array(seq.intrinsics.K, np.float32)
        if rng.random() < 0.5:
            imgs = [im[:, ::-1] for im in imgs]
            K[0, 2] = (imgs[0].shape[1] - 1) - K[0, 2]
        out = {f"img{j + 1}": torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))) for j, im in enumerate(imgs)}
        out["K"] = torch.from_numpy(K)
        out["fx_ratio"] = torch.tensor(K[0, 0] / imgs[0].shape[1], dtype=torch.float32)
        return out
