"""vo-batch --ray on a local Ray (``ray.init(num_cpus=2)``): the same files as a serial batch.

Two tiny synthetic sequences (as many as the local Ray's CPUs) run once serially (one local worker)
and once as Ray tasks; the trajectory files must be byte-identical and report.json equal except its
timing fields.  Skipped when Ray is not installed (``pip install 'vo_app[cluster]'``).
"""
from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

FRAMES, SIZE, N_SEQS = 8, (192, 64), 2


def _untimed(x):
    """``x`` without timing fields (keys ending in ``_s``: seconds, ``frames_per_s``, ``timings_s``)."""
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if not k.endswith("_s")}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_batch_equals_serial(tmp_path, local_ray):
    from vo_app.cli.batching import make_jobs, run_batch
    from vo_app.synth import write_sequence

    seqs = [str(write_sequence(tmp_path / "data" / f"seq{i}", layout="kitti", n_frames=FRAMES, width=SIZE[0],
                               height=SIZE[1], motion="forward", seed=i, write_flow=False)) for i in range(N_SEQS)]
    args = ("--size", "native")
    serial = run_batch(make_jobs(seqs, tmp_path / "serial", args, threads=1), tmp_path / "serial", workers=1,
                       progress=False)
    viaray = run_batch(make_jobs(seqs, tmp_path / "ray", args, threads=1), tmp_path / "ray",
                       ray_address="local", progress=False)
    assert all(r["status"] == "complete" for r in serial["results"].values()), serial["results"]
    assert all(r["status"] == "complete" for r in viaray["results"].values()), viaray["results"]
    assert {r["pid"] for r in viaray["results"].values()}.isdisjoint({r["pid"] for r in serial["results"].values()})
    for i in range(N_SEQS):
        a, b = tmp_path / "serial" / f"seq{i}", tmp_path / "ray" / f"seq{i}"
        for name in ("trajectory_kitti.txt", "trajectory_tum.txt", "groundtruth_kitti.txt"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
        assert ra["status"] == "complete" and ra["totals"]["wall_time_s"] > 0 and rb["totals"]["wall_time_s"] > 0
        assert _untimed(ra) == _untimed(rb)
    assert serial["table"]["rows"] == viaray["table"]["rows"]
    assert all(r["status"] == "ok" for r in viaray["table"]["rows"])
