"""The depth network of TrianFlow: ResNet encoder, DispNet decoder, bounded sigmoid depth.

Public API::

    DepthArch, RESNET18, SMALL            architecture hyper-parameters (arch.py)
    DepthNet(arch)(img) -> {"disp", "depth"}   the network (net.py)
    depth_for_camera(depth, fx_ratio, arch)    network output -> metric depth of a camera
    DepthPredictor.from_checkpoint(path).predict(images, fx_ratio)   whole frames, any size
"""
from .arch import REF_FOCAL_RATIO, RESNET18, SMALL, DepthArch
from .net import DepthNet, depth_for_camera, depth_target_for_network
from .predictor import DepthPredictor

__all__ = ["REF_FOCAL_RATIO", "RESNET18", "SMALL", "DepthArch", "DepthNet", "DepthPredictor", "depth_for_camera",
           "depth_target_for_network"]
