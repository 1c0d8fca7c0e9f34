"""The one place where pixels change representation.

Host images are HxWxC numpy arrays, uint8 (0..255) or uint16 (0..65535). Device tensors are
[1,C,H,W] float in 0..1. Every stage converts through these two functions.
"""
from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """HxWxC uint8/uint16 array -> [1,C,H,W] float 0..1 on `device` (the division runs on the device)."""
    scale = 255.0 if image.dtype == np.uint8 else 65535.0
    t = torch.from_numpy(np.ascontiguousarray(image))
    if image.dtype == np.uint16:  # torch has limited uint16 support: widen on the host
        t = t.to(torch.int32)
    t = t.to(device, non_blocking=True).permute(2, 0, 1).unsqueeze(0)
    return t.to(dtype).div_(scale)


def to_array(t: torch.Tensor, bits: int = 8) -> np.ndarray:
    """[1,C,H,W] float 0..1 -> HxWxC uint8 (bits=8) or uint16 (bits=16) numpy array, rounded."""
    peak = 255.0 if bits == 8 else 65535.0
    q = t[0].permute(1, 2, 0).float().mul(peak).add_(0.5).clamp_(0, peak)  # +0.5 then truncate = round
    return q.to(torch.uint8 if bits == 8 else torch.uint16).contiguous().cpu().numpy()
