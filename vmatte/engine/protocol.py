"""What every backend implements: a stepper, one recurrent step at a fixed input shape and ratio."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch


class Stepper(Protocol):
    """Carries the recurrent state of a batch of streams ([B,3,H,W] frames, RGB 0..1) itself.

    The tensors a call returns are the caller's: a later step never overwrites them (later pipeline
    stages read a matte while the next frame is matted)."""

    def __call__(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: (fgr [B,3,H,W], pha [B,1,H,W]), 0..1."""

    def settle(self, src: torch.Tensor) -> None:
        """Advance the state on `src` without producing outputs (cheaper where the backend allows)."""

    def reset(self, stream: int | None = None) -> None:
        """Forget the state of batch row `stream`, or of every stream."""

    def get_state(self) -> list[np.ndarray] | None:
        """A copy of the four recurrent states as float32 arrays (None before the first step)."""

    def set_state(self, state: list[np.ndarray]) -> None:
        """Continue from states `get_state` gave (of a stepper of the same shape and ratio)."""
