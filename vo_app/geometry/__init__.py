"""Two-view geometry: the one public API, batched torch in kornia's style.

Every function takes batch-first tensors (shapes documented and checked on entry) and dispatches
on their device: CPU tensors to the threaded C++ kernels of ``vo_app._core`` (through NumPy
views, no torch CPU op), CUDA tensors to the CUDA kernels or, where there is none, to torch code
on the GPU.  ``backend="reference"`` (and ``auto`` when the extension is not built) runs the
NumPy reference code of ``_reference/`` instead, the oracle the tests compare the kernels with.

* step 3, masks: :func:`match_score`;
* step 4, sampling: :func:`sample_matches`;
* step 5, RANSAC and the planar check: :func:`ransac_fundamental`;
* step 6, pose: :func:`pose_from_fundamental`, :func:`refine_pose`;
* step 7, M_r and triangulation: :func:`epipolar_score_map`, :func:`triangulate_midpoint`;
* steps 3-7 together, for ``vo-run`` and the depth training: :func:`two_view`.

NumPy helpers the run needs that have no kernel live once each in their own modules (the
rotation-only fit, F of a pose, SE(3), the flow look-up, the robust ratio, the ground plane, PnP);
the few the pipeline uses everywhere are re-exported here.
"""
from __future__ import annotations

from . import _ext
from .batched import (Matches, RansacResult, Scores, epipolar_score_map, match_score, pose_from_fundamental,
                      ransac_fundamental, refine_pose, sample_matches)
from .triangulate import Triangulated, triangulate_midpoint
from .two_view import PairResult, TwoView, TwoViewParams, two_view, two_view_tensors
# NumPy helpers without a kernel
from .flow_sample import sample_flow
from .rotation_only import fit_rotation
from .scale import robust_ratio
from .se3 import interpolate, inverse, make_pose, rotation_angle

__all__ = ["Matches", "RansacResult", "Scores", "Triangulated", "PairResult", "TwoView", "TwoViewParams",
           "match_score", "sample_matches", "ransac_fundamental", "pose_from_fundamental", "refine_pose",
           "epipolar_score_map", "triangulate_midpoint", "two_view", "two_view_tensors", "backend_name"]


def backend_name(backend: str = "auto") -> str:
    """What ``backend`` resolves to: ``"cpp"`` (the compiled kernels) or ``"reference"`` (NumPy).

    Raises RuntimeError for ``"cpp"`` when the extension is not built."""
    return "cpp" if _ext.use_cpp(backend) else "reference"
