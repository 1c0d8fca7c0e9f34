"""Runs source -> engine -> compositor -> sinks, with decode, compositing and encode on their own threads.

Bounded queues join the stages, so decode, the network and encode overlap and memory stays flat
however long the clip. Any stage's error stops the others and is re-raised in the caller.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .compose import Background, EdgeControls, render
from .io.frames import Frame
from .io.sinks import Sink
from .pixels import for_sink
from .shots import Shots
from .stats import StageTimes
from .threads import END, Worker, offer, take


@dataclass
class Output:
    """One requested output: which role (rgba, matte, composite, foreground) goes to which sink."""

    role: str
    sink: Sink


@dataclass
class Summary:
    """What a run did: frames, wall seconds, frames per second, and per-stage busy seconds."""

    frames: int
    seconds: float
    fps: float
    stages: StageTimes = field(default_factory=StageTimes)
    cuts: list[int] = field(default_factory=list)  # frame indices where a new shot starts
    photo: bool = False  # one photo (matted in still mode), not a clip


@dataclass
class BatchSummary:
    """A folder run: one Summary per matted file, the skipped (already complete) and the failed ones, and
    the files it passed over (not what the run takes: a video in a photo folder, an animated image), with
    why."""

    done: dict[str, Summary] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)


def run(frames: Iterable[Frame], shots: Shots, outputs: list[Output], background: Background | None = None,
        edges: EdgeControls | None = None, total: int | None = None, progress: bool = True,
        depth: int = 4, observers: tuple = ()) -> Summary:
    """Matte every frame into every output. Never drops a frame. Sinks are closed by the caller.

    Four stages on four threads, joined by queues of `depth` frames (fewer for very large frames, see
    io.frames.frames_in_flight): decode, the network (this
    thread), compositing and conversion to the sinks' pixels, and encode. observers get
    observe(frame, matte, new_shot, background) for every frame, in order (the quality report).
    """
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(depth)
    matted: queue.Queue = queue.Queue(depth)
    encoded: queue.Queue = queue.Queue(depth)
    times = StageTimes()
    bar = progress_bar(total, progress)
    written = 0

    def decode() -> None:
        it: Iterator[Frame] = iter(frames)
        while True:
            t0 = time.perf_counter()
            f = next(it, END)
            times.decode += time.perf_counter() - t0
            if not offer(decoded, f, stop) or f is END:
                return

    def compose() -> None:
        with torch.inference_mode():
            while (item := take(matted, stop)) is not END:
                f, m, new_shot = item
                t0 = time.perf_counter()
                if edges:
                    m = edges.apply(m)
                for ob in observers:
                    ob.observe(f, m, new_shot, background)
                arrays = [for_sink(render(o.role, m, background, f.index), o.sink) for o in outputs]
                times.compose += time.perf_counter() - t0
                if not offer(encoded, (f.pts, arrays), stop, encoder):
                    return
        offer(encoded, END, stop, encoder)

    def encode() -> None:
        nonlocal written
        while (item := take(encoded, stop, composer)) is not END:  # ends early if compose fails
            pts, arrays = item
            t0 = time.perf_counter()
            for out, arr in zip(outputs, arrays):
                out.sink.write(arr, pts)
            times.encode += time.perf_counter() - t0
            written += 1
            if bar is not None:
                if written == 1:
                    bar.unpause()  # the rate and ETA count from the first frame out, not from start-up
                bar.update(1)

    workers = [Worker(decode, "vmatte-decode"), Worker(compose, "vmatte-compose"), Worker(encode, "vmatte-encode")]
    decoder, composer, encoder = workers
    start = time.perf_counter()
    for w in workers:
        w.start()

    def queued() -> Iterator[Frame]:
        while (f := take(decoded, stop, decoder)) is not END:
            yield f

    finished = False
    try:
        mattes = shots.run(queued())
        while True:
            t0 = time.perf_counter()
            item = next(mattes, None)
            times.network += time.perf_counter() - t0  # includes any wait for the decoder
            if item is None or not offer(matted, item, stop, composer):
                break
        offer(matted, END, stop, composer)
        composer.join()
        encoder.join()
        finished = all(w.error is None for w in workers)
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        decoder.join(timeout=5)
        composer.join(timeout=30)
        encoder.join(timeout=30)
        if bar is not None:
            if finished and bar.total != written:  # the header's count was an estimate: end at what was written
                bar.total = written
            bar.refresh()  # the last frames may have come within tqdm's redraw interval
            bar.close()
    for w in workers:
        if w.error is not None:
            raise w.error
    seconds = time.perf_counter() - start
    return Summary(written, seconds, written / seconds if seconds > 0 else 0.0, times, list(shots.cuts))


def progress_bar(total: int | None, enabled: bool, unit: str = "frame") -> Any:
    """A tqdm bar on standard error counting `total` frames (or other `unit`s; None: unknown), or None when
    not enabled or standard error is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, dynamic_ncols=True, leave=True)
