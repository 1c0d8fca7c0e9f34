"""What a worker process (or Ray actor) runs: the engine loaded once, then task after task, each a whole
file or one segment of one, through the same path as one process (clip.convert_clip)."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.atomic import process_alive
from ..options import MattingOptions, OutputOptions
from ..recipe import Recipe
from .plan import Segment


@dataclass(frozen=True)
class Task:
    """One unit of work: `outputs` (role -> path) are the final files for a whole file, or the segment's
    files in the work folder. `done` is the marker written when a segment's files are complete."""

    input: str
    outputs: dict[str, str]
    matting: MattingOptions
    out: OutputOptions
    segment: Segment | None = None
    preroll: int = 0
    done: str | None = None

    @property
    def label(self) -> str:
        name = Path(self.input).name
        return name if self.segment is None else f"{name} segment {self.segment.number}"


class _Progress:
    """An observer that reports frames done to the driver, a few times a second."""

    def __init__(self, sink, label: str) -> None:
        self.sink, self.label, self.pending, self.last = sink, label, 0, time.monotonic()

    def observe(self, *_: Any) -> None:
        self.pending += 1
        if time.monotonic() - self.last > 0.25:
            self.flush()

    def flush(self) -> None:
        if self.pending and self.sink is not None:
            self.sink.put((self.label, self.pending))
        self.pending, self.last = 0, time.monotonic()


@dataclass
class _Setup:
    """This worker process's own settings, made once by `init` (a process pool's initializer or a Ray
    actor's constructor) and read by every task it runs."""

    recipe: Recipe | None = None  # its network loads on the first task and stays
    progress: Any = None
    encode_workers: int | None = None  # this worker's share of the ProRes encoder threads


_SETUP = _Setup()


def init(matting: MattingOptions, progress: Any, workers: int, driver: tuple[str, int] | None = None) -> None:
    """Set up a worker: its share of the CPU threads (torch and the encoder pool) among `workers`, and
    where it reports progress. The engine loads on the first task and stays. driver: (host name, process
    id) of the run that started it; a worker on that host ends itself when the driver is gone (killed:
    nothing would ever collect its work)."""
    from ..io.encoder_pool import default_workers

    if driver is not None and driver[0] == socket.gethostname():
        threading.Thread(target=_end_with, args=(driver[1],), daemon=True, name="vmatte-driver-watch").start()

    share = max(1, (os.cpu_count() or 1) // workers)
    import torch

    torch.set_num_threads(share)
    _SETUP.recipe, _SETUP.progress = Recipe(matting), progress
    _SETUP.encode_workers = max(1, default_workers() // workers)


def _end_with(pid: int, every: float = 0.5) -> None:
    """End this process, at once, when process `pid` has ended (or is a zombie no one has reaped yet)."""
    while True:
        time.sleep(every)
        if not process_alive(pid):
            os._exit(137)


def driver_identity() -> tuple[str, int]:
    """(host name, process id) of this process, for init's `driver`."""
    return socket.gethostname(), os.getpid()


def run_task(task: Task) -> dict[str, Any]:
    """Matte one task; returns frames written, the cuts found (frame numbers) and seconds taken."""
    from ..clip import convert_clip
    from ..io.frames import check_size
    from ..io.sources import open_source
    from ..weights import resolve_device

    if _SETUP.recipe is None or _SETUP.recipe.matting != task.matting:  # init's options are every task's
        _SETUP.recipe = Recipe(task.matting)
    progress = _Progress(_SETUP.progress, task.label)
    with open_source(task.input, stream=task.out.stream, device=resolve_device(task.matting.device)) as source:
        check_size(source.info, task.out.max_pixels)
        summary = convert_clip(source, {r: Path(p) for r, p in task.outputs.items()}, _SETUP.recipe, task.out,
                               task.segment, task.preroll, (progress,), _SETUP.encode_workers)
    progress.flush()
    result = {"frames": summary.frames, "cuts": summary.cuts, "seconds": summary.seconds}
    if task.done is not None:
        seg = task.segment
        if summary.frames != seg.end - seg.start:
            from ..errors import VmatteError

            raise VmatteError(f"{task.label}: {summary.frames} of {seg.end - seg.start} frames were matted")
        from ..io.atomic import write_atomically

        text = json.dumps({**result, "start": seg.start, "end": seg.end})
        write_atomically(Path(task.done), lambda tmp: tmp.write_text(text))
    return result
