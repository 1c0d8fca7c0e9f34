"""What a live session's picture looks like under its current settings: the background (or none, or
transparency) and the network's downsample ratio, changed between frames without a restart."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from ..compose import parse_background, render
from ..engine import Matte, Matter
from . import Settings


class Look:
    """The compositor's side of the live controls. `picture()` makes a frame's output picture for the
    sink ([1,C,H,W] on the device, C = 4 for an alpha sink, else 3); `apply()` takes new settings.
    new_matter(ratio) makes the Matter for a ratio the page picks (recipe.Recipe.matter)."""

    def __init__(self, settings: Settings, alpha_sink: bool, fit: str, size: tuple[int, int],
                 new_matter: Callable[[float], Matter]) -> None:
        self.settings, self.alpha_sink, self.fit, self.size = settings, alpha_sink, fit, size
        self.new_matter = new_matter
        self.background = self._background(settings.background)
        self.matters: dict[Any, Matter] = {}  # by downsample ratio ('auto': the one the session started with)

    def _background(self, spec: str):
        return None if spec in ("none", "transparent") else parse_background(spec, self.fit)

    def start(self, matter: Matter) -> None:
        """The Matter the session starts with: 'auto', and its own ratio, come back to it."""
        self.matters = {"auto": matter, matter.ratio: matter}

    def apply(self, s: Settings, matter: Matter) -> Matter:
        """Take settings `s`; returns the Matter to run from this frame (a new ratio: a fresh state)."""
        if s.background != self.settings.background:
            self.background = self._background(s.background)
        if s.downsample_ratio != self.settings.downsample_ratio:
            key = s.downsample_ratio
            if key not in self.matters:
                self.matters[key] = self.new_matter(float(key))
                self.matters[key].prepare(*self.size)
            matter = self.matters[key]
            matter.reset()
        self.settings = s
        return matter

    def picture(self, m: Matte, index: int = 0) -> torch.Tensor:
        """Frame `index`'s output picture, at the size the sink was opened with (width, height)."""
        spec = self.settings.background
        if spec == "none":  # the camera's own picture
            t = m.src
        else:
            t = render("rgba" if spec == "transparent" else "composite", m, self.background, index)
        if self.alpha_sink and spec != "transparent":  # an alpha sink: opaque where nothing is cut out
            t = torch.cat([t, torch.ones_like(t[:, :1])], 1)
        w, h = self.size
        if t.shape[-2:] != (h, w):  # the source changed size mid-stream
            t = F.interpolate(t, size=(h, w), mode="area")
        return t
