"""Colour conversion on the device that holds the tensors: YUV planes to RGB, and RGB(A) to the planes an
encoder takes, following the stream's matrix (BT.601, BT.709, BT.2020), range (limited or full) and bit
depth. The same code runs on CPU and CUDA tensors.

Chroma at half resolution (4:2:0, 4:2:2) is upsampled bilinearly with each chroma sample at the centre
of the luma samples it covers, edges clamped: what FFmpeg's swscale does with accurate rounding and
full horizontal chroma interpolation (`BILINEAR | ACCURATE_RND | FULL_CHR_H_INT`; its default fast
path repeats each chroma sample instead). The tests hold both directions to FFmpeg's own conversion
from and to 8-bit RGB. (From 16-bit RGB, swscale takes 65280, not 65535, as white: see pixels.for_sink.)

Encoding uses it on every device (pixels.for_sink hands YUV encoders their planes, no swscale); decoding
uses it where the engine is on a GPU (io.planar), while a CPU engine keeps swscale's faster rgb24 path.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}  # (Kr, Kb)


@dataclass(frozen=True)
class YuvFormat:
    """How code values map to colour: `matrix` (a key of MATRICES), full or limited range, bits per sample."""

    matrix: str = "bt709"
    full_range: bool = False
    bits: int = 8

    def __post_init__(self) -> None:
        if self.matrix not in MATRICES:
            raise ValueError(f"unknown matrix {self.matrix!r}; use one of {', '.join(MATRICES)}")
        if not 8 <= self.bits <= 16:
            raise ValueError(f"bits must be 8 to 16, got {self.bits}")

    def levels(self) -> tuple[float, float, float, float]:
        """(luma offset, luma scale, chroma offset, chroma scale) in code values."""
        shift = 1 << (self.bits - 8)
        if self.full_range:
            top = float((1 << self.bits) - 1)
            return 0.0, top, float(1 << (self.bits - 1)), top
        return 16.0 * shift, 219.0 * shift, 128.0 * shift, 224.0 * shift


def _upsample(c: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Chroma [Hc,Wc] to [height,width]: centre-sited bilinear, edges clamped. At an odd size the
    chroma plane (rounded up) is stretched over the picture, as swscale does."""
    if c.shape == (height, width):
        return c
    return F.interpolate(c[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, fmt: YuvFormat) -> torch.Tensor:
    """Planes of code values (Y [H,W]; U and V [H,W] or half size, ceil for odd sizes) -> RGB [3,H,W] float
    in 0..1 on the planes' device."""
    y0, ys, c0, cs = fmt.levels()
    kr, kb = MATRICES[fmt.matrix]
    h, w = y.shape
    luma = (y.float() - y0) / ys
    cb = _upsample((u.float() - c0) / cs, h, w)
    cr = _upsample((v.float() - c0) / cs, h, w)
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return torch.stack([r, g, b]).clamp_(0, 1)


def rgb_to_yuv(rgb: torch.Tensor, fmt: YuvFormat, subsampling: str = "444",
               alpha: torch.Tensor | None = None) -> list[torch.Tensor]:
    """RGB [3,H,W] float 0..1 (and alpha [H,W] 0..1) -> the planes an encoder takes, as int32 code values:
    [Y, U, V] (+ [A], full range) at 4:4:4, or with U and V averaged over 2x1 blocks at 4:2:2 and 2x2 at
    4:2:0 (FFmpeg's area filter; at an odd size the last block is the edge pixels, repeated)."""
    y0, ys, c0, cs = fmt.levels()
    kr, kb = MATRICES[fmt.matrix]
    r, g, b = rgb.float()
    luma = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - luma) / (2 * (1 - kb))
    cr = (r - luma) / (2 * (1 - kr))
    if subsampling in ("420", "422"):
        h, w = luma.shape
        rows = 2 if subsampling == "420" else 1
        pad = (0, w % 2, 0, h % rows)
        cb, cr = (F.avg_pool2d(F.pad(c[None, None], pad, mode="replicate"), (rows, 2))[0, 0] for c in (cb, cr))
    elif subsampling != "444":
        raise ValueError(f"subsampling must be 444, 422 or 420, got {subsampling!r}")
    top = (1 << fmt.bits) - 1
    planes = [(y0 + ys * luma), (c0 + cs * cb), (c0 + cs * cr)]
    if alpha is not None:
        planes.append(alpha.float() * top)
    return [p.round().clamp_(0, top).to(torch.int32) for p in planes]
