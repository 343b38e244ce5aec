"""Flow inference time per pair (forward + backward flow) at 832x256: PWC at batch 1 and 8, next to DIS.

    .venv/bin/python benchmarks/bench_flow.py [--weights weights/pwc_small_cpu.pt] [--repeats 5]

Prints a Markdown table: seconds per pair on the CPU (torch's default thread count) and on
CUDA when a GPU is visible ("n/a" otherwise).  A PWC "pair" is one batched pass over
(I1, I2) and (I2, I1); batch 8 runs 8 pairs (16 image pairs) per pass.  DIS has no batch
mode and no GPU path here: its two calls per pair run one after the other.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

W, H = 832, 256


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    from vo_app.synth.samples.synthetic import HELDOUT, make_sample

    out = []
    for i in range(n):
        s = make_sample(HELDOUT, seed + i, W, H)
        out.append((s["img1"].mean(-1), s["img2"].mean(-1)))  # gray, like KITTI image_0
    return out


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, cuDNN/oneDNN plans)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench_pwc(model, device: str, batch: int, pairs, repeats: int) -> float:
    from vo_app.models.pwc import PWCFlow

    be = PWCFlow(model, device)
    a = [p[0] for p in pairs[:batch]]
    b = [p[1] for p in pairs[:batch]]

    def run():
        be.batch(a, b)
        if device == "cuda":
            torch.cuda.synchronize()

    return _time(run, repeats) / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="PWC checkpoint (its architecture is timed; weights do not change the time)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from vo_app.models.dis import DISFlow
    from vo_app.models.pwc import SMALL, PWCArch, PWCNet

    nets = {}
    if args.weights:
        from vo_app.models.checkpoint import load_flow_model

        nets[f"PWC {args.weights.split('/')[-1]}"] = load_flow_model(args.weights)[0]
    else:
        nets["PWC small (configs/train_flow_cpu.yaml)"] = PWCNet(SMALL)
    nets["PWC full widths (PWC-Net's channels)"] = PWCNet(PWCArch())
    pairs = _images(8)
    cuda = torch.cuda.is_available()
    rows = []
    for name, net in nets.items():
        params = sum(p.numel() for p in net.parameters()) / 1e6
        cells = []
        for dev in ("cpu", "cuda"):
            for b in (1, 8):
                if dev == "cuda" and not cuda:
                    cells.append("n/a")
                else:
                    cells.append(f"{bench_pwc(net, dev, b, pairs, args.repeats):.3f}")
        rows.append([f"{name}, {params:.2f} M params", *cells])
    for preset in ("medium", "fine"):
        dis = DISFlow(preset)
        t = _time(lambda: [dis(*p) for p in pairs[:2]], args.repeats) / 2
        rows.append([f"DIS {preset} (OpenCV, 2 calls)", f"{t:.3f}", "n/a", "n/a", "n/a"])
    dev = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
    print(f"flow per pair (forward + backward), {W}x{H}, seconds; CPU threads: {torch.get_num_threads()}; GPU: {dev}")
    print()
    print("| backend | CPU batch 1 | CPU batch 8 | GPU batch 1 | GPU batch 8 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
