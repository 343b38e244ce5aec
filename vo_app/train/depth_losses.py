"""Depth losses of TrianFlow's stages 2 and 3, and the multiple masks of Wang et al. (ICRA 2019).

For a pair (frame 1, frame 2) with the pose ``[R|t]`` from F (unit ``t``, ``X_2 = R X_1 + t``),
matches ``p1, p2`` triangulated to depths ``d1, d2`` (mid-point, with the ray-angle mask of the
supplementary's Figure 3):

- ``L_d`` (:func:`triangulation_loss`): each frame's predicted depth, aligned to the
  triangulation (``vo_app/geometry/scale.py``: the runtime's robust-ratio inliers, then the
  closed-form least-squares scale over them), against the triangulated depths,
  ``mean (1 - D_aligned(p) / d)^2``;
- ``L_p`` (:func:`reprojection_loss`): frame 1's aligned depth moved into camera 2 against
  frame 2's aligned depth sampled there, ``|1 - z_proj / D_2(p')|``, over pixels that are
  non-occluded (M_o), rigid (M_r), inside frame 2, and pass the enabled multiple masks;
- ``L_s`` (:func:`disparity_smoothness`): first-order edge-aware smoothness of the
  mean-normalised disparity (DDVO's normalisation; supplementary Eq. 8);
- optional ``L_ph`` (:func:`rigid_photometric_loss`): frame 2 warped into frame 1 by depth and
  pose, L1 + SSIM, under the same masks (not in TrianFlow; weight 0 by default).

Multiple masks (:func:`multiple_masks`), computed from the rigid reprojection:
- edge: the pixel's reprojection stays inside frame 2 (with a margin);
- overlap: the target pixel in frame 2 receives no more than ``overlap_max`` splatted source
  pixels (several frame-1 pixels landing on one frame-2 pixel: an occlusion in frame 2);
- blank: frame-2 pixels moved back into frame 1 reach this pixel (it is not a region that
  frame 2 cannot see).

Tensors: images ``[B,3,H,W]``; depths and masks ``[B,1,H,W]``; ``K, R [B,3,3]``; ``t [B,3]``.
"""
from __future__ import annotations

import torch

from ..geometry import triangulate_midpoint
from ..geometry.reproject_t import inside_t, reproject_depth_t, sample_map_t, sample_points_t, splat_count_t
from ..geometry.scale import align_scale_t
from .losses import masked_mean, photometric_error


def triangulate_matches(p1: torch.Tensor, p2: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                        drawn: torch.Tensor | None = None, cos_threshold: float = 1e-3) -> dict:
    """Mid-point triangulation of matches ``p1, p2 [B,N,2]`` with the angle mask.

    Returns ``d1, d2 [B,N]`` (depths in cameras 1 and 2, unit-baseline units) and ``valid [B,N]``:
    drawn, rays not nearly parallel (cosine test > ``cos_threshold``) and in front of both
    cameras (whether the points lie inside the images is checked by :func:`triangulation_loss`).
    """
    dt = torch.float64
    ok = torch.isfinite(p1).all(-1) & torch.isfinite(p2).all(-1)
    if drawn is not None:
        ok &= drawn
    q1 = torch.where(ok[..., None], p1.to(dt), torch.zeros_like(p1, dtype=dt))
    q2 = torch.where(ok[..., None], p2.to(dt), torch.zeros_like(p2, dtype=dt))
    tri = triangulate_midpoint(q1, q2, K.to(dt), R.to(dt), t.to(dt), cos_threshold)
    return {"d1": tri.depth1, "d2": tri.depth2, "valid": tri.valid & ok}


def _in_image(p: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return (p[..., 0] >= 0) & (p[..., 0] <= w - 1) & (p[..., 1] >= 0) & (p[..., 1] <= h - 1)


def triangulation_loss(depth1: torch.Tensor, depth2: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                       tri: dict, min_points: int = 32) -> dict:
    """``L_d`` over both frames; also the alignment scales ``s1, s2 [B]`` (``s * depth`` is in
    triangulation units) and ``used [B]`` (pairs with at least ``min_points`` valid points).

    Pairs with too few points contribute 0 (and their scales are 1, unused).
    """
    h, w = depth1.shape[-2:]
    valid = tri["valid"] & _in_image(p1, h, w) & _in_image(p2, h, w)
    used = valid.sum(-1) >= min_points
    valid = valid & used[:, None]
    out = {"used": used}
    total = depth1.new_zeros(())
    for k, (dmap, p, d) in enumerate(((depth1, p1, tri["d1"]), (depth2, p2, tri["d2"]))):
        pred = sample_points_t(dmap, torch.nan_to_num(p.to(dmap.dtype)))
        d = d.to(dmap.dtype)
        s = align_scale_t(pred, d, valid, min_points)
        s = torch.where(used & torch.isfinite(s), s, torch.ones_like(s))
        ratio = torch.where(valid, s[:, None] * pred / torch.where(valid, d, torch.ones_like(d)), torch.ones_like(d))
        err = ((1.0 - ratio) ** 2 * valid).sum(-1) / valid.sum(-1).clamp_min(1)
        total = total + err.sum() / used.sum().clamp_min(1)
        out[f"s{k + 1}"] = s
    out["loss"] = total
    return out


@torch.no_grad()
def multiple_masks(depth1: torch.Tensor, depth2: torch.Tensor, coords2: torch.Tensor, K: torch.Tensor,
                   R: torch.Tensor, t: torch.Tensor, *, edge_margin: float = 2.0, overlap_max: float = 1.5,
                   blank_min: float = 0.5) -> dict:
    """The edge, overlap and blank masks ``[B,1,H,W]`` of frame 1 (float, no gradient).

    ``coords2``: frame-1 pixels reprojected into frame 2 (:func:`reproject_depth_t`).
    """
    h, w = depth1.shape[-2:]
    x, y = coords2[:, 0], coords2[:, 1]
    m = edge_margin
    edge = ((x >= m) & (x <= w - 1 - m) & (y >= m) & (y <= h - 1 - m)).unsqueeze(1).float()
    count2 = splat_count_t(coords2, h, w)
    overlap = (sample_map_t(count2, coords2) <= overlap_max).float()
    Rt = R.transpose(-1, -2)
    coords1, _ = reproject_depth_t(depth2, K, Rt, -(Rt @ t.unsqueeze(-1))[..., 0])
    blank = (splat_count_t(coords1, h, w) >= blank_min).float()
    return {"edge": edge, "overlap": overlap, "blank": blank}


def reprojection_loss(depth1: torch.Tensor, depth2: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
                      t: torch.Tensor, mask: torch.Tensor, coords2: torch.Tensor | None = None,
                      z2: torch.Tensor | None = None) -> torch.Tensor:
    """``L_p``: ``mean_mask |1 - z_proj / D_2(p')|``; ``depth1, depth2`` aligned (same units as ``t``).

    ``mask [B,1,H,W]``: the pixels to use (M_o * M_r * ...); pixels landing outside frame 2 or
    behind camera 2 are dropped here.
    """
    h, w = depth1.shape[-2:]
    if coords2 is None or z2 is None:
        coords2, z2 = reproject_depth_t(depth1, K, R, t)
    inter = sample_map_t(depth2, coords2)
    m = mask.detach() * inside_t(coords2, h, w).detach() * (z2 > 1e-3).detach().to(mask.dtype)
    err = (1.0 - z2 / inter.clamp_min(1e-6)).abs()
    return masked_mean(err, m)


def rigid_photometric_loss(img1: torch.Tensor, img2: torch.Tensor, coords2: torch.Tensor, mask: torch.Tensor,
                           alpha: float = 0.85) -> torch.Tensor:
    """``L_ph``: L1 + SSIM between frame 1 and frame 2 sampled at the rigid reprojection ``coords2``."""
    h, w = img1.shape[-2:]
    warped = sample_map_t(img2, coords2)
    m = mask.detach() * inside_t(coords2, h, w).detach()
    return masked_mean(photometric_error(img1, warped, alpha), m)


def disparity_smoothness(disp: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """``L_s``: ``mean |dx d_n| e^{-|dx I|} + mean |dy d_n| e^{-|dy I|}``, ``d_n = d / mean(d)``."""
    if img.shape[-2:] != disp.shape[-2:]:
        img = torch.nn.functional.interpolate(img, size=disp.shape[-2:], mode="area")
    d = disp / (disp.mean((2, 3), keepdim=True) + 1e-7)
    gx = (d[..., :, 1:] - d[..., :, :-1]).abs()
    gy = (d[..., 1:, :] - d[..., :-1, :]).abs()
    ix = (img[..., :, 1:] - img[..., :, :-1]).abs().mean(1, keepdim=True)
    iy = (img[..., 1:, :] - img[..., :-1, :]).abs().mean(1, keepdim=True)
    return (gx * torch.exp(-ix)).mean() + (gy * torch.exp(-iy)).mean()


def supervised_depth_loss(depth: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``|log D - log D_gt|`` over pixels with ``gt > 0`` (and ``valid``): the warm start's loss."""
    m = gt > 0
    if valid is not None:
        m = m & (valid > 0)
    m = m.to(depth.dtype)
    err = (torch.log(depth.clamp_min(1e-3)) - torch.log(gt.clamp_min(1e-3))).abs()
    return masked_mean(err, m)
