"""What a worker process (or Ray actor) runs: the engine loaded once, then task after task, each a whole
file or one segment of one, through the same path as one process (batch._convert_one)."""
from __future__ import annotations

import copy
import itertools
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..options import MattingOptions, OutputOptions
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


class SegmentShots:
    """ShotMatter over one segment: the frames before the pre-roll only prime the cut detector, the
    pre-roll runs through the network without output, and frames [start, end) come out."""

    def __init__(self, shots, segment: Segment, preroll: int) -> None:
        self.shots, self.segment, self.preroll = shots, segment, preroll

    @property
    def cuts(self) -> list[int]:
        return [c for c in self.shots.cuts if self.segment.start <= c < self.segment.end]

    def run(self, frames: Iterable[Any]) -> Iterator[tuple]:
        seg, shots = self.segment, self.shots
        det = shots.detector
        it = iter(frames)
        pre = max(0, seg.start - self.preroll)
        f = next(it, None)
        while f is not None and f.index < pre:
            if det is not None:
                det(f.image)
            f = next(it, None)
        if f is None:
            return
        primed = resume = False
        source: Iterator = itertools.chain([f], it)
        if seg.state is not None:  # the exact state one process has here: no pre-roll
            while f is not None and f.index < seg.start:
                if det is not None:
                    det(f.image)
                f = next(it, None)
            if f is None:
                return
            if det is not None:
                det(f.image)  # one process did not cut here; the detector sees the frame all the same
            shots.matter.set_state(list(seg.state), f.image)
            source, primed, resume = itertools.chain([f], it), True, True
        elif seg.at_cut and det is not None:  # skip the pre-roll if the detector confirms the cut
            before, held = copy.deepcopy(det), []
            while f is not None and f.index < seg.start:
                det(f.image)
                held.append(f)
                f = next(it, None)
            if f is not None and det(f.image):
                shots.cuts.append(f.index)
                source, primed = itertools.chain([f], it), True
            else:  # not a cut to this detector after all: run the pre-roll as for any segment
                shots.detector = before
                source = itertools.chain(held, [f] if f is not None else [], it)
        for item in shots.run(source, primed, resume):
            index = item[0].index
            if index >= seg.end:
                return
            if index >= seg.start:
                yield item


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


_STATE: dict[str, Any] = {}


def init(matting: MattingOptions, progress: Any, workers: int) -> None:
    """Set up a worker: its share of the CPU threads (torch and the encoder pool) among `workers`, and
    where it reports progress. The engine loads on the first task and stays."""
    from ..io import encoder_pool

    share = max(1, (os.cpu_count() or 1) // workers)
    encoder_pool.ENCODE_WORKERS = max(1, encoder_pool.default_workers() // workers)
    import torch

    torch.set_num_threads(share)
    _STATE.update(matting=matting, progress=progress, model=None)


def _model():
    if _STATE.get("model") is None:
        from ..weights import load_model

        m = _STATE["matting"]
        _STATE["model"] = load_model(m.model, m.weights, m.device, m.precision)
    return _STATE["model"]


def run_task(task: Task) -> dict[str, Any]:
    """Matte one task; returns frames written, the cuts found (frame numbers) and seconds taken."""
    from ..batch import _convert_one
    from ..io.frames import check_size
    from ..io.sources import open_source

    progress = _Progress(_STATE.get("progress"), task.label)
    with open_source(task.input, stream=task.out.stream) as source:
        check_size(source.info, task.out.max_pixels)
        summary = _convert_one(source, {r: Path(p) for r, p in task.outputs.items()}, _model(), task.matting,
                               task.out, task.segment, task.preroll, (progress,))
    progress.flush()
    result = {"frames": summary.frames, "cuts": summary.cuts, "seconds": summary.seconds}
    if task.done is not None:
        seg = task.segment
        if summary.frames != seg.end - seg.start:
            from ..errors import VmatteError

            raise VmatteError(f"{task.label}: {summary.frames} of {seg.end - seg.start} frames were matted")
        done = Path(task.done)
        tmp = done.with_name(f".{done.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps({**result, "start": seg.start, "end": seg.end}))
        tmp.replace(done)
    return result
