"""Timing figures the drivers report: per-stage busy time (batch) and live latency statistics."""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class StageTimes:
    """Seconds spent in each batch stage's own work (they overlap in wall time)."""

    decode: float = 0.0
    network: float = 0.0
    compose: float = 0.0
    encode: float = 0.0


class Samples:
    """Durations in seconds, in bounded memory however long a live session runs: every sample up to
    `keep`, after that a uniform random reservoir of `keep` of them (percentiles are then estimates),
    the exact maximum, and the latest 100 for the status line. (A list of every frame's timings grew
    by ~0.4 MB a minute at 30 fps: 6 lists of Python floats.)"""

    def __init__(self, keep: int = 20_000) -> None:
        self.keep, self.count, self.max = keep, 0, 0.0
        self.values: list[float] = []
        self.recent: deque[float] = deque(maxlen=100)
        self.rng = random.Random(0)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.max = max(self.max, seconds)
        self.recent.append(seconds)
        if len(self.values) < self.keep:
            self.values.append(seconds)
        elif (j := self.rng.randrange(self.count)) < self.keep:
            self.values[j] = seconds

    def __len__(self) -> int:
        return self.count

    def median_ms(self) -> float:
        return round(float(np.median(self.values)) * 1000, 2)


def percentiles(seconds: Samples | list[float]) -> dict[str, float]:
    """p50, p95 and max of durations in seconds, as milliseconds."""
    values = seconds.values if isinstance(seconds, Samples) else seconds
    ms = np.array(values or [0.0]) * 1000
    top = seconds.max * 1000 if isinstance(seconds, Samples) and seconds.count else float(ms.max())
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "max": round(top, 2)}


@dataclass
class LiveStats:
    """frames_in captured, frames_out handed to the sink, frames_dropped, fps out; latency_ms from capture
    to the hand-off to the sink, sink_ms the sink's own time per frame (on its thread: the conversion to
    its pixels, a GPU's download, its encode or copy), both in ms. stage_ms_p50 splits the latency: the
    wait in the buffer, the network step, compositing, and the wait for the sink thread.
    first_second_ms: the latency of the frames captured in the session's first second (first_second_frames
    of them), where first-use work would show.
    interrupted: ended by Ctrl-C or SIGTERM. browser_ms: with --control, capture to the output page's draw
    of a frame (browser_frames of them), on this process's clock (the page says when it drew)."""

    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    fps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=lambda: percentiles([]))
    sink_ms: dict[str, float] = field(default_factory=lambda: percentiles([]))
    stage_ms_p50: dict[str, float] = field(default_factory=dict)
    first_second_ms: dict[str, float] = field(default_factory=lambda: percentiles([]))  # latency, first second's frames
    first_second_frames: int = 0  # frames handed to the sink that were captured within 1 s of the first
    interrupted: bool = False  # ended by Ctrl-C or SIGTERM rather than by the source or max_frames
    browser_ms: dict[str, float] = field(default_factory=lambda: percentiles([]))  # capture to the output page's draw
    browser_frames: int = 0  # frames the output page (--control) drew

    def status(self, elapsed: float, latencies: Samples) -> str:
        """The status line (logged as `vmatte live: ...`): frames, fps over `elapsed` seconds, drops, recent
        latency."""
        recent = percentiles(list(latencies.recent))
        return (f"{self.frames_out} frames, {self.frames_out / max(elapsed, 1e-9):.1f} fps, "
                f"{self.frames_dropped} dropped, latency p50 {recent['p50']:.0f} ms p95 {recent['p95']:.0f} ms")
