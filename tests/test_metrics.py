"""The ground-truth benchmark's metrics (benchmarks/matting_metrics.py) on cases worked out by hand."""
from __future__ import annotations

import numpy as np

from benchmarks import matting_metrics as mm


def _disc(h: int = 64, w: int = 64, r: float = 20.0, soft: float = 3.0) -> np.ndarray:
    y, x = np.mgrid[:h, :w].astype(np.float32)
    d = np.hypot(x - w / 2, y - h / 2)
    return np.clip((r - d) / soft + 0.5, 0, 1).astype(np.float32)


def test_perfect_prediction_scores_zero_everywhere():
    a = _disc()
    fg = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    errors = mm.frame_errors(a, a, fg, fg)
    assert errors == {"mad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0, "fg_mse": 0.0}
    assert mm.dtssd(a, a, a, a) == 0.0


def test_mad_mse_and_dtssd_by_hand():
    true = np.zeros((10, 10), np.float32)
    pred = true + 0.1
    assert abs(mm.mad(pred, true) - 100) < 1e-3 and abs(mm.mse(pred, true) - 10) < 1e-3
    # a constant error does not flicker; an error that changes by 0.1 everywhere is dtSSD 10 (x1e2)
    assert mm.dtssd(pred, pred, true, true) == 0.0
    assert abs(mm.dtssd(pred, true, true, true) - 10) < 1e-3


def test_grad_sees_a_blurred_edge_and_conn_a_detached_blob():
    true = _disc(soft=1.0)
    assert mm.grad(_disc(soft=6.0), true) > 0.01
    blob = true.copy()
    blob[2:8, 2:8] = 0.9  # a patch the truth does not have, not connected to the subject
    assert mm.conn(blob, true) > 0.0
    assert mm.conn(true, true) == 0.0


def test_foreground_error_counts_only_inside_the_true_matte():
    alpha = np.zeros((4, 4), np.float32)
    alpha[:2] = 1
    true = np.zeros((4, 4, 3), np.float32)
    pred = true.copy()
    pred[2:] = 1.0  # wrong only where the truth is background
    assert mm.fg_mse(pred, true, alpha) == 0.0
    pred[0, 0] = 0.5
    assert abs(mm.fg_mse(pred, true, alpha) - 0.25 * 3 / 24 * 1e3) < 1e-3
