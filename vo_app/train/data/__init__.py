"""Training data: unlabelled folder pairs (``folders.py``, ``depth_folders.py``); the synthetic
streams with exact ground truth live in :mod:`vo_app.synth.samples` (re-exported here)."""
from ...synth.samples.synthetic import HELDOUT, SynthFlowDataset, SynthSpec, heldout_set, make_sample, to_tensors
from .folders import FolderPairs

__all__ = ["FolderPairs", "HELDOUT", "SynthFlowDataset", "SynthSpec", "heldout_set", "make_sample", "to_tensors"]
