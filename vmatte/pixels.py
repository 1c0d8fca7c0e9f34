"""The one place where pixels change representation.

Host images are HxWxC numpy arrays, uint8 (0..255) or uint16 (0..65535). Device tensors are
[1,C,H,W] float in 0..1. Every stage converts through these two functions.
"""
from __future__ import annotations

import numpy as np
import torch


class _Pinned:
    """Reusable page-locked staging buffers, so host<->GPU copies run at full speed and asynchronously.
    Each buffer's last copy is waited for before the buffer is written again."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, tuple[torch.Tensor, torch.cuda.Event]] = {}

    def upload(self, host: torch.Tensor, device: torch.device) -> torch.Tensor:
        key = (tuple(host.shape), host.dtype)
        if key not in self.buffers:
            self.buffers[key] = (torch.empty(host.shape, dtype=host.dtype, pin_memory=True), torch.cuda.Event())
        buf, done = self.buffers[key]
        done.synchronize()  # the previous upload from this buffer has left it
        buf.copy_(host)
        out = buf.to(device, non_blocking=True)
        done.record()
        return out


_PINNED = _Pinned()


def to_tensor(image: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """HxWxC uint8/uint16 array -> [1,C,H,W] float 0..1 on `device`.

    Only the 8/16-bit pixels cross to the device (through a pinned buffer on CUDA); the conversion
    to float runs there."""
    scale = 255.0 if image.dtype == np.uint8 else 65535.0
    t = torch.from_numpy(np.ascontiguousarray(image))
    if image.dtype == np.uint16:  # torch has limited uint16 support: widen on the host
        t = t.to(torch.int32)
    t = _PINNED.upload(t, device) if device.type == "cuda" else t
    t = t.permute(2, 0, 1).unsqueeze(0)
    return t.to(dtype).div_(scale)


def to_array(t: torch.Tensor, bits: int = 8, rgb_peak: float | None = None) -> np.ndarray:
    """[1,C,H,W] float 0..1 -> HxWxC uint8 (bits=8) or uint16 (bits=16) numpy array, rounded.

    rgb_peak: the code the colour channels' 1.0 becomes, where it is not the depth's top (alpha keeps
    it); see for_sink."""
    peak = 255.0 if bits == 8 else 65535.0
    scale: float | torch.Tensor = peak
    if rgb_peak is not None:
        scale = t.new_tensor([rgb_peak] * min(3, t.shape[1]) + [peak] * max(0, t.shape[1] - 3), dtype=torch.float32)
    q = t[0].permute(1, 2, 0).float().mul(scale).add_(0.5).clamp_(0, peak).floor_()  # rounded
    # Quantised on the device, so only 8/16-bit pixels cross back. torch's uint16 has few kernels
    # (on CUDA especially), so 16-bit goes as int32 whose low halves (little-endian: every other
    # int16) carry the uint16 bit pattern; the host only reinterprets them.
    if bits == 8:
        return _download(q.to(torch.uint8))
    low = q.to(torch.int32).reshape(-1).view(torch.int16)[::2]
    return _download(low.reshape(q.shape)).view(np.uint16)


def for_sink(t: torch.Tensor, sink) -> np.ndarray:
    """`t` as `sink` takes it: its depth (`sink.bits`), and the white its encoder's conversion expects
    (`sink.rgb_peak`, where a sink has one: FFmpeg's swscale reads 16-bit RGB with 65280, not 65535, as
    white, so 65535 would reach a 10-bit YUV encoder as 943, above BT.709's 940)."""
    return to_array(t, sink.bits, getattr(sink, "rgb_peak", None))


def _download(t: torch.Tensor) -> np.ndarray:
    """A device tensor as a contiguous host array; from CUDA through page-locked memory (torch's
    caching host allocator reuses the block once the array is freed)."""
    if t.device.type != "cuda":
        return t.contiguous().numpy()
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    torch.cuda.current_stream(t.device).synchronize()
    return host.numpy()
