"""PWC-Net-style learned optical flow: architecture, network, inference backend."""
from .arch import N_LEVELS, SMALL, PWCArch
from .backend import PWCFlow, pad_to_multiple, to_tensor
from .cost_volume import cost_volume
from .net import DIVISOR, PWCNet

__all__ = ["DIVISOR", "N_LEVELS", "PWCArch", "PWCFlow", "PWCNet", "SMALL", "cost_volume", "pad_to_multiple",
           "to_tensor"]
