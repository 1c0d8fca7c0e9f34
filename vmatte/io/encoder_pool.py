"""Intra-only codecs (ProRes) encoded on a pool of threads, one single-threaded encoder per thread.

A single ProRes encoder's frame threads leave most of a 16-core host idle; frames of an intra-only
codec are coded independently, so any frame can go to any encoder, and the packets are muxed in order.
"""
from __future__ import annotations

import os
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import av
import numpy as np

from ..errors import VmatteError
from .encoding import Encoding, configure, to_frame
from .frames import SourceInfo, frames_in_flight


def default_workers() -> int:
    """Encoder threads: three quarters of the cores (all of them up to 3), leaving the rest to decode,
    the network and compositing. On the 16-core H200 host, 12 encoders gave 53 fps end to end at
    1080p where 16 gave 44: decode, starved of CPU, had become the bottleneck."""
    cores = os.cpu_count() or 1
    return max(1, cores - cores // 4)


def _yield_cpu() -> None:
    """Lower this thread's CPU priority a little (Linux only, where nice is per thread), so the pool
    fills idle cores but decode and the network thread, which the whole pipeline waits on, go first."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5))
        except OSError:
            pass


class EncoderPool:
    """`submit` returns the packets that are ready, in frame order; at most `workers + 2` frames are
    in flight. PyAV releases the GIL while FFmpeg converts and encodes."""

    def __init__(self, enc: Encoding, info: SourceInfo, workers: int) -> None:
        self.enc, self.info = enc, info
        self.threads = ThreadPoolExecutor(workers, thread_name_prefix="vmatte-encode", initializer=_yield_cpu)
        self.local = threading.local()
        self.inflight: deque[Future] = deque()
        self.window = frames_in_flight(info.width, info.height, 8, workers + 2)  # 16-bit RGBA (or YUVA planes)

    def _encoder(self) -> av.VideoCodecContext:
        ctx = getattr(self.local, "ctx", None)
        if ctx is None:
            enc = self.enc
            ctx = av.CodecContext.create(enc.codec, "w")
            configure(ctx, enc, self.info.width, self.info.height, self.info.time_base)
            ctx.options = dict(enc.options)
            ctx.thread_count = 1
            ctx.open()
            self.local.ctx = ctx
        return ctx

    def _encode(self, image: np.ndarray | list[np.ndarray], pts: int) -> list[av.Packet]:
        packets = self._encoder().encode(to_frame(image, self.enc, pts, self.info.time_base))
        if len(packets) != 1:  # intra-only, unthreaded: one packet out per frame in
            raise VmatteError(f"{self.enc.codec} returned {len(packets)} packets for one frame")
        return packets

    def submit(self, image: np.ndarray | list[np.ndarray], pts: int) -> list[av.Packet]:
        self.inflight.append(self.threads.submit(self._encode, image, pts))
        ready = []
        while len(self.inflight) > self.window or (self.inflight and self.inflight[0].done()):
            ready += self.inflight.popleft().result()
        return ready

    def drain(self) -> list[av.Packet]:
        ready = []
        while self.inflight:
            ready += self.inflight.popleft().result()
        self.threads.shutdown()
        return ready

    def cancel(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
