"""What sources hand to the pipeline."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass
class Frame:
    """One decoded picture: HxWx3 RGB uint8 (8-bit sources) or uint16 (deeper sources).

    pts is in `time_base` seconds-units, counted from the start of the clip (first frame at 0).
    """

    image: np.ndarray
    pts: int
    time_base: Fraction
    index: int


@dataclass
class SourceInfo:
    """What sinks need to know about a source: size in pixels, rate in fps, timing, audio."""

    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int | None = None  # expected frame count, when the container says
    bit_depth: int = 8
    timecode: str | None = None
    audio: bool = False
    start_offset: float = 0.0  # seconds subtracted from every timestamp so the video starts at 0
    duration: float | None = None  # seconds of video, when the container says

    def expected_frames(self) -> int | None:
        """The frame count from the header, or estimated from duration x fps (for a progress bar)."""
        if self.frames:
            return self.frames
        return round(self.duration * float(self.fps)) if self.duration else None
