"""Checkpoints over the per-file size limit: a small index file plus parts of at most ``max_bytes``.

A checkpoint whose ``torch.save`` payload is larger than the limit (16 MB by default, the
largest file vo_app ships or brings back from a GPU machine) is written as::

    run/last.pt                        the index: format_version, kind, the metadata of the
                                       checkpoint (arch, image_size, training, metrics) and
                                       ``shards`` = {"files", "sha256", "bytes"}
    run/last.pt.3f2a9c1e.part1of3      bytes [0, max_bytes) of the payload
    run/last.pt.3f2a9c1e.part2of3      ...

Readers pass the index's path (or URL) as before; :func:`read_payload` joins and checks the
parts.  Part names carry the first 8 hex digits of the payload's sha256, so a save never
overwrites the parts that the current index names: the parts are written first, the index
last (each atomically), and a crash at any point leaves the previous checkpoint readable.
Parts that no index names any more are removed after the index is written.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable

from ..errors import UserError

#: the default per-file limit (bytes): 16 MB, under the 16 MiB a GPU machine returns per file.
MAX_FILE_BYTES = 16_000_000
#: the entries of the checkpoint dict that the index repeats (small, for inspection).
INDEX_KEYS = ("format_version", "kind", "arch", "image_size", "training", "metrics", "storage")


def part_names(name: str, payload: bytes, max_bytes: int) -> list[str]:
    """The part file names of ``payload`` saved as ``name`` (empty: it fits in one file)."""
    if max_bytes <= 0 or len(payload) <= max_bytes:
        return []
    n = -(-len(payload) // max_bytes)
    tag = hashlib.sha256(payload).hexdigest()[:8]
    return [f"{name}.{tag}.part{i + 1}of{n}" for i in range(n)]


def write_parts(path: Path, payload: bytes, ckpt: dict, max_bytes: int) -> dict | None:
    """Write the parts of ``payload`` next to ``path``; returns the index dict (None: no parts needed)."""
    from ..io.atomic import atomic_write_bytes

    names = part_names(path.name, payload, max_bytes)
    if not names:
        return None
    digests = []
    for i, name in enumerate(names):
        chunk = payload[i * max_bytes:(i + 1) * max_bytes]
        digests.append(hashlib.sha256(chunk).hexdigest())
        atomic_write_bytes(path.parent / name, chunk)
    index = {k: ckpt[k] for k in INDEX_KEYS if k in ckpt}
    index["shards"] = {"files": names, "sha256": digests, "bytes": len(payload)}
    return index


def remove_stale_parts(path: Path, keep: "list[str] | tuple[str, ...]" = ()) -> None:
    """Delete the part files of earlier saves of ``path`` that are not in ``keep``."""
    pattern = re.compile(re.escape(path.name) + r"\.[0-9a-f]{8}\.part\d+of\d+$")
    try:
        entries = os.listdir(path.parent if str(path.parent) else ".")
    except OSError:
        return
    for entry in entries:
        if pattern.match(entry) and entry not in keep:
            try:
                os.unlink(path.parent / entry)
            except OSError:
                pass


def is_index(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("shards"), dict)


def read_payload(index: dict, where: str, open_part: Callable[[str], Path]) -> bytes:
    """The joined, checked payload of a sharded checkpoint.

    ``where``: the index's path or URL, for messages; ``open_part(name)``: the local path of a
    part (the index's folder, or a download next to the index's URL).
    """
    sh = index["shards"]
    files, digests, total = sh.get("files"), sh.get("sha256"), sh.get("bytes")
    if not (isinstance(files, list) and isinstance(digests, list) and len(files) == len(digests) and files
            and isinstance(total, int)):
        raise UserError("checkpoint index has a malformed 'shards' entry", path=where,
                        fix="re-save the checkpoint with vo-train")
    chunks = []
    for name, digest in zip(files, digests):
        if "/" in name or "\\" in name or name.startswith("."):
            raise UserError(f"checkpoint index names an invalid part {name!r}", path=where,
                            fix="re-save the checkpoint with vo-train")
        part = open_part(name)
        if not Path(part).is_file():
            raise UserError(f"checkpoint part {name} is missing", path=part,
                            fix=f"keep all {len(files)} part files next to {Path(str(where)).name}")
        data = Path(part).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise UserError(f"checkpoint part {name} is damaged (sha256 mismatch)", path=part,
                            fix="copy the part again from where the checkpoint was written")
        chunks.append(data)
    payload = b"".join(chunks)
    if len(payload) != total:
        raise UserError(f"checkpoint parts hold {len(payload)} bytes, the index says {total}", path=where,
                        fix="copy the parts again from where the checkpoint was written")
    return payload
