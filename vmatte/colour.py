"""Colour conversion on the device that holds the tensors: YUV planes to RGB, and RGB(A) to the planes an
encoder takes, following the stream's matrix (BT.601, BT.709, BT.2020), range (limited or full) and bit
depth. The same code runs on CPU and CUDA tensors.

Chroma at half resolution (4:2:0, 4:2:2) is upsampled bilinearly, edges clamped, with each chroma
sample where the stream puts it (YuvFormat.siting: centre, left or top-left): what FFmpeg's swscale does
with accurate rounding and full horizontal chroma interpolation (`BILINEAR | ACCURATE_RND |
FULL_CHR_H_INT`; its default fast path repeats each chroma sample instead). On the way out chroma is the
average of the pixels it covers (FFmpeg's area filter). The tests hold both directions to FFmpeg's own
conversions.

Encoding uses it on every device (pixels.for_sink hands YUV encoders their planes, no swscale); decoding
uses it where the engine is on a GPU (io.planar), while a CPU engine keeps swscale's faster rgb24 path.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}  # (Kr, Kb)


SITINGS = ("centre", "left", "topleft")  # where a subsampled chroma sample sits among its luma samples


@dataclass(frozen=True)
class YuvFormat:
    """How code values map to colour: `matrix` (a key of MATRICES), full or limited range, bits per
    sample, and `siting`, where subsampled chroma sits: 'centre' (JPEG, MPEG-1; what swscale assumes when
    a frame does not say), 'left' (co-sited with the left luma sample, vertically centred: the H.264,
    HEVC and MPEG-2 default) or 'topleft' (co-sited both ways: UHD BT.2020 streams)."""

    matrix: str = "bt709"
    full_range: bool = False
    bits: int = 8
    siting: str = "centre"

    def __post_init__(self) -> None:
        if self.matrix not in MATRICES:
            raise ValueError(f"unknown matrix {self.matrix!r}; use one of {', '.join(MATRICES)}")
        if self.siting not in SITINGS:
            raise ValueError(f"unknown chroma siting {self.siting!r}; use one of {', '.join(SITINGS)}")
        if not 8 <= self.bits <= 16:
            raise ValueError(f"bits must be 8 to 16, got {self.bits}")

    def levels(self) -> tuple[float, float, float, float]:
        """(luma offset, luma scale, chroma offset, chroma scale) in code values."""
        shift = 1 << (self.bits - 8)
        if self.full_range:
            top = float((1 << self.bits) - 1)
            return 0.0, top, float(1 << (self.bits - 1)), top
        return 16.0 * shift, 219.0 * shift, 128.0 * shift, 224.0 * shift


def _upsample(c: torch.Tensor, height: int, width: int, siting: str = "centre") -> torch.Tensor:
    """Chroma [Hc,Wc] to [height,width], bilinear, edges clamped. Centre-sited, at an odd size the chroma
    plane (rounded up) is stretched over the picture, as swscale does; a co-sited axis puts chroma
    sample i on luma sample 2i."""
    if c.shape == (height, width):
        return c
    if siting == "centre":
        return F.interpolate(c[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    c = _cosited(c, width, 1)
    return _cosited(c, height, 0) if siting == "topleft" else \
        F.interpolate(c[None, None], size=(height, c.shape[1]), mode="bilinear", align_corners=False)[0, 0]


def _cosited(c: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """`c` resampled along `dim` to n samples, chroma sample i at output sample i * (its size / n rounded)."""
    m = c.shape[dim]
    if m == n:
        return c
    step = round(n / m)
    x = torch.arange(n, device=c.device, dtype=torch.float32) / step
    i0 = x.floor().long().clamp_(max=m - 1)
    i1 = (i0 + 1).clamp_(max=m - 1)
    f = (x - i0).clamp_(0, 1)
    shape = [1, 1]
    shape[dim] = n
    f = f.view(shape)
    return c.index_select(dim, i0) * (1 - f) + c.index_select(dim, i1) * f


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, fmt: YuvFormat) -> torch.Tensor:
    """Planes of code values (Y [H,W]; U and V [H,W] or half size, ceil for odd sizes) -> RGB [3,H,W] float
    in 0..1 on the planes' device."""
    y0, ys, c0, cs = fmt.levels()
    kr, kb = MATRICES[fmt.matrix]
    h, w = y.shape
    luma = (y.float() - y0) / ys
    cb = _upsample((u.float() - c0) / cs, h, w, fmt.siting)
    cr = _upsample((v.float() - c0) / cs, h, w, fmt.siting)
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return torch.stack([r, g, b]).clamp_(0, 1)


def _area(x: torch.Tensor, rows: int) -> torch.Tensor:
    """[C,H,W] averaged over blocks of `rows` x 2 pixels (at an odd size the last block repeats the
    edge pixels): pairs of rows, then of columns, added as strided views (faster than avg_pool2d)."""
    if x.shape[2] % 2 or x.shape[1] % rows:
        x = F.pad(x[None], (0, x.shape[2] % 2, 0, x.shape[1] % rows), mode="replicate")[0]
    c, h, w = x.shape
    if rows == 2:
        pairs = x.reshape(c, h // 2, 2 * w)
        x = pairs[:, :, :w] + pairs[:, :, w:]
    cols = x.reshape(c, x.shape[1], w // 2, 2)
    return (cols[..., 0] + cols[..., 1]).mul_(1.0 / (2 * rows))


def rgb_to_yuv(rgb: torch.Tensor, fmt: YuvFormat, subsampling: str = "444",
               alpha: torch.Tensor | None = None, dtype: torch.dtype = torch.int32) -> list[torch.Tensor]:
    """RGB [3,H,W] float 0..1 (and alpha [H,W] 0..1) -> the planes an encoder takes, as code values of
    `dtype` (int32, or uint8 for 8 bits): [Y, U, V] (+ [A], full range) at 4:4:4, or with U and V averaged
    over 2x1 blocks at 4:2:2 and 2x2 at 4:2:0 (FFmpeg's area filter; at an odd size the last block is
    the edge pixels, repeated). Matrix products make the planes in code values; averaging commutes with
    them, so chroma is averaged in RGB first and converted at its own size (one row over the whole
    picture for luma, two over a half or a quarter of it). Rounding and clamping then run in place."""
    if subsampling not in ("444", "422", "420"):
        raise ValueError(f"subsampling must be 444, 422 or 420, got {subsampling!r}")
    y0, ys, c0, cs = fmt.levels()
    kr, kb = MATRICES[fmt.matrix]
    kg = 1 - kr - kb
    m = rgb.new_tensor([[ys * kr, ys * kg, ys * kb],
                        [-cs * kr / (2 * (1 - kb)), -cs * kg / (2 * (1 - kb)), cs / 2],
                        [cs / 2, -cs * kg / (2 * (1 - kr)), -cs * kb / (2 * (1 - kr))]], dtype=torch.float32)
    offsets = m.new_tensor([[y0], [c0], [c0]])
    rgb = rgb.float()
    _, h, w = rgb.shape
    if subsampling == "444":
        yuv = torch.addmm(offsets, m, rgb.reshape(3, -1)).view(3, h, w)
        luma, chroma = yuv[0], yuv[1:]
    else:
        luma = torch.addmm(offsets[:1], m[:1], rgb.reshape(3, -1)).view(h, w)
        small = _area(rgb, 2 if subsampling == "420" else 1)
        chroma = torch.addmm(offsets[1:], m[1:], small.reshape(3, -1)).view(2, *small.shape[1:])
    top = (1 << fmt.bits) - 1
    planes = [luma, chroma[0], chroma[1]]
    if alpha is not None:
        planes.append(alpha.float() * top)
    return [p.round_().clamp_(0, top).to(dtype) for p in planes]


@dataclass
class YuvImage:
    """A decoded picture still in its own planes, converted to RGB where the engine's tensors are
    (pixels.to_tensor) instead of by swscale on the CPU.

    planes: Y [H,W] and U, V ([H,W] or subsampled); or Y and one interleaved UV plane [Hc,Wc,2] (NV12,
    P010). Integer tensors on any device (CPU planes may share the decoder's buffer: `owner` keeps it).
    shift: low bits to drop (P010 keeps its 10 bits at the top of 16).
    turns, mirror: the picture is the planes' RGB turned `turns` quarter turns counter-clockwise, then
    (if `mirror`) flipped left to right. Applied after conversion, to the RGB: the chroma keeps the siting
    it was decoded with, and no integer plane (uint16 has few kernels) is moved."""

    planes: tuple[torch.Tensor, ...]
    fmt: YuvFormat
    shift: int = 0
    owner: object = None
    turns: int = 0
    mirror: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        """The RGB picture's shape, (H, W, 3), as an HxWx3 array's (turned, where it is)."""
        h, w = self.planes[0].shape[:2]
        return (w, h, 3) if self.turns % 2 else (h, w, 3)

    def _upright(self, rgb: torch.Tensor) -> torch.Tensor:
        """[3,H,W] as the picture is seen: turned, then mirrored."""
        if self.turns:
            rgb = torch.rot90(rgb, self.turns, (1, 2))
        return rgb.flip(2) if self.mirror else rgb

    def chroma(self) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.planes) == 2:
            uv = self.planes[1]
            return uv[..., 0], uv[..., 1]
        return self.planes[1], self.planes[2]

    def to_rgb(self) -> torch.Tensor:
        """RGB [3,H,W] float32 0..1, computed where the planes are."""
        y, (u, v) = self.planes[0], self.chroma()
        y, u, v = (codes(p, self.shift) for p in (y, u, v))
        return self._upright(yuv_to_rgb(y, u, v, self.fmt))

    def thumbnail(self, width: int, height: int) -> torch.Tensor:
        """A width x height RGB [3,h,w] float 0..1 area average, made where the planes are, from every
        step-th sample (at least 8 per cell), so a 1080p frame costs about what a thumbnail's pixels do."""
        if self.turns % 2:  # made in the planes' orientation, then turned
            width, height = height, width
        out = []
        for p in (self.planes[0], *self.chroma()):
            step = max(1, min(p.shape[0] // (height * 8), p.shape[1] // (width * 8)))
            c = codes(p[::step, ::step], self.shift).float()
            out.append(F.interpolate(c[None, None], size=(height, width), mode="area")[0, 0])
        return self._upright(yuv_to_rgb(*out, self.fmt))

    def moved(self, move) -> YuvImage:
        """The same picture with `move` (tensor -> tensor, e.g. an upload) applied to every plane."""
        return replace(self, planes=tuple(move(p) for p in self.planes))

    def mirrored(self) -> YuvImage:
        """Flipped left to right (a selfie view)."""
        return replace(self, mirror=not self.mirror)

    def rotated(self, turns: int) -> YuvImage:
        """Turned `turns` quarter turns counter-clockwise (a display-matrix rotation). Turning a mirrored
        picture is mirroring one turned the other way."""
        return replace(self, turns=(self.turns + (-turns if self.mirror else turns)) % 4)


def codes(p: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """Integer samples (a plane, or uint16 pixels) as int32 code values, whatever their type: uint16 has
    few kernels (on CUDA especially), so it is read as int16 and its sign bits masked off. shift: low
    bits to drop."""
    if p.dtype == torch.uint16:
        p = p.view(torch.int16).to(torch.int32).bitwise_and_(0xFFFF)
    elif p.dtype != torch.int32:
        p = p.to(torch.int32)
    return p.bitwise_right_shift(shift) if shift else p
