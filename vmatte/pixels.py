"""The one place where pixels change representation.

Host images are HxWxC numpy arrays, uint8 (0..255) or uint16 (0..65535). Device tensors are
[1,C,H,W] float in 0..1. Encoders of a planar pixel format (io.encoding.PLANAR) take a list of planes,
converted on the tensors' device (vmatte.colour). Every stage converts through these functions.
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from .colour import YuvFormat, YuvImage, codes, rgb_to_yuv

Pixels = np.ndarray | list[np.ndarray]  # what a sink's write() takes: one packed array, or planes


class _Pinned:
    """Reusable page-locked staging buffers, so host->GPU copies run at full speed and asynchronously.
    The host side is one numpy copy (one thread, without the GIL), not torch's multithreaded copy, which
    competes with decode and encode for the cores. Each shape has a ring of `ring` buffers, so the
    planes of one frame (U and V share a shape) and the next frame's do not wait for each other; a
    buffer's last copy is waited for only when the ring comes back to it. uint16 travels as int16
    (torch's uint16 has few CUDA kernels) and arrives viewed as uint16 again: colour.codes widens it."""

    def __init__(self, ring: int = 4) -> None:
        self.ring = ring
        self.buffers: dict[tuple, list[tuple[torch.Tensor, torch.cuda.Event, threading.Lock]]] = {}
        self.turn: dict[tuple, int] = {}
        self.lock = threading.Lock()  # the network and compositing threads both upload

    def upload(self, host: np.ndarray, device: torch.device) -> torch.Tensor:
        """`host` (any strides) on `device`, as a tensor of its dtype."""
        key = (host.shape, host.dtype.str)
        with self.lock:
            ring = self.buffers.setdefault(key, [])
            turn = self.turn.get(key, 0)
            self.turn[key] = (turn + 1) % self.ring
            if turn == len(ring):
                dtype = torch.int16 if host.dtype == np.uint16 else torch.from_numpy(host[:0]).dtype
                ring.append((torch.empty(host.shape, dtype=dtype, pin_memory=True), torch.cuda.Event(),
                             threading.Lock()))
            buf, done, busy = ring[turn]
        with busy:  # another thread that came round the ring to this buffer waits for it
            done.synchronize()  # this buffer's previous upload has left it
            np.copyto(buf.numpy().view(host.dtype), host)
            out = buf.to(device, non_blocking=True)
            done.record()
        return out.view(torch.uint16) if host.dtype == np.uint16 else out


_PINNED = _Pinned()


def to_tensor(image: np.ndarray | YuvImage, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """HxWxC uint8/uint16 array, or a decoded picture's YUV planes -> [1,C,H,W] float 0..1 on `device`.

    Only the 8/16-bit pixels (or planes) cross to the device (through a pinned buffer on CUDA); the
    conversion to float, and from YUV to RGB, runs there."""
    if isinstance(image, YuvImage):
        if device.type == "cuda":
            image = image.moved(lambda p: p if p.is_cuda else _PINNED.upload(p.numpy(), device))
        return image.to_rgb().unsqueeze(0).to(dtype)
    if device.type == "cuda":
        t = _PINNED.upload(image, device)
        if image.dtype == np.uint16:
            t = codes(t)
    else:
        t = torch.from_numpy(np.ascontiguousarray(image))
        if image.dtype == np.uint16:  # torch has limited uint16 support: widen
            t = t.to(torch.int32)
    scale = 255.0 if image.dtype == np.uint8 else 65535.0
    return t.permute(2, 0, 1).unsqueeze(0).to(dtype).div_(scale)


def to_array(t: torch.Tensor, bits: int = 8) -> np.ndarray:
    """[1,C,H,W] float 0..1 -> HxWxC uint8 (bits=8) or uint16 (bits=16) numpy array, rounded."""
    peak = 255.0 if bits == 8 else 65535.0
    q = t[0].permute(1, 2, 0).float().mul(peak).add_(0.5).clamp_(0, peak).floor_()  # rounded
    return _quantised(q, bits)


def _quantised(q: torch.Tensor, bits: int) -> np.ndarray:
    """Whole code values (float or int) as a host uint8 (bits 8) or uint16 array of the same shape.

    Narrowed on the device, so only 8/16-bit pixels cross back. torch's uint16 has few kernels (on CUDA
    especially), so 16-bit goes as int32 whose low halves (little-endian: every other int16) carry the
    uint16 bit pattern; the host only reinterprets them."""
    if bits <= 8:
        return _download(q.to(torch.uint8))
    low = q.to(torch.int32).reshape(-1).view(torch.int16)[::2]
    return _download(low.reshape(q.shape)).view(np.uint16)


def to_planes(t: torch.Tensor, spec) -> list[np.ndarray]:
    """[1,C,H,W] float 0..1 (RGB, or RGBA where `spec.alpha`) -> the planes of an encoder's pixel format
    (`spec`: an io.encoding.PlaneSpec), converted on `t`'s device (from a GPU, downloaded in one transfer):
    BT.709 limited-range Y, U, V (+ full-range A) for 'yuv'; G, B, R (+ A) for 'gbr'."""
    alpha = t[0, 3] if spec.alpha else None
    if spec.kind == "yuv":
        planes = rgb_to_yuv(t[0, :3], YuvFormat("bt709", False, spec.bits), spec.subsampling, alpha,
                            torch.uint8 if spec.bits <= 8 else torch.int32)
    else:
        top = (1 << spec.bits) - 1
        chans = [t[0, i] for i in (1, 2, 0)] + ([alpha] if alpha is not None else [])
        planes = [c.float().mul(top).round_().clamp_(0, top) for c in chans]
    if t.device.type != "cuda":  # nothing to transfer: each plane narrowed on its own
        return [_quantised(p, spec.bits) for p in planes]
    flat = _quantised(torch.cat([p.reshape(-1) for p in planes]), spec.bits)
    out, at = [], 0
    for p in planes:
        n = p.numel()
        out.append(flat[at:at + n].reshape(p.shape))
        at += n
    return out


def for_sink(t: torch.Tensor, sink) -> Pixels:
    """`t` as `sink` takes it: its planes where it has a planar encoder (`sink.planes`), otherwise one
    HxWxC array of its depth (`sink.bits`)."""
    spec = getattr(sink, "planes", None)
    return to_planes(t, spec) if spec is not None else to_array(t, sink.bits)


def _download(t: torch.Tensor) -> np.ndarray:
    """A device tensor as a contiguous host array; from CUDA through page-locked memory (torch's
    caching host allocator reuses the block once the array is freed)."""
    if t.device.type != "cuda":
        return t.contiguous().numpy()
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    torch.cuda.current_stream(t.device).synchronize()
    return host.numpy()
