"""Versioned checkpoint files of the networks (flow, depth): save, load, check, fetch from a URL.

A checkpoint is one ``torch.save`` of a plain dict (loaded with ``weights_only=True``)::

    format_version  int, FORMAT_VERSION
    kind            "vo_app.flow.pwc" (flow) or "vo_app.depth.resnet_dispnet" (depth)
    arch            PWCArch / DepthArch .to_dict(): the architecture hyper-parameters
    storage         (optional) "fp16": floating-point weights stored in half precision, read back
                    as float32 (weights-only exports stay small; training state is never halved)
    image_size      [W, H]: the working size the network was trained at
    training        {"data": ..., "steps": ..., "config": ..., "seconds": ..., "device": ...}
    metrics         {"val_epe": ..., ...} at save time
    model           state_dict of PWCNet
    optimizer       (optional) Adam state, for --resume
    trainer         (optional) step, RNG states, data-generator state, AMP scaler

A checkpoint larger than the per-file limit (16 MB by default) is written as a small index
file at the path plus part files next to it (``vo_app/models/shards.py``); readers pass the
index's path or URL and never see the difference.

Every problem with a file is a one-line :class:`~vo_app.errors.UserError`.
"""
from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch

from ..errors import UserError
from ..io.atomic import atomic_write_bytes
from . import shards
from .shards import MAX_FILE_BYTES

FORMAT_VERSION = 1
KIND = "vo_app.flow.pwc"
DEPTH_KIND = "vo_app.depth.resnet_dispnet"
#: what each kind holds, for messages.
KIND_NAMES = {KIND: "a PWC flow network", DEPTH_KIND: "a depth network"}
#: the ``vo-train`` stage that writes each kind, for messages.
_WRITER = {KIND: "vo-train flow", DEPTH_KIND: "vo-train depth"}


def arch_class(kind: str):
    """The architecture dataclass of a checkpoint kind."""
    if kind == DEPTH_KIND:
        from .depth.arch import DepthArch

        return DepthArch
    from .pwc.arch import PWCArch

    return PWCArch
REQUIRED = ("format_version", "kind", "arch", "image_size", "training", "metrics", "model")
#: seconds to wait for a weights URL before giving up.
DOWNLOAD_TIMEOUT = 30.0


def cache_dir() -> Path:
    """``$VO_APP_CACHE`` or ``~/.cache/vo_app``."""
    return Path(os.environ.get("VO_APP_CACHE", Path.home() / ".cache" / "vo_app"))


def is_url(text: str) -> bool:
    return str(text).lower().startswith(("http://", "https://"))


def fetch(url: str, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download ``url`` once into ``<cache>/weights/`` and return the local file."""
    name = Path(url.split("?", 1)[0].rstrip("/")).name or "weights.pt"
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    dest = cache_dir() / "weights" / f"{digest}-{name}"
    if dest.is_file():
        return dest
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise UserError(f"cannot download the weights from {url} ({str(reason).strip() or type(e).__name__})",
                        fix="check the network connection, or download the file yourself and pass its path") from None
    try:
        atomic_write_bytes(dest, data)
    except UserError:
        raise UserError("cannot store the downloaded weights", path=dest.parent,
                        fix="set VO_APP_CACHE to a writable folder") from None
    return dest


def save_checkpoint(path: "str | os.PathLike[str]", ckpt: dict, *, kind: str = KIND, half: bool = False,
                    max_bytes: int = MAX_FILE_BYTES) -> Path:
    """Write ``ckpt`` (see the module docstring) atomically; fills in ``format_version`` and ``kind``.

    ``half``: store the floating-point weights of ``model`` as fp16 (``storage: fp16``); only
    for weights-only exports (a resumable checkpoint keeps full precision).  ``max_bytes``:
    the per-file limit; a larger checkpoint becomes an index plus parts (0: no limit).
    """
    ckpt = {"format_version": FORMAT_VERSION, "kind": kind, **ckpt}
    if half:
        if "optimizer" in ckpt:
            raise ValueError("fp16 storage is for weights-only checkpoints")
        ckpt["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
        ckpt["storage"] = "fp16"
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise ValueError(f"checkpoint misses {missing}")
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    path = Path(path)
    index = shards.write_parts(path, buf.getvalue(), ckpt, max_bytes)
    if index is not None:
        buf = io.BytesIO()
        torch.save(index, buf)
    atomic_write_bytes(path, buf.getvalue())
    shards.remove_stale_parts(path, keep=index["shards"]["files"] if index else ())
    return path


def read_checkpoint(path: "str | os.PathLike[str]", url: "str | None" = None, *,
                    timeout: float = DOWNLOAD_TIMEOUT) -> dict:
    """The dict of a local checkpoint file, its parts joined if it is an index (no format checks).

    ``url``: where the file was downloaded from (the parts are fetched next to it).
    """
    def part(name: str) -> Path:
        return fetch(url.rsplit("/", 1)[0] + "/" + name, timeout) if url else Path(path).parent / name

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if shards.is_index(ckpt):
            payload = shards.read_payload(ckpt, url or str(path), part)
            ckpt = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - any unpickling/zip error means "not a checkpoint"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"not a readable vo_app checkpoint ({msg[:120]})", path=path,
                        fix="pass a .pt file written by vo-train") from None
    return ckpt


def load_checkpoint(source: "str | os.PathLike[str]", *, timeout: float = DOWNLOAD_TIMEOUT, kind: str = KIND) -> dict:
    """Read and check a checkpoint of ``kind`` from a path or an http(s) URL (cached); UserError on any problem."""
    src = str(source)
    path = fetch(src, timeout) if is_url(src) else Path(src)
    if not path.exists():
        raise UserError("checkpoint file not found", path=path, fix=f"pass a .pt file written by {_WRITER.get(kind, 'vo-train')}")
    if path.is_dir():
        cand = path / "model.pt"
        if not cand.is_file():
            raise UserError("is a directory without model.pt", path=path, fix="pass the checkpoint file itself")
        path = cand
    ckpt = read_checkpoint(path, src if is_url(src) else None, timeout=timeout)
    check_checkpoint(ckpt, path, kind=kind)
    return ckpt


def check_checkpoint(ckpt, path="checkpoint", kind: str = KIND) -> None:
    """Format checks: a dict, a known version and kind, all required entries, a valid architecture."""
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise UserError("not a vo_app checkpoint (no format_version)", path=path,
                        fix="pass a .pt file written by vo-train")
    ver = ckpt["format_version"]
    if not isinstance(ver, int) or ver > FORMAT_VERSION or ver < 1:
        raise UserError(f"checkpoint format version {ver!r} is not supported (this vo_app reads 1..{FORMAT_VERSION})",
                        path=path, fix="upgrade vo_app or re-export the checkpoint")
    if ckpt.get("kind") != kind:
        held = KIND_NAMES.get(ckpt.get("kind"), repr(ckpt.get("kind")))
        raise UserError(f"checkpoint holds {held}, not {KIND_NAMES.get(kind, kind)} ({kind!r})", path=path,
                        fix=f"pass a checkpoint written by {_WRITER.get(kind, 'vo-train')}")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise UserError(f"checkpoint misses {missing}", path=path, fix="re-save it with vo-train")
    arch_class(kind).from_dict(ckpt["arch"], where=f"{path}: arch")
    size = ckpt["image_size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise UserError(f"checkpoint image_size {size!r} is not [W, H]", path=path, fix="re-save it with vo-train")


def check_compatible(ckpt: dict, *, arch=None, image_size=None, data=None, path="checkpoint") -> None:
    """Resume checks: the config's architecture, working size and data must equal the checkpoint's.

    Raises a one-line UserError listing every difference.
    """
    diffs = []
    if arch is not None:
        diffs += [f"model.{d}" for d in type(arch).from_dict(ckpt["arch"]).diff(arch)]
    if image_size is not None and list(ckpt["image_size"]) != list(image_size):
        diffs.append(f"image_size {list(ckpt['image_size'])} vs {list(image_size)}")
    if data is not None:
        old = ckpt.get("training", {}).get("data", {})
        for k in sorted(set(old) | set(data)):
            a, b = old.get(k), data.get(k)
            if k.endswith("_folders") and isinstance(a, list) and isinstance(b, list):
                a, b = _same_folders(a, b)  # one folder, spelled relative or absolute, is the same folder
            if a != b:
                diffs.append(f"data.{k} {old.get(k)!r} vs {data.get(k)!r}")
    if diffs:
        raise UserError("checkpoint does not match the config (checkpoint vs config): " + "; ".join(diffs), path=path,
                        fix="resume with the config the run was started with, or start a new --out")


def _same_folders(a: list, b: list) -> tuple[list, list]:
    """``a, b`` with the folders that resolve to the same place replaced by that place."""
    def real(f):
        try:
            return str(Path(f).resolve())
        except (OSError, RuntimeError):
            return str(f)

    return [real(f) for f in a], [real(f) for f in b]


def load_flow_model(source, *, timeout: float = DOWNLOAD_TIMEOUT):
    """``(PWCNet in eval mode on the CPU, checkpoint dict)`` from a path or URL."""
    from .pwc.arch import PWCArch
    from .pwc.net import PWCNet

    ckpt = load_checkpoint(source, timeout=timeout)
    model = PWCNet(PWCArch.from_dict(ckpt["arch"]))
    load_weights(model, ckpt["model"], path=source)
    return model.eval(), ckpt


def load_weights(model: torch.nn.Module, state: dict, path="checkpoint") -> None:
    """``load_state_dict(strict)`` with a one-line explanation of any mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                         f"{tuple(own[k].shape)} for its arch)")
        raise UserError("checkpoint weights do not fit its architecture: " + ", ".join(parts), path=path,
                        fix="the file is damaged or was edited; use the checkpoint as written by vo-train")
    own_dtypes = {k: v.dtype for k, v in own.items()}
    model.load_state_dict({k: v.to(own_dtypes[k]) if v.is_floating_point() else v for k, v in state.items()})


def load_depth_model(source, *, timeout: float = DOWNLOAD_TIMEOUT):
    """``(DepthNet in eval mode on the CPU, checkpoint dict)`` from a ``vo-train depth`` file or URL."""
    from .depth.arch import DepthArch
    from .depth.net import DepthNet

    ckpt = load_checkpoint(source, timeout=timeout, kind=DEPTH_KIND)
    model = DepthNet(DepthArch.from_dict(ckpt["arch"]))
    load_weights(model, ckpt["model"], path=source)
    return model.eval(), ckpt
