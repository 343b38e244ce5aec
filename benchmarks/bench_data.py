"""Training-data throughput: every sample rendered afresh vs a render pool read from its cache.

    python benchmarks/bench_data.py [--samples 24] [--size 832x256]

One process, one thread (a data-loader worker's view). For the flow stream (the 832x256
recipes' mix: 70 % street renders) and the depth stream (driving + handheld), prints a
Markdown table: samples per second rendered afresh (``data.pool: 0``), with a pool whose cache
is cold (render, quantize, store), and warm (read, augment), plus the bytes stored per entry.
The scenes are built before the timing (a training process builds each once and keeps it).
A data loader with N workers scales each rate by about N; a GPU step needs ``batch`` samples.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path


def rate(make, indices) -> float:
    t = time.perf_counter()
    for i in indices:
        make(i)
    return len(indices) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=24, help="samples timed per row")
    ap.add_argument("--size", default="832x256", help="WxH")
    args = ap.parse_args()
    import torch

    from vo_app.synth.samples.depth_synth import SynthDepthSpec, make_depth_sample
    from vo_app.synth.samples.synthetic import SynthSpec, make_sample

    torch.set_num_threads(1)
    w, h = (int(v) for v in args.size.lower().split("x"))
    n = args.samples
    streams = {
        "flow (street 0.7)": (SynthSpec(street_fraction=0.7, layer_shift_scale=2.0),
                              lambda spec, i, c: make_sample(spec, i, w, h, c)),
        "depth (driving + handheld)": (SynthDepthSpec(), lambda spec, i, c: make_depth_sample(spec, i, w, h, cache_dir=c)),
    }
    print(f"samples per second, one process, one thread, {w}x{h}, {n} samples per cell\n")
    print("| stream | afresh (pool 0) | pool, cold cache | pool, warm cache | warm / afresh | stored per entry |")
    print("|---|---|---|---|---|---|")
    for name, (spec, make) in streams.items():
        pooled = dataclasses.replace(spec, pool=n)
        # untimed first passes build the scenes these samples use (a per-process cache that a long
        # run fills once), so the rows time the rendering, not the scene construction
        for i in range(1000, 1000 + n):
            make(spec, i, None)
        for i in range(n):
            make(pooled, i, None)
        fresh = rate(lambda i: make(spec, i, None), range(1000, 1000 + n))
        with tempfile.TemporaryDirectory() as d:
            cold = rate(lambda i: make(pooled, i, d), range(n))
            warm = rate(lambda i: make(pooled, i, d), range(n, 2 * n))  # the second epoch: every entry stored
            size = sum(f.stat().st_size for f in Path(d).glob("*/*.npz")) / n
        print(f"| {name} | {fresh:.2f} | {cold:.2f} | {warm:.2f} | {warm / fresh:.1f}x | {size / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
