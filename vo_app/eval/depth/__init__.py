"""Depth accuracy: the standard single-image depth metrics on synthetic, TartanAir and KITTI frames.

Metrics of one image (Eigen et al.'s set) over the valid ground-truth pixels ``0 < gt <= cap``,
with the prediction clipped to ``[MIN_DEPTH, cap]`` (after median scaling, when asked)::

    abs_rel   mean |pred - gt| / gt            sq_rel    mean (pred - gt)^2 / gt
    rmse      sqrt mean (pred - gt)^2  [m]     rmse_log  sqrt mean (log pred - log gt)^2
    a1/a2/a3  fraction with max(pred/gt, gt/pred) < 1.25, 1.25^2, 1.25^3

Each is computed metric (the prediction as is) and median-scaled (``pred *= median(gt) /
median(pred)`` per image, which removes the unknown scale of a monocular method); a dataset's
number is the mean over its images.

Datasets are lists of :class:`DepthSample` ``(name, image, gt, fx_ratio, K)``; methods are
callables ``samples -> [pred [H,W]]`` (:class:`NetworkDepth`, :class:`ConstantDepth`,
:class:`GroundPlaneDepth`).  :func:`evaluate_depth` runs every method on every dataset it
applies to; :func:`format_depth_table`, :func:`write_depth_json` and :func:`write_depth_pictures`
report the results.
"""
from .datasets import (DATA_FOLDERS, DATASETS, KITTI_CROPS, SYNTH_FRAMES, TARTANAIR_FX_RATIO, DepthDataset,
                       DepthSample, crop_window, default_shared_root, kitti_raw_dataset, standard_depth_datasets,
                       synthetic_dataset, tartanair_dataset)
from .evaluate import evaluate_depth, evaluate_method, picture_indices
from .methods import CAMERA_HEIGHT, MEAN_DEPTH_SAMPLES, ConstantDepth, GroundPlaneDepth, NetworkDepth, mean_training_depth
from .metrics import DRIVING_CAP, METRICS, MIN_DEPTH, depth_metrics, mean_depth_metrics, valid_mask
from .report import dataset_summary, format_depth_table, write_depth_json, write_depth_picture

__all__ = ["CAMERA_HEIGHT", "DATA_FOLDERS", "DATASETS", "DRIVING_CAP", "KITTI_CROPS", "MEAN_DEPTH_SAMPLES", "METRICS",
           "MIN_DEPTH", "SYNTH_FRAMES", "TARTANAIR_FX_RATIO", "ConstantDepth", "DepthDataset", "DepthSample",
           "GroundPlaneDepth", "NetworkDepth", "crop_window", "dataset_summary", "default_shared_root", "depth_metrics", "evaluate_depth",
           "evaluate_method", "format_depth_table", "kitti_raw_dataset", "mean_depth_metrics", "mean_training_depth",
           "picture_indices", "standard_depth_datasets", "synthetic_dataset", "tartanair_dataset", "valid_mask",
           "write_depth_json", "write_depth_picture"]
