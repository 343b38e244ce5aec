"""Data-parallel training under ``torchrun``: the process group and the few collectives the loop needs.

``torchrun --nproc_per_node N -m vo_app.cli.train ...`` starts ``N`` copies of the training
process with ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` (and the rendezvous address) in their
environment.  :func:`setup` joins them into one process group (gloo on CPU, nccl on CUDA with one
GPU per process, ``cuda:LOCAL_RANK``); without ``WORLD_SIZE > 1`` nothing happens and the
helpers below are never called (``world == 1``), so a single-process run is unchanged.

The semantics are those of ``DistributedDataParallel``: every rank holds the same weights, runs
its own slice of each step's samples (``loop.loader``), and the gradients are averaged over the
ranks before the (identical) optimizer step; BatchNorm statistics are taken from rank 0.
All collectives are called by every rank, on tensors of the same shapes, in the same order.
"""
from __future__ import annotations

import os

import torch


def env_world() -> int:
    """``WORLD_SIZE`` set by ``torchrun`` (1 when not launched by it)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def setup(device: torch.device) -> tuple[int, int, torch.device, bool]:
    """Join the process group when launched by ``torchrun``.

    Returns ``(rank, world, device, created)``: ``device`` becomes ``cuda:LOCAL_RANK`` for a CUDA
    run; ``created`` tells whether this call created the group (then :func:`teardown` ends it).
    """
    if env_world() <= 1:
        return 0, 1, device, False
    import torch.distributed as dist

    if not dist.is_available():
        from ..errors import UserError

        raise UserError("WORLD_SIZE > 1 (torchrun) but this torch build has no torch.distributed",
                        fix="run a single process, or install a torch build with distributed support")
    if device.type == "cuda" and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" and torch.cuda.is_available() else "gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), device, created


def teardown(created: bool, barrier: bool) -> None:
    """End the process group made by :func:`setup` (``barrier``: wait for every rank first)."""
    import torch.distributed as dist

    if not (created and dist.is_available() and dist.is_initialized()):
        return
    if barrier:
        dist.barrier()
    dist.destroy_process_group()


def _coalesced(tensors: list[torch.Tensor], op) -> None:
    """Run the in-place collective ``op(flat)`` on ``tensors`` packed into one flat buffer per dtype
    and device (one call per group instead of one per tensor), and copy the result back."""
    groups: dict = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for key in sorted(groups, key=str):  # the same order on every rank
        ts = groups[key]
        flat = torch.cat([t.detach().reshape(-1) for t in ts])
        op(flat)
        i = 0
        for t in ts:
            n = t.numel()
            t.detach().copy_(flat[i:i + n].view_as(t))
            i += n


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (an all-reduce MAX of 0/1)."""
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def any_rank_flags(flags: list[bool], device: torch.device) -> list[bool]:
    """Element-wise :func:`any_rank` of several flags in one collective."""
    import torch.distributed as dist

    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in t.tolist()]


def average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    """Replace every ``p.grad`` by its mean over the ranks (sum / ``world``).

    A ``None`` gradient counts as zeros, so every rank reduces the same tensors; afterwards a
    parameter has a gradient on every rank when it had one on any rank, and stays ``None`` when
    it had none anywhere (as in a single process: the optimizer then leaves it alone).
    """
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]
    if not params:
        return
    dev = params[0].device
    has = torch.tensor([0.0 if p.grad is None else 1.0 for p in params], device=dev)
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]

    def reduce(flat):
        dist.all_reduce(flat)
        flat /= world

    _coalesced(grads + [has], reduce)
    for p, g, h in zip(params, grads, has.tolist()):
        if p.grad is None and h > 0:
            p.grad = g


def broadcast_from_rank0(tensors: list[torch.Tensor]) -> None:
    """Overwrite ``tensors`` (parameters, BatchNorm buffers) on every rank with rank 0's values."""
    import torch.distributed as dist

    if tensors:
        _coalesced(tensors, lambda flat: dist.broadcast(flat, src=0))


def mean_over_ranks(values: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """The mean over the ranks of each number of ``values`` (every rank passes the same keys), in
    the order of ``values``."""
    import torch.distributed as dist

    keys = sorted(values)  # the same order on every rank, whatever the insertion order
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    mean = {k: v / world for k, v in zip(keys, t.tolist())}
    return {k: mean[k] for k in values}
