"""Live sources: cameras through OpenCV, and files played as if they were live."""
from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import VmatteError
from .video_source import VideoFileSource


@dataclass
class LiveFrame:
    """A captured picture: HxWx3 RGB uint8, when it was captured (time.perf_counter() seconds) and its pts."""

    image: np.ndarray
    captured: float
    pts: int
    time_base: Fraction
    index: int


class FilePlayer:
    """A video file as a live source. With realtime=True frames are released at their own timestamps
    and `captured` is the moment each was due; otherwise they come as fast as they decode."""

    live = False

    def __init__(self, path: str | Path, realtime: bool = False, loop: bool = False) -> None:
        self.path, self.realtime, self.loop = Path(path), realtime, loop
        self.live = realtime
        with VideoFileSource(self.path) as src:  # fail now, with a one-line message, if unreadable
            self.width, self.height, self.fps = src.info.width, src.info.height, float(src.info.fps)
            self.time_base = src.info.time_base

    def frames(self, stop: threading.Event) -> Iterator[LiveFrame]:
        start = time.perf_counter()
        index, offset = 0, 0  # offset: pts added on each pass of a loop, in time_base units
        for _ in itertools.count() if self.loop else range(1):
            with VideoFileSource(self.path) as src:
                last = 0
                for f in src:
                    if stop.is_set():
                        return
                    pts = last = offset + f.pts
                    due = start + float(pts * self.time_base)
                    if self.realtime:
                        wait = due - time.perf_counter()
                        if wait > 0:
                            stop.wait(wait)
                    else:
                        due = time.perf_counter()
                    yield LiveFrame(f.image, due, pts, self.time_base, index)
                    index += 1
                offset = last + max(1, round(1 / (self.fps * self.time_base)))

    def close(self) -> None:
        pass


def parse_camera(spec: str) -> int | str | None:
    """'0' or '/dev/video2' -> what cv2.VideoCapture takes; None if `spec` is not a camera."""
    if spec.isdigit():
        return int(spec)
    m = re.fullmatch(r"/dev/video(\d+)", spec)
    return spec if m else None


class CameraSource:
    """A camera through OpenCV (V4L2 on Linux, MSMF/DirectShow on Windows, AVFoundation on macOS).

    Asks for width x height pixels at fps in MJPG. If the camera stops delivering it is reopened
    with backoff (0.5 s doubling to 5 s); frames() simply pauses meanwhile.
    `opener` makes the capture object (cv2.VideoCapture by default), so tests can stand in for a device.
    """

    live = True
    time_base = Fraction(1, 1000)

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None, mjpg: bool = True,
                 opener: Callable[[int | str], object] = cv2.VideoCapture) -> None:
        self.device, self.req = device, (width, height, fps, mjpg)
        self.opener = opener
        self.cap = self._open()
        ok, img = self.cap.read()
        if not ok or img is None:
            self.cap.release()
            raise VmatteError(f"camera {device} opened but gives no frames; it may be busy in another program")
        self.height, self.width = img.shape[:2]
        if width and height and (self.width, self.height) != (width, height):
            self.cap.release()
            raise VmatteError(f"camera {device} does not do {width}x{height} (it gave {self.width}x{self.height}); "
                              "pick a size it supports or leave out --width/--height")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0) or fps or 30.0
        self._first = img
        self.reconnects = 0

    def _open(self):
        try:  # OpenCV's own warnings would break the one-line error below
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        except AttributeError:
            pass
        cap = self.opener(self.device)
        if not cap.isOpened():
            raise VmatteError(f"camera {self.device} could not be opened; check it is connected and not in use "
                              "(ls /dev/video* on Linux), or pass another --source")
        w, h, fps, mjpg = self.req
        if mjpg:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if w and h:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queue of stale ones
        return cap

    def frames(self, stop: threading.Event) -> Iterator[LiveFrame]:
        start = time.perf_counter()
        tb = self.time_base
        index, img, backoff = 0, self._first, 0.5
        while not stop.is_set():
            if img is None:
                ok, img = self.cap.read()
                if not ok or img is None:
                    img = None
                    self.cap.release()
                    stop.wait(backoff)
                    backoff = min(5.0, backoff * 2)
                    try:
                        self.cap = self._open()
                        self.reconnects += 1
                    except VmatteError:
                        pass
                    continue
                backoff = 0.5
            now = time.perf_counter()
            yield LiveFrame(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), now, round((now - start) * 1000), tb, index)
            index += 1
            img = None

    def close(self) -> None:
        self.cap.release()


def open_live_source(spec: str, width: int | None = None, height: int | None = None, fps: float | None = None,
                     realtime: bool = False) -> CameraSource | FilePlayer:
    """A camera index or /dev/videoN, or a video file (played live with realtime=True)."""
    cam = parse_camera(spec)
    if cam is not None:
        return CameraSource(cam, width, height, fps)
    return FilePlayer(spec, realtime=realtime)
