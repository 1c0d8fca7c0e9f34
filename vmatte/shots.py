"""Shot-aware matting: hard cuts reset the recurrent state, and each shot starts settled.

Plain RVM starts every clip from an empty state (holes and soft edges for the first frames) and
carries one shot's state into the next after a cut (a ghost of the old subject). In batch mode
vmatte looks ahead: at the start of the clip and after every detected cut it runs the shot's first
`warmup` frames once to settle the state, then starts the shot again from that state. Live mode
cannot look ahead: it only resets at a cut.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from .engine import Matte, Matter
from .io.frames import Frame
from .scenecut import CutDetector


class ShotMatter:
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
