"""Architecture dataclasses <-> plain dicts (YAML configs and checkpoints), shared by every network.

Each field is converted to the type of its default: tuples of ints, bools, floats, ints.
Unknown keys and wrong types are one-line :class:`~vo_app.errors.UserError` s.
"""
from __future__ import annotations

import dataclasses

from ..errors import UserError


def arch_to_dict(arch) -> dict:
    d = dataclasses.asdict(arch)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def arch_from_dict(cls, data, where: str = "architecture"):
    """Build the frozen dataclass ``cls`` from ``data``; the dataclass checks the values itself."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping of hyper-parameters, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UserError(f"{where}: unknown hyper-parameter(s) {unknown}", fix=f"valid keys: {sorted(fields)}")
    kw = {}
    for k, v in data.items():
        default = fields[k].default
        try:
            if isinstance(default, tuple):
                kw[k] = tuple(int(x) for x in v)
            elif isinstance(default, bool):
                kw[k] = bool(v)
            elif isinstance(default, float):
                kw[k] = float(v)
            else:
                kw[k] = int(v)
        except (TypeError, ValueError):
            raise UserError(f"{where}: hyper-parameter {k!r} has the wrong type ({v!r})") from None
    return cls(**kw)


def arch_diff(a, b) -> list[str]:
    """``["name: x vs y", ...]`` for every field where two architectures differ."""
    da, db = arch_to_dict(a), arch_to_dict(b)
    return [f"{k} {da[k]} vs {db[k]}" for k in da if da[k] != db[k]]
