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
