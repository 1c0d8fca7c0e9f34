"""Cameras through OpenCV (V4L2 on Linux, MSMF/DirectShow on Windows, AVFoundation on macOS)."""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import cv2

from ..errors import VmatteError
from .frames import Closing, Frame, SourceInfo

open_capture = cv2.VideoCapture  # what opens a device; tests stand in for a camera here
RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # seconds between reopening attempts: doubling from the first to the max


def parse_camera(spec: str) -> int | str | None:
    """'0' or '/dev/video2' -> what cv2.VideoCapture takes; None if `spec` is not a camera."""
    if spec.isdigit():
        return int(spec)
    return spec if re.fullmatch(r"/dev/video\d+", spec) else None


class CameraSource(Closing):
    """Asks for width x height pixels at fps in MJPG. If the camera stops delivering it is reopened with
    backoff (RETRY_FIRST doubling to RETRY_MAX seconds); frames() pauses meanwhile. Timestamps are in ms."""

    live = True

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None, mjpg: bool = True) -> None:
        self.device, self.req = device, (width, height, fps, mjpg)
        self.cap = self._open()
        ok, img = self.cap.read()
        if not ok or img is None:
            self.cap.release()
            raise VmatteError(f"camera {device} opened but gives no frames; it may be busy in another program")
        h, w = img.shape[:2]
        if width and height and (w, h) != (width, height):
            self.cap.release()
            raise VmatteError(f"camera {device} does not do {width}x{height} (it gave {w}x{h}); "
                              "pick a size it supports or leave out --width/--height")
        rate = float(self.cap.get(cv2.CAP_PROP_FPS) or 0) or fps or 30.0
        self.info = SourceInfo(f"camera {device}", w, h, Fraction(rate).limit_denominator(1001), Fraction(1, 1000))
        self._first = img

    def _open(self):
        try:  # OpenCV's own warnings would break the one-line error below
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        except AttributeError:
            pass
        cap = open_capture(self.device)
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

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        stop = stop or threading.Event()
        start = time.perf_counter()
        index, img, backoff = 0, self._first, RETRY_FIRST
        while not stop.is_set():
            if img is None:
                ok, img = self.cap.read()
                if not ok or img is None:
                    img = None
                    self.cap.release()
                    stop.wait(backoff)
                    backoff = min(RETRY_MAX, backoff * 2)
                    try:
                        self.cap = self._open()
                    except VmatteError:
                        pass
                    continue
                backoff = RETRY_FIRST
            now = time.perf_counter()
            yield Frame(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), round((now - start) * 1000), self.info.time_base,
                        index, now)
            index += 1
            img = None

    def close(self) -> None:
        self.cap.release()
