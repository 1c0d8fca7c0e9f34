"""The engine: one stream's recurrent matting state around the network."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import MattingNetwork
from .pixels import to_tensor

# RVM's guidance: an internal short side of ~270 px for portraits, ~432 px for full body.
SUBJECT_SHORT_SIDE = {"portrait": 270, "full-body": 432}


def auto_downsample_ratio(width: int, height: int, subject: str = "portrait") -> float:
    """Ratio (0..1] that brings the short side to RVM's recommended internal size for `subject`."""
    if subject not in SUBJECT_SHORT_SIDE:
        raise ValueError(f"subject must be one of {sorted(SUBJECT_SHORT_SIDE)}")
    return min(1.0, SUBJECT_SHORT_SIDE[subject] / min(width, height))


@dataclass
class Matte:
    """One frame's result, on the engine's device: src and fgr [1,3,H,W] RGB 0..1, pha [1,1,H,W] alpha 0..1."""

    src: torch.Tensor
    fgr: torch.Tensor
    pha: torch.Tensor


class Matter:
    """Mattes one stream frame by frame, carrying the recurrent state between calls."""

    def __init__(self, model: MattingNetwork, downsample_ratio: float) -> None:
        self.model = model
        self.ratio = float(downsample_ratio)
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype
        self.state: list[torch.Tensor | None] = [None] * 4
        self._size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the recurrent state (a new shot or a new stream)."""
        self.state = [None] * 4

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> Matte:
        """Matte one HxWx3 RGB uint8/uint16 frame. A change of frame size resets the state."""
        if self._size != image.shape[:2]:
            self.reset()
            self._size = image.shape[:2]
        src = to_tensor(image, self.device, self.dtype)
        fgr, pha, *self.state = self.model(src, *self.state, downsample_ratio=self.ratio)
        return Matte(src, fgr, pha)
