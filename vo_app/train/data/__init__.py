"""Training data: synthetic flow pairs with exact ground truth, and unlabelled folder pairs."""
from .folders import FolderPairs
from .synthetic import HELDOUT, SynthFlowDataset, SynthSpec, heldout_set, make_sample, to_tensors

__all__ = ["FolderPairs", "HELDOUT", "SynthFlowDataset", "SynthSpec", "heldout_set", "make_sample", "to_tensors"]
