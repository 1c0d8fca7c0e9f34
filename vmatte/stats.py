"""Timing figures the drivers report: per-stage busy time (batch) and live latency statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class StageTimes:
    """Seconds spent in each batch stage's own work (they overlap in wall time)."""

    decode: float = 0.0
    network: float = 0.0
    compose: float = 0.0
    encode: float = 0.0


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50, p95 and max of durations in seconds, as milliseconds."""
    ms = np.array(seconds or [0.0]) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "max": round(float(ms.max()), 2)}


@dataclass
class LiveStats:
    """frames_in captured, frames_out handed to the sink, frames_dropped, fps out; latency_ms from capture
    to the hand-off to the sink, sink_ms the sink's own time per frame (its encode or copy), both in ms.
    stage_ms_p50 splits the latency: the wait in the buffer, the network step, compositing and download,
    and the wait for the sink thread. interrupted: ended by Ctrl-C or SIGTERM."""

    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    fps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=lambda: percentiles([]))
    sink_ms: dict[str, float] = field(default_factory=lambda: percentiles([]))
    stage_ms_p50: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # ended by Ctrl-C or SIGTERM rather than by the source or max_frames

    def status(self, elapsed: float, latencies: list[float]) -> str:
        """The status line: frames, fps over `elapsed` seconds, drops, recent latency."""
        recent = percentiles(latencies[-100:])
        return (f"vmatte live: {self.frames_out} frames, {self.frames_out / max(elapsed, 1e-9):.1f} fps, "
                f"{self.frames_dropped} dropped, latency p50 {recent['p50']:.0f} ms p95 {recent['p95']:.0f} ms")
