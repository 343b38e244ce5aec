"""Frame pairs of the user's videos for the self-supervised depth stages (``vo-train depth/joint --data``).

Adds to :class:`.folders.FolderPairs` the checks a depth run needs before it starts (at least
3 frames, one image size, intrinsics), and optionally the DIS flows of the pair (forward and
backward, computed in the data-loader worker): the frozen flow of stage 2 when
``flow.backend: dis``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from .folders import FolderPairs


def check_depth_folder(folder: "str | Path") -> None:
    """One-line UserError (exit 2 in the CLI) for a folder a depth run cannot use."""
    from ...io import open_sequence
    from ...io.images import ImageReadError, image_size

    seq = open_sequence(folder, color=True)  # missing intrinsics, no images...: the reader's own errors
    if len(seq) < 3:
        raise UserError(f"only {len(seq)} frames; the depth stages need at least 3", path=folder,
                        fix="pass a video folder with 3 or more frames")
    first = None
    for p in seq.image_paths:
        try:
            size = image_size(p)
        except ImageReadError:
            continue
        if first is None:
            first = (size, p)
        elif size != first[0]:
            raise UserError(f"image is {size[0]}x{size[1]} but {Path(first[1]).name} is {first[0][0]}x{first[0][1]}",
                            path=p, fix="all frames of a --data folder must have one size (one camera)")


class DepthFolderPairs(FolderPairs):
    """``ds[i]``: FolderPairs' sample plus ``flow_fwd, flow_bwd [2,H,W]`` when ``dis_preset`` is set."""

    def __init__(self, folders: list[str], width: int, height: int, seed: int = 0, max_gap: int = 1,
                 dis_preset: str | None = None):
        for f in folders:
            check_depth_folder(f)
        super().__init__(folders, width, height, seed=seed, max_gap=max_gap)
        self.dis_preset = dis_preset
        self._dis = None

    def __getitem__(self, i: int) -> dict:
        s = super().__getitem__(i)
        if self.dis_preset:
            if self._dis is None:
                from ...models.dis import DISFlow

                self._dis = DISFlow(self.dis_preset)
            a = s["img1"].numpy().transpose(1, 2, 0)
            b = s["img2"].numpy().transpose(1, 2, 0)
            ff, fb = self._dis(np.ascontiguousarray(a), np.ascontiguousarray(b))
            s["flow_fwd"] = torch.from_numpy(np.ascontiguousarray(ff.transpose(2, 0, 1)))
            s["flow_bwd"] = torch.from_numpy(np.ascontiguousarray(fb.transpose(2, 0, 1)))
        return s
