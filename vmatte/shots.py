"""Shot-aware matting: hard cuts reset the recurrent state, and each shot starts settled.

Plain RVM starts every clip from an empty state (holes and soft edges for the first frames) and
carries one shot's state into the next after a cut (a ghost of the old subject). In batch mode
vmatte looks ahead: at the start of the clip and after every detected cut it runs the shot's first
`warmup` frames once to settle the state, then starts the shot again from that state. Live mode
cannot look ahead: it only resets at a cut.
"""
from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .engine import Matte, Matter
from .io.frames import Frame
from .scenecut import CutDetector

if TYPE_CHECKING:  # a type only: scale.plan is not imported at run time
    from .scale.plan import Segment


class Shots(Protocol):
    """A shot strategy: how the network runs over a clip's frames (recipe.Recipe.shots picks one).
    pipeline.run takes any of them: SettledShots (one stream, settled shots, resets at cuts), SegmentShots
    (a worker's segment of that), bothways.BothWays (--effort best)."""

    matter: Matter  # the stream a report describes (ratio, backend, device, precision)
    cuts: list[int]  # frame indices where a new shot was detected, filled in as frames are matted

    def run(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Matte, bool]]:
        """(frame, its matte, starts a new shot) for every frame, in order."""
        ...


class SettledShots:
    """Wraps a Matter; `run(frames)` yields (frame, matte, starts_new_shot) for every frame, in order."""

    def __init__(self, matter: Matter, warmup: int = 15, scene_cuts: bool = True) -> None:
        """warmup: frames each shot is settled on first (0 for live, which cannot look ahead)."""
        if warmup < 0:
            raise ValueError("warmup must be >= 0 frames")
        self.matter = matter
        self.warmup = warmup
        self.detector = CutDetector() if scene_cuts else None
        self.cuts: list[int] = []  # frame indices where a new shot was detected

    def _is_cut(self, f: Frame) -> bool:
        cut = self.detector is not None and self.detector(f.image)
        if cut:
            self.cuts.append(f.index)
        return cut

    def run(self, frames: Iterable[Frame], primed: bool = False,
            resume: bool = False) -> Iterator[tuple[Frame, Matte, bool]]:
        """primed: the detector has already seen the first frame. resume: the matter's state was loaded
        for the first frame (a segment that continues a shot), so it is neither reset nor settled."""
        it = iter(frames)
        start = next(it, None)
        if start is not None and not primed:
            self._is_cut(start)  # primes the detector; the first frame is never a cut
        is_cut = False
        while start is not None:
            if resume:
                resume = False
                yield start, self.matter(start.image), False
            else:
                head, nxt = [start], None
                while len(head) < max(1, self.warmup):
                    f = next(it, None)
                    if f is None:
                        break
                    if self._is_cut(f):
                        nxt = f
                        break
                    head.append(f)
                self.matter.reset()
                if self.warmup:
                    for f in head:  # settle the state on the shot's own first frames
                        self.matter.settle(f.image)
                for f in head:
                    yield f, self.matter(f.image), f is start and is_cut
                start, is_cut = nxt, nxt is not None
                if start is not None:
                    continue
            start = None
            for f in it:
                if self._is_cut(f):
                    start, is_cut = f, True
                    break
                yield f, self.matter(f.image), False


class SegmentShots:
    """SettledShots over one segment. The frames before it only prime the cut detector; then either the
    state one process had before `start` is loaded (the planner's), or, at a planned cut the detector
    confirms, the shot starts afresh, or else a pre-roll runs through the network without output.
    Frames [start, end) come out."""

    def __init__(self, shots: SettledShots, segment: Segment, preroll: int) -> None:
        self.shots, self.segment, self.preroll = shots, segment, preroll

    @property
    def cuts(self) -> list[int]:
        return [c for c in self.shots.cuts if self.segment.start <= c < self.segment.end]

    @property
    def matter(self) -> Matter:
        return self.shots.matter

    def run(self, frames: Iterable[Any]) -> Iterator[tuple]:
        seg, shots = self.segment, self.shots
        det = shots.detector
        it = iter(frames)

        def prime(f, until: int, keep: list | None = None):
            """Show the detector the frames before `until` (kept in `keep`); the first frame at or after it."""
            while f is not None and f.index < until:
                if det is not None:
                    det(f.image)
                if keep is not None:
                    keep.append(f)
                f = next(it, None)
            return f

        primed = resume = False
        if seg.state is not None:  # the exact state one process has here: no pre-roll
            f = prime(next(it, None), seg.start)
            if f is None:
                return
            if det is not None:
                det(f.image)  # one process did not cut here; the detector sees the frame all the same
            shots.matter.set_state(list(seg.state), f.image)
            primed = resume = True
        else:
            f = prime(next(it, None), max(0, seg.start - self.preroll))
            if f is None:
                return
            if seg.at_cut and det is not None:  # skip the pre-roll if the detector confirms the cut
                before, held = copy.deepcopy(det), []
                f = prime(f, seg.start, held)
                if f is not None and det(f.image):
                    shots.cuts.append(f.index)
                    primed = True
                else:  # not a cut to this detector after all: run the pre-roll as for any segment
                    shots.detector = before
                    it = itertools.chain(held[1:], [f] if f is not None else [], it)
                    f = held[0] if held else f
        if f is None:
            return
        for item in shots.run(itertools.chain([f], it), primed, resume):
            index = item[0].index
            if index >= seg.end:
                return
            if index >= seg.start:
                yield item
