"""The control server's frames: converted and JPEG-encoded on a thread of their own, newest first.

The session hands over references only (`offer`); the encoder wakes, asks which pages want a frame
now (a page with a frame in flight does not), converts the tensors once for all of them and passes the
messages on. A frame that arrives while one is encoded replaces the one waiting: nothing queues up.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..errors import log

PREVIEW_WIDTH = 640  # pixels: the control page's preview


def planes(t: torch.Tensor) -> np.ndarray:
    """[1,C,H,W] float 0..1 (C = 3, RGB, or 1) as what OpenCV encodes: HxWx3 BGR or HxW uint8. Rounded on
    the tensor's device plane by plane, then interleaved once by OpenCV (half the time of a packed copy)."""
    q = t[0].float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
    return q[0] if len(q) == 1 else cv2.merge([q[2], q[1], q[0]])


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """HxWx3 BGR (or HxW grey) uint8 as JPEG bytes."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def message(index: int, captured: float, size: tuple[int, int], colour: bytes, alpha: bytes) -> tuple[str, bytes]:
    """One frame for a page: the JSON that describes it (size (height, width) in pixels, the byte lengths
    of its two JPEGs, its age in ms), and the JPEGs, colour then alpha, in one binary message."""
    meta = {"frame": index, "width": int(size[1]), "height": int(size[0]), "colour": len(colour),
            "alpha": len(alpha), "age_ms": round((time.perf_counter() - captured) * 1000, 1)}
    return json.dumps(meta), colour + alpha


class FrameEncoder:
    """`wanted()` gives the kinds of page ready for a frame ('output': the person with alpha as two
    JPEGs, colour and alpha; 'control': a preview of the sink's picture); `done(index, captured,
    messages)` takes each encoded frame: kind -> message()."""

    def __init__(self, wanted: Callable[[], set[str]], done: Callable[[int, float, dict], None]) -> None:
        self.wanted, self.done = wanted, done
        self.frame: tuple | None = None
        self.new = threading.Condition()
        self.closing = False
        self.thread = threading.Thread(target=self._run, name="vmatte-control-encode", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def offer(self, index: int, picture: Any, rgba: Callable[[], Any], captured: float) -> None:
        """Frame `index`: the sink's [1,C,H,W] picture, `rgba()` the straight-alpha [1,4,H,W] one, made only
        if an output page wants it; `captured` a perf_counter time."""
        with self.new:
            self.frame = (index, picture, rgba, captured)
            self.new.notify()

    def close(self) -> None:
        with self.new:
            self.closing = True
            self.new.notify()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self.new:
                while self.frame is None and not self.closing:
                    self.new.wait()
                if self.closing:
                    return
                index, picture, rgba, captured = self.frame
                self.frame = None
            kinds = self.wanted()
            try:
                messages = {}
                if "output" in kinds:
                    t = rgba()
                    colour, alpha = jpeg(planes(t[:, :3])), jpeg(planes(t[:, 3:]), 90)
                    messages["output"] = message(index, captured, t.shape[-2:], colour, alpha)
                if "control" in kinds:
                    h, w = picture.shape[-2:]
                    small = picture[:, :3]
                    if w > PREVIEW_WIDTH:  # made small before it is converted: a quarter of the work
                        small = F.interpolate(small.float(), size=(round(h * PREVIEW_WIDTH / w), PREVIEW_WIDTH),
                                              mode="area")
                    messages["control"] = message(index, captured, small.shape[-2:], jpeg(planes(small), 75), b"")
            except Exception as e:  # a page must never end the session
                log.warning(f"control server: a frame could not be encoded ({type(e).__name__}: {e})")
                continue
            if messages:
                self.done(index, captured, messages)
