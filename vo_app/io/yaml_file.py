"""Reading YAML option files: one-line user errors that name the file."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import UserError


def read_yaml_mapping(path: "str | Path", example: str) -> dict:
    """The top-level mapping of the YAML file ``path`` (empty file: ``{}``).

    Syntax errors and non-mapping documents raise :class:`UserError` naming the file and
    pointing at ``example`` (a preset to copy from).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"invalid YAML ({str(e).splitlines()[0]})", path=path, fix="fix the syntax") from None
    if not isinstance(data, dict):
        raise UserError("expected a mapping of option: value", path=path, fix=f"see {example}")
    return data


def value_like(value, default):
    """``value`` (from a YAML file or the command line) converted to the type of ``default``: a bool
    stays a bool, an int must be a whole number (not a bool), a float takes any number but a bool, a
    tuple any sequence but a string; other defaults take the value as it is.  ValueError otherwise
    (the callers word the one-line error: the run's options, ``pipeline/config.py``, and the training
    config, ``train/config.py``)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(value)
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(value)
        return tuple(value)
    return value
