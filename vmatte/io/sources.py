"""`open_source`: the one way in for files, URLs, image sequences, cameras and files played live."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from ..options import is_url
from .camera import CameraSource, parse_camera
from .frames import Closing, Frame, Source
from .sequences import IMAGE_EXTS, ImageSequenceSource, is_pattern
from .video_source import VideoFileSource


class Realtime(Closing):
    """A source played at the pace of its own timestamps, as if it were a camera: each frame is released
    when it is due, and `captured` is that moment, so live latency is measured from it."""

    live = True

    def __init__(self, source: Source) -> None:
        self.source, self.info = source, source.info

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        stop = stop or threading.Event()
        start = time.perf_counter()
        for f in self.source.frames(stop):
            due = start + float(f.pts * f.time_base)
            wait = due - time.perf_counter()
            if wait > 0 and stop.wait(wait):
                return
            f.captured = due
            yield f

    def close(self) -> None:
        self.source.close()


def is_image_sequence(spec: str | Path) -> bool:
    """A %0Nd pattern, or a folder that holds images."""
    if is_url(spec):
        return False
    p = Path(spec)
    return is_pattern(p) or (p.is_dir() and any(q.suffix.lower() in IMAGE_EXTS for q in p.iterdir()))


def open_source(spec: str | Path, *, fps: float | None = None, width: int | None = None,
                height: int | None = None, realtime: bool = False, camera: bool = False,
                stream: int | None = None, device: torch.device | None = None) -> Source:
    """A video file or URL (any scheme://, never turned into a Path; `stream` picks its video stream), an
    image folder or %0Nd pattern (at `fps`, default 25), or with camera=True a camera index or /dev/videoN
    (asked for width x height pixels at fps). realtime=True plays a file at its own pace, as a live source.
    device: the engine's; a CUDA one gets a video file's frames as YUV planes, decoded by NVDEC where it can."""
    if camera and isinstance(spec, str) and (device := parse_camera(spec)) is not None:
        return CameraSource(device, width, height, fps)
    if is_image_sequence(spec):
        src: Source = ImageSequenceSource(spec, fps if fps is not None else 25)
    else:
        src = VideoFileSource(spec, stream, device)
    return Realtime(src) if realtime and not src.live else src
