"""What every source hands on: one frame type, what sinks need to know about a source, the protocol."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import VmatteError

if TYPE_CHECKING:
    from ..colour import YuvImage
    from .audio import AudioTrack


# Peak memory per pixel of a large clip matted on the CPU (float copies of the picture, foreground and
# alpha, the refiner at full size, compositing, 16-bit output, the frames in flight). Measured on the
# 2-core machine, 4096x4096, 3 frames: 224 bytes a pixel for an H.264 composite, 271 for ProRes 4444.
MATTE_BYTES_PER_PIXEL = 280


@dataclass
class Frame:
    """One picture: HxWx3 RGB, uint8 (8-bit sources) or uint16 (deeper sources); or, from a video file
    decoded for a CUDA engine, its YUV planes (a colour.YuvImage, converted on the device by
    pixels.to_tensor).

    pts is in `time_base` units (seconds = pts * time_base), counted from the start of the source
    (first frame at 0). index counts frames from 0. captured is when the frame was read, or when it
    was due for a source played in real time (time.perf_counter() seconds): live latency starts there.
    """

    image: np.ndarray | YuvImage
    pts: int
    time_base: Fraction
    index: int
    captured: float = 0.0


@dataclass
class SourceInfo:
    """What sinks need to know about a source: size in pixels, rate in fps, timing, audio."""

    name: str  # for messages and the report's title
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int | None = None  # expected frame count, when the container says
    bit_depth: int = 8
    timecode: str | None = None
    audio: AudioTrack | None = field(default=None, repr=False)  # the first audio stream, demuxed with the video
    start_offset: float = 0.0  # seconds subtracted from every timestamp so the video starts at 0
    duration: float | None = None  # seconds of video, when the container says

    def expected_frames(self) -> int | None:
        """The frame count from the header, or estimated from duration x fps (for a progress bar)."""
        if self.frames:
            return self.frames
        return round(self.duration * float(self.fps)) if self.duration else None


IN_FLIGHT_BYTES = 2_000_000_000  # what frames queued between stages may hold, about; the queues shrink to fit


def frames_in_flight(width: int, height: int, bytes_per_pixel: int, most: int) -> int:
    """How many frames of width x height pixels a queue or pool may hold: `most`, or fewer for very large
    frames, so memory stays bounded (at least 1)."""
    return max(1, min(most, IN_FLIGHT_BYTES // max(1, width * height * bytes_per_pixel)))


def one_size(frames: Iterable[Frame], info: SourceInfo) -> Iterator[Frame]:
    """The frames, refusing one whose picture size is not the first's: an output file has one size (a
    joined MPEG-TS can change size mid-stream, and an encoder fed another size writes a wrong picture)."""
    for f in frames:
        h, w = f.image.shape[:2]
        if (w, h) != (info.width, info.height):
            raise VmatteError(f"{info.name} changes picture size at frame {f.index} ({info.width}x{info.height} to "
                              f"{w}x{h}); an output has one size: cut the file there and matte each part")
        yield f


def check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture of width x height pixels above `max_pixels`, saying roughly what it would need."""
    pixels = width * height
    if pixels > max_pixels:
        need = pixels * MATTE_BYTES_PER_PIXEL / 1e9 + 1
        raise VmatteError(f"{name} is {width}x{height} ({pixels / 1e6:.1f} MP), above --max-pixels {max_pixels}; "
                          f"matting it needs about {need:.0f} GB of memory. Pass --max-pixels {pixels} to go ahead")


def check_size(info: SourceInfo, max_pixels: int) -> None:
    """Refuse a source whose frames are above `max_pixels` (check_pixels)."""
    check_pixels(info.name, info.width, info.height, max_pixels)


class Source(Protocol):
    """Files, URLs, image sequences and cameras alike. `live` sources deliver at their own pace (a
    camera, a file played in real time): a consumer that falls behind drops frames rather than
    letting latency grow. Others wait for the consumer, and no frame is lost."""

    info: SourceInfo
    live: bool

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Every frame in order, until the source ends or `stop` is set."""

    def close(self) -> None: ...


class Closing:
    """Context-manager support for sources and writers that have close()."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
