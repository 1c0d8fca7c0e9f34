"""Alpha maths: what each output role is made of, and the backgrounds for composites.

All tensors are [1,C,H,W] float 0..1 on the engine's device. Alpha is straight (not premultiplied);
the colour is the network's predicted foreground, so edges carry no trace of the old background.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch.nn import functional as F

from .engine import Matte
from .options import COLOURS


class Background(Protocol):
    def render(self, m: Matte, index: int) -> torch.Tensor:
        """The background for frame `index`, [1,3,H,W] 0..1, the size of m.src."""


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, sigma in pixels of `x`; large sigmas run on a reduced copy."""
    if sigma <= 0:
        return x
    h, w = x.shape[-2:]
    step = max(1, int(sigma // 2.5))  # blur at a scale where sigma is ~2.5-5 px: same look, far less work
    if step > 1:
        x = F.interpolate(x, size=(max(1, h // step), max(1, w // step)), mode="area")
        sigma = sigma / step
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, device=x.device, dtype=torch.float32) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    pad_h, pad_w = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    if pad_h < r or pad_w < r:  # tiny images: reflect cannot pad more than the size
        x = F.pad(x, (r, r, r, r), mode="replicate")
    else:
        x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    if step > 1:
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x


class BlurBackground:
    """The source blurred from clear background pixels only (normalised convolution), so no halo.

    Only pixels the matte calls background (alpha < 0.02), and not within a few pixels of its edge,
    are averaged: un-mixing edge pixels with the predicted foreground leaves 2-4/255 of the person's
    colour beside them on real portraits, excluding them leaves < 1/255. sigma is the Gaussian
    sigma in output pixels.
    """

    def __init__(self, sigma: float = 20.0) -> None:
        self.sigma = sigma

    def render(self, m: Matte, index: int) -> torch.Tensor:
        h, w = m.src.shape[-2:]
        step = max(1, int(self.sigma // 2.5))  # work where sigma is ~2.5-5 px: same look, far less work
        r = max(3, round(min(h, w) / 240))  # margin kept from the matte's edge: 3 px at 720p, 9 at 2160p
        src, pha = m.src, m.pha
        if step > 1:  # a reduced cell is clear only if every pixel in it is (pooled before the threshold: one pass)
            size = (max(1, h // step), max(1, w // step))
            src, pha = F.interpolate(src, size=size, mode="area"), F.adaptive_max_pool2d(pha, size)
        dirty = (pha >= 0.02).to(src.dtype)
        k = math.ceil(r / step)
        clear = 1 - F.max_pool2d(dirty, 2 * k + 1, 1, k)
        # One blur over the clear background (3), its weight (1) and the source (3).
        stack = torch.cat([src * clear, clear, src], 1)
        num, den, plain = gaussian_blur(stack, self.sigma / step).split([3, 1, 3], 1)
        # The normalised average holds wherever any clear pixel is within reach, however faintly
        # weighted; only deep inside the person, which covers it anyway, fall back to the plain blur.
        # (A soft fallback near the edge would leak the person's colour when upsampled.)
        bg = torch.where(den > 1e-6, num / den.clamp_min(1e-6), plain)
        if bg.shape[-2:] != (h, w):
            bg = F.interpolate(bg, size=(h, w), mode="bilinear", align_corners=False)
        return bg


class ColourBackground:
    def __init__(self, rgb: tuple[int, int, int]) -> None:
        self.rgb = rgb

    def render(self, m: Matte, index: int) -> torch.Tensor:
        c = torch.tensor(self.rgb, device=m.src.device, dtype=m.src.dtype).view(1, 3, 1, 1) / 255
        return c.expand_as(m.src)


def fit_to(img: torch.Tensor, h: int, w: int, mode: str = "fill") -> torch.Tensor:
    """Scale [1,3,h0,w0] to cover (fill, cropping the overflow) or fit inside (fit, black bars) h x w pixels."""
    h0, w0 = img.shape[-2:]
    s = max(h / h0, w / w0) if mode == "fill" else min(h / h0, w / w0)
    nh, nw = max(1, round(h0 * s)), max(1, round(w0 * s))
    img = F.interpolate(img, size=(nh, nw), mode="bilinear", align_corners=False, antialias=s < 1)
    if mode == "fill":
        top, left = (nh - h) // 2, (nw - w) // 2
        return img[:, :, top:top + h, left:left + w]
    out = torch.zeros(1, 3, h, w, dtype=img.dtype, device=img.device)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[:, :, top:top + nh, left:left + nw] = img
    return out


class ImageBackground:
    def __init__(self, path: Path, mode: str = "fill") -> None:
        from .io.sequences import read_image

        self.image = read_image(path)
        self.mode = mode
        self._cache: torch.Tensor | None = None

    def render(self, m: Matte, index: int) -> torch.Tensor:
        from .pixels import to_tensor

        h, w = m.src.shape[-2:]
        if self._cache is None or self._cache.shape[-2:] != (h, w) or self._cache.device != m.src.device:
            self._cache = fit_to(to_tensor(self.image, m.src.device, m.src.dtype), h, w, self.mode)
        return self._cache


class VideoBackground:
    """A video played in a loop behind the subject, one background frame per output frame."""

    def __init__(self, path: Path, mode: str = "fill") -> None:
        from .io.video_source import VideoFileSource

        self.path, self.mode = path, mode
        VideoFileSource(path).close()  # fail now, with a clear message, if it is not a video
        self._frames = self._loop()

    def _loop(self):
        from .io.video_source import VideoFileSource

        while True:
            with VideoFileSource(self.path) as src:
                yield from src.frames()

    def render(self, m: Matte, index: int) -> torch.Tensor:
        from .pixels import to_tensor

        h, w = m.src.shape[-2:]
        img = next(self._frames).image
        return fit_to(to_tensor(img, m.src.device, m.src.dtype), h, w, self.mode)


def parse_background(spec: str, fit: str = "fill") -> Background:
    """A checked spec (options.background): 'blur[:sigma]', a colour name or #rrggbb, an image file, or a
    video file (looped). fit: 'fill' scales an image or video to cover the frame (cropping), 'fit' to fit
    inside it (bars)."""
    s = spec.strip()
    if s == "blur" or s.startswith("blur:"):
        return BlurBackground(float(s[5:]) if ":" in s else 20.0)
    if s.lower() in COLOURS:
        return ColourBackground(COLOURS[s.lower()])
    if re.fullmatch(r"#?[0-9a-fA-F]{6}", s) and not Path(s).exists():
        h = s.lstrip("#")
        return ColourBackground((int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)))
    from .io.sequences import IMAGE_EXTS

    p = Path(s)
    return ImageBackground(p, fit) if p.suffix.lower() in IMAGE_EXTS else VideoBackground(p, fit)


def render(role: str, m: Matte, background: Background | None, index: int) -> torch.Tensor:
    """The tensor an output role is made of: rgba [1,4], matte [1,1], composite/foreground [1,3]
    (a composite needs a background)."""
    if role == "rgba":
        return torch.cat([m.fgr, m.pha], 1)
    if role == "matte":
        return m.pha
    if role == "foreground":
        return m.fgr
    if role == "composite":  # fgr x alpha + bg x (1 - alpha), as one pass over the picture
        bg = background.render(m, index)
        return torch.lerp(bg, m.fgr, m.pha.expand_as(bg))  # alpha expanded: torch's vectorised path
    raise ValueError(f"unknown role {role!r}")


@dataclass(frozen=True)
class EdgeControls:
    """Matte edge adjustments, applied once per frame before any output is made.

    choke: pixels to shrink (positive) or grow (negative) the matte; feather: Gaussian sigma in
    pixels to soften it; despill: 0..1, how much of the local background's colour cast to remove
    from semi-transparent edge colours (the predicted foreground already removes most of it).
    """

    choke: float = 0.0
    feather: float = 0.0
    despill: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.choke or self.feather or self.despill)

    def apply(self, m: Matte) -> Matte:
        pha, fgr = m.pha, m.fgr
        if self.choke:
            r = max(1, round(abs(self.choke)))
            k = 2 * r + 1
            pha = (-F.max_pool2d(-pha, k, 1, r)) if self.choke > 0 else F.max_pool2d(pha, k, 1, r)
        if self.feather:
            pha = gaussian_blur(pha, self.feather).clamp(0, 1)
        if self.despill:
            fgr = despill(fgr, m.src, m.pha, self.despill)
        return Matte(m.src, fgr, pha)


def despill(fgr: torch.Tensor, src: torch.Tensor, pha: torch.Tensor, strength: float = 1.0,
            sigma: float = 8.0) -> torch.Tensor:
    """Remove the local background's chroma from edge colours, in proportion to transparency.

    The background colour near each pixel comes from a background-only blur of the source; its
    chroma direction is projected out of the foreground's chroma where alpha < 1.
    """
    bg = BlurBackground(sigma).render(Matte(src, fgr, pha), 0)
    bg_chroma = bg - bg.mean(1, keepdim=True)
    unit = bg_chroma / bg_chroma.norm(dim=1, keepdim=True).clamp_min(1e-4)
    f_chroma = fgr - fgr.mean(1, keepdim=True)
    spill = (f_chroma * unit).sum(1, keepdim=True).clamp_min(0)
    return (fgr - strength * (1 - pha) * spill * unit).clamp(0, 1)
