"""Matting error metrics as the video-matting literature defines them (the RVM paper's Table 1 and
its evaluation): every alpha is a float HxW array in [0, 1], every foreground HxWx3 in [0, 1].

- MAD, MSE: mean absolute and mean squared alpha error, reported x1e3.
- Grad: sum over the frame of the squared difference of alpha gradient magnitudes, both alphas first
  stretched to [0, 1], gradients by first-order Gaussian derivative filters (sigma 1.4); x1e-3.
- Conn: connectivity error (Rhemann et al., CVPR 2009) with threshold steps of 0.1; x1e-3.
- dtSSD: root mean square of the error in the frame-to-frame change of alpha; x1e2.
- Foreground MSE: mean squared colour error where the true alpha is above 0; x1e3.

Grad and Conn are sums over pixels, so they grow with the frame size: compare them at one size.
"""
from __future__ import annotations

import cv2
import numpy as np

GRAD_SIGMA = 1.4
CONN_STEP = 0.1
CONN_MIN_DIFF = 0.15  # a pixel counts as disconnected only this far above its connected level


def mad(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.abs(pred - true).mean() * 1e3)


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.square(pred - true).mean() * 1e3)


def _derivative_kernels(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D Gaussian and its derivative, each scaled to unit mass (the derivative by its absolute mass)."""
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * sigma * sigma))
    dg = -x * g
    return (g / g.sum()).astype(np.float32), (dg / np.abs(dg).sum()).astype(np.float32)


_G, _DG = _derivative_kernels(GRAD_SIGMA)


def _gradient_magnitude(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    a = ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)
    gx = cv2.sepFilter2D(a, cv2.CV_32F, _DG, _G, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(a, cv2.CV_32F, _G, _DG, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def grad(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.square(_gradient_magnitude(pred) - _gradient_magnitude(true)).sum() * 1e-3)


def _connected_level(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per pixel, the last threshold at which it still belonged to the largest 4-connected region that
    both alphas agree on (1 for pixels that never leave it)."""
    level = np.full(true.shape, -1.0, np.float32)
    steps = np.arange(0, 1 + CONN_STEP / 2, CONN_STEP)
    for below, t in zip(steps[:-1], steps[1:]):
        both = ((pred >= t) & (true >= t)).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        inside = np.zeros(true.shape, bool)
        if n > 1:
            inside = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        dropped = (level < 0) & ~inside
        level[dropped] = below
    level[level < 0] = 1.0
    return level


def conn(pred: np.ndarray, true: np.ndarray) -> float:
    level = _connected_level(pred, true)

    def phi(a: np.ndarray) -> np.ndarray:
        d = a - level
        return 1 - d * (d >= CONN_MIN_DIFF)

    return float(np.abs(phi(pred) - phi(true)).sum() * 1e-3)


def dtssd(pred: np.ndarray, pred_before: np.ndarray, true: np.ndarray, true_before: np.ndarray) -> float:
    change = (pred - pred_before) - (true - true_before)
    return float(np.sqrt(np.square(change).mean()) * 1e2)


def fg_mse(pred_fg: np.ndarray, true_fg: np.ndarray, true_alpha: np.ndarray) -> float:
    inside = true_alpha > 0
    if not inside.any():
        return 0.0
    return float(np.square(pred_fg[inside] - true_fg[inside]).mean() * 1e3)


def frame_errors(pred: np.ndarray, true: np.ndarray, pred_fg: np.ndarray, true_fg: np.ndarray) -> dict[str, float]:
    """Every per-frame metric but dtSSD (which needs the frame before)."""
    return {"mad": mad(pred, true), "mse": mse(pred, true), "grad": grad(pred, true), "conn": conn(pred, true),
            "fg_mse": fg_mse(pred_fg, true_fg, true)}
