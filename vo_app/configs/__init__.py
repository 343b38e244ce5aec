"""The run presets of ``vo-run --config NAME``: ``<NAME>.yaml`` in this folder, shipped as package data.

They are found through :mod:`importlib.resources`, so an installed wheel has them as well as a
source checkout.  Training configurations are not here: they stay in ``configs/train_*.yaml``
at the repository root and are always passed by path (``vo-train ... --config FILE``).
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The folder of the preset files (a real folder: ``vo_app`` holds a compiled extension, so it is
#: never imported from a zip archive).
PRESET_DIR = Path(str(files(__name__)))

