"""`open_sink`: the one way out, to files, PNG sequences, a UDP stream, a virtual camera or a window.

Every sink takes `write(pixels, pts)` with HxWxC arrays in its `layout` ('rgba', 'rgb' or 'gray') and
`bits` (8 or 16), or, where it has `planes` (a video file with a planar encoder), that encoder's planes;
`close()` to commit (a file is renamed into place) and `abort()` to stop and remove
every temporary file. Drivers call abort() on every failure path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import VmatteError
from .encoding import encoding_for
from .frames import SourceInfo
from .sequences import ImageSequenceWriter, is_pattern
from .video_writer import VideoWriter

MODPROBE_HINT = ("no virtual camera device: on Linux load v4l2loopback "
                 "(sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vmatte); "
                 "on Windows/macOS install OBS and start its Virtual Camera once")
# pyvirtualcam's backend (v4l2loopback, obs, unitycapture, ...) from the environment; unset: the platform's own.
CAMERA_BACKEND_ENV = "VMATTE_VIRTUAL_CAMERA_BACKEND"


class Sink(Protocol):
    layout: str
    bits: int

    def write(self, pixels: np.ndarray | list[np.ndarray], pts: int) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def is_image_target(spec: str | Path) -> bool:
    return is_pattern(spec) or str(spec).lower().endswith(".png")


def open_sink(spec: str | Path, layout: str, info: SourceInfo, *, prores_encoder: str = "ks", crf: int = 18,
              bit_depth: int = 8, audio: bool = True, live: bool = False, start: int = 0,
              keyframe_seconds: float = 1.0, encode_workers: int | None = None) -> Sink:
    """A sink for frames of `layout` the size of `info`: 'virtual[:/dev/videoN]', 'preview', a
    udp://HOST:PORT URL, a name_%06d.png pattern, or a video file chosen by its extension.
    live=True: the cheapest H.264 settings, and no audio. start: an image sequence's first frame number.
    keyframe_seconds: the longest gap between keyframes of a live or udp:// H.264 output. encode_workers:
    threads of an intra-only (ProRes) encoder (None: io.encoder_pool.default_workers())."""
    s = str(spec)
    if s == "virtual" or s.startswith("virtual:"):
        return VirtualCameraSink(layout, info, s.split(":", 1)[1] if ":" in s else None)
    if s == "preview":
        return PreviewSink(layout)
    if is_image_target(s):
        if not is_pattern(s):
            raise VmatteError(f"{s}: an image sequence needs a frame-number pattern, e.g. name_%06d.png")
        return ImageSequenceWriter(s, layout, 16 if layout == "gray" else bit_depth, start=start)
    enc = encoding_for(s, layout, prores_encoder=prores_encoder, crf=crf, live=live,
                       keyframe_seconds=keyframe_seconds)
    return VideoWriter(s, enc, info, audio=audio and not live, workers=encode_workers)


class VirtualCameraSink:
    """pyvirtualcam (v4l2loopback on Linux, OBS Virtual Camera on Windows/macOS), fed RGB."""

    bits = 8

    def __init__(self, layout: str, info: SourceInfo, device: str | None = None) -> None:
        if layout != "rgb":
            raise VmatteError("a virtual camera carries no alpha; use a colour, image or blur background")
        try:
            import pyvirtualcam
        except ImportError:
            raise VmatteError("the virtual camera needs pyvirtualcam: pip install 'vmatte[virtualcam]'") from None
        self.layout = layout
        backend = os.environ.get(CAMERA_BACKEND_ENV) or None
        known = sorted(pyvirtualcam.camera.BACKENDS)  # this platform's, and any registered
        if backend is not None and backend not in known:
            raise VmatteError(f"{CAMERA_BACKEND_ENV}={backend!r} is not a virtual camera backend here (one of "
                              f"{', '.join(known) or 'none'}); unset it to use the platform's own")
        try:
            self.cam = pyvirtualcam.Camera(info.width, info.height, float(info.fps), device=device,
                                           fmt=pyvirtualcam.PixelFormat.RGB, backend=backend)
        except RuntimeError as e:
            text = str(e).lower()
            if "loopback" in text or "no device" in text or "not installed" in text or "obs" in text:
                raise VmatteError(MODPROBE_HINT) from None
            if "busy" in text or "in use" in text:
                raise VmatteError(f"the virtual camera is busy ({e}); close the program using it") from None
            raise VmatteError(f"cannot open the virtual camera: {e}") from None

    def write(self, pixels: np.ndarray, pts: int) -> None:
        self.cam.send(np.ascontiguousarray(pixels))

    def pace(self) -> None:
        """Wait for the camera's next frame slot (for sources that do not pace themselves)."""
        self.cam.sleep_until_next_frame()

    def close(self) -> None:
        self.cam.close()

    abort = close


class PreviewSink:
    """An OpenCV window; Esc or q in it sets `closed`, which ends a live session."""

    bits = 8

    def __init__(self, layout: str, title: str = "vmatte") -> None:
        import cv2

        if layout != "rgb":
            raise VmatteError("the preview window shows no alpha; use a colour, image or blur background")
        self.layout, self.title, self.closed = layout, title, False
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise VmatteError("preview needs an OpenCV with a GUI (pip install opencv-python, not -headless) "
                              "and a display") from None

    def write(self, pixels: np.ndarray, pts: int) -> None:
        import cv2

        cv2.imshow(self.title, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
            self.closed = True

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)

    abort = close
