"""Depth network inference time per frame at 832x256: the shipped CPU network and the full ResNet-18.

    python benchmarks/bench_depth.py [--weights weights/depth_small_cpu.pt] [--repeats 5]

Prints a Markdown table: milliseconds per frame of one forward pass (the runtime's
``DepthPredictor.predict_tensor`` on a batch already in memory), on the CPU (torch's default
thread count) and, when a GPU is visible, on CUDA in fp32 and under autocast (fp16).  The
weights do not change the time; their architecture does.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_flow import _time  # noqa: E402

W, H = 832, 256  # KITTI's working size, as in bench_flow.py


def per_frame_ms(model, device: str, batch: int, repeats: int, amp: bool = False) -> float:
    from vo_app.models.depth.predictor import DepthPredictor

    pred = DepthPredictor(model, (W, H), device)
    x = torch.rand(batch, 3, H, W, generator=torch.Generator().manual_seed(0)).to(device)
    ctx = torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()

    def run():
        with ctx:
            pred.predict_tensor(x, 0.58)
        if device == "cuda":
            torch.cuda.synchronize()

    return 1e3 * _time(run, repeats) / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="weights/depth_small_cpu.pt", help="a depth checkpoint (its architecture is timed)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from vo_app.models.checkpoint import load_depth_model
    from vo_app.models.depth.arch import DepthArch
    from vo_app.models.depth.net import DepthNet

    nets = {args.weights.split("/")[-1]: load_depth_model(args.weights)[0], "ResNet-18 full widths (DepthArch defaults)": DepthNet(DepthArch())}
    cuda = torch.cuda.is_available()
    dev = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
    print(f"depth per frame, {W}x{H}, milliseconds; CPU threads: {torch.get_num_threads()}; GPU: {dev}\n")
    print("| network | CPU batch 1 | CPU batch 8 | GPU fp32 batch 1 | GPU fp32 batch 8 | GPU fp16 batch 1 | GPU fp16 batch 8 |")
    print("|---|---|---|---|---|---|---|")
    for name, net in nets.items():
        params = sum(p.numel() for p in net.parameters()) / 1e6
        cells = [f"{per_frame_ms(net, 'cpu', b, args.repeats):.1f}" for b in (1, 8)]
        for amp in (False, True):
            for b in (1, 8):
                cells.append(f"{per_frame_ms(net, 'cuda', b, args.repeats, amp):.2f}" if cuda else "n/a")
        print(f"| {name}, {params:.2f} M params | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
