"""Photometric and flip augmentation of a flow sample (all randomness from the caller's generator)."""
from __future__ import annotations

import numpy as np

#: luma weights of RGB -> gray (KITTI's image_0 is gray).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def gray3(img: np.ndarray) -> np.ndarray:
    """``[H,W,3]`` RGB -> gray replicated to 3 channels, float32."""
    return np.repeat(img @ np.array(GRAY_WEIGHTS, np.float32)[:, None], 3, axis=2).astype(np.float32)


def photometric(rng: np.random.Generator, img1: np.ndarray, img2: np.ndarray, gray_fraction: float):
    """Shared contrast/brightness/gamma/colour gain, a small per-frame brightness change, noise, gray.

    Images ``[H,W,3]`` float32 in [0,1]; returns new arrays.  With probability
    ``gray_fraction`` both frames become gray (replicated to 3 channels), like KITTI's image_0.
    """
    contrast = rng.uniform(0.7, 1.3)
    bright = rng.uniform(-0.12, 0.12)
    gamma = np.exp(rng.uniform(-0.35, 0.35))
    gain = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    sigma = rng.uniform(0.0, 0.02)
    gray = rng.random() < gray_fraction
    out = []
    for img in (img1, img2):
        x = np.clip((img * gain - 0.5) * contrast + 0.5 + bright + rng.uniform(-0.02, 0.02), 0, 1) ** gamma
        x = x + rng.normal(0.0, sigma, x.shape)
        if gray:
            x = np.repeat(x @ np.array(GRAY_WEIGHTS)[:, None], 3, axis=2)
        out.append(np.clip(x, 0, 1).astype(np.float32))
    return out


def hflip(sample: dict) -> dict:
    """Mirror a sample left-right: images, masks and flow (dx changes sign)."""
    out = {k: np.ascontiguousarray(v[:, ::-1]) for k, v in sample.items()}
    out["flow"] = out["flow"] * np.array([-1.0, 1.0], np.float32)
    return out
