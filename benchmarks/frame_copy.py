"""Handing a frame to an encoder: PyAV's VideoFrame.from_ndarray against vmatte's packed_frame.

Prints ms per 1080p 16-bit RGBA frame, and how fast a pure-Python loop on another thread runs while
each copies frames (1.0 = as fast as alone): a copy that holds the GIL stalls every other thread.
Usage: python benchmarks/frame_copy.py [--width 1920 --height 1080]
"""
from __future__ import annotations

import argparse
import threading
import time

import av
import numpy as np

from common import machine


def count(seconds: float) -> int:
    """Iterations of an empty Python loop in `seconds`."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    a = ap.parse_args()
    from vmatte.io.encoding import packed_frame

    img = (np.random.default_rng(0).random((a.height, a.width, 4)) * 65535).astype(np.uint16)
    ways = {"av.VideoFrame.from_ndarray": lambda: av.VideoFrame.from_ndarray(img, format="rgba64le"),
            "vmatte packed_frame": lambda: packed_frame(img, "rgba64le")}
    print(f"machine: {machine()}")
    print(f"{a.width}x{a.height} rgba64le frame")
    alone = count(1.0)
    for name, copy in ways.items():
        copy()
        t0 = time.perf_counter()
        for _ in range(20):
            copy()
        ms = (time.perf_counter() - t0) / 20 * 1000
        stop = threading.Event()

        def loop(copy=copy, stop=stop) -> None:
            while not stop.is_set():
                copy()

        th = threading.Thread(target=loop)
        th.start()
        beside = count(1.0)
        stop.set()
        th.join()
        print(f"  {name:28} {ms:6.1f} ms a frame; a Python thread beside it runs at {beside / alone:.2f}")


if __name__ == "__main__":
    main()
