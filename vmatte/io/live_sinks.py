"""Live sinks: a virtual camera (pyvirtualcam), an MPEG-TS stream over UDP, a preview window, a file.

Each takes send(image, pts) with HxWxC uint8 arrays (RGB, or RGBA where `alpha` is True) and close().
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import VmatteError
from .frames import SourceInfo
from .video_writer import VideoWriter, encoding_for, packed_frame

MODPROBE_HINT = ("no virtual camera device: on Linux load v4l2loopback "
                 "(sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vmatte); "
                 "on Windows/macOS install OBS and start its Virtual Camera once")


class VirtualCameraSink:
    """pyvirtualcam, in the pixel format the backend wants (RGB here; the backend converts)."""

    alpha = False

    def __init__(self, width: int, height: int, fps: float, device: str | None = None,
                 backend: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise VmatteError("the virtual camera needs pyvirtualcam: pip install 'vmatte[virtualcam]'") from None
        try:
            self.cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device,
                                           backend=backend)
        except RuntimeError as e:
            text = str(e).lower()
            if "loopback" in text or "no device" in text or "not installed" in text or "obs" in text:
                raise VmatteError(MODPROBE_HINT) from None
            if "busy" in text or "in use" in text:
                raise VmatteError(f"the virtual camera is busy ({e}); close the program using it") from None
            raise VmatteError(f"cannot open the virtual camera: {e}") from None
        self.size = (width, height)

    def send(self, image: np.ndarray, pts: int) -> None:
        self.cam.send(np.ascontiguousarray(image))

    def pace(self) -> None:
        """Wait for the camera's next frame slot (used when the source does not pace itself)."""
        self.cam.sleep_until_next_frame()

    def close(self) -> None:
        self.cam.close()


class UdpSink:
    """H.264 (zerolatency) in MPEG-TS to udp://HOST:PORT, for OBS media sources and players."""

    alpha = False

    def __init__(self, url: str, width: int, height: int, fps: float, time_base: Fraction) -> None:
        target = url if "pkt_size" in url else f"{url}{'&' if '?' in url else '?'}pkt_size=1316"
        try:
            self.out = av.open(target, "w", format="mpegts")
            s = self.out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                    options={"preset": "ultrafast", "tune": "zerolatency", "crf": "20"})
        except av.error.FFmpegError as e:
            raise VmatteError(f"cannot stream to {url} ({e.strerror}); use udp://HOST:PORT") from None
        s.width, s.height, s.pix_fmt = width // 2 * 2, height // 2 * 2, "yuv420p"
        s.codec_context.time_base = time_base
        self.stream, self.time_base = s, time_base

    def send(self, image: np.ndarray, pts: int) -> None:
        f = packed_frame(image[: self.stream.height, : self.stream.width], "rgb24")
        f.pts, f.time_base = pts, self.time_base
        for p in self.stream.encode(f):
            self.out.mux(p)

    def close(self) -> None:
        for p in self.stream.encode(None):
            self.out.mux(p)
        self.out.close()


class PreviewSink:
    """An OpenCV window; Esc or q in it stops the loop."""

    alpha = False

    def __init__(self, title: str = "vmatte") -> None:
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise VmatteError("preview needs an OpenCV with a GUI (pip install opencv-python, not -headless) "
                              "and a display") from None
        self.closed = False

    def send(self, image: np.ndarray, pts: int) -> None:
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
            self.closed = True

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class FileSink:
    """Records to a file (written under a temporary name, renamed on close): .mp4/.mkv composite,
    or .mov/.webm with alpha when the background is transparent."""

    def __init__(self, path: str | Path, info: SourceInfo, alpha: bool) -> None:
        self.alpha = alpha
        path = Path(path)
        enc = encoding_for(path, "rgba" if alpha else "rgb")
        if enc.codec == "libx264":  # live: the cheapest preset, so the network keeps the CPU
            enc = replace(enc, options={**enc.options, "preset": "ultrafast", "tune": "zerolatency"})
        self.writer = VideoWriter(path, enc, info, audio=False)

    def send(self, image: np.ndarray, pts: int) -> None:
        bits = self.writer.bits
        if bits == 16:
            image = image.astype(np.uint16) * 257
        self.writer.write(image, pts)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()
