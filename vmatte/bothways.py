"""`--effort best` for a video file: each shot matted forward, backward and mirrored, the three averaged.

RVM is causal: a frame's matte sees only the frames before it. In a file the later frames are there
too, and an overnight render can spend more network time on a frame. Measured on ground-truth
composites (benchmarks/effort_probe.py, docs/figures.md), the mean of a forward, a backward and a
mirrored stream beats any one of them on MAD and dtSSD in every condition tried.

Memory does not grow with the shot. The span is read three times:
1. cuts: decoded once, forward, through the cut detector one process uses (scenecut.CutDetector): the
   shots, and every frame's timestamp for seeking;
2. backward: each shot from its last frame to its first, a window of frames at a time, each window
   found again by seeking (VideoFileSource.frames_from); the backward state at every chunk boundary
   is kept in a temporary folder (float16: 6.3 MB every 19 frames at 1080p, ratio 0.5);
3. output: the frames in order, a chunk at a time: the backward stream runs again over the chunk from
   the state kept at its end, the forward and mirrored streams carry on, and the three are averaged.
So a frame costs four network steps (the backward one twice) and three decodes; the frames and
backward mattes held at once are bounded by MEMORY, whatever the length of the clip.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .engine import Matte, Matter
from .errors import VmatteError, log
from .io.frames import Frame, one_size
from .pixels import to_tensor
from .scenecut import CutDetector

MEMORY = 2**29  # bytes of pictures (3 a pixel) and backward mattes (float16 RGB, float alpha: 10 a pixel) held at once
KEEP = np.float16  # the kept backward states' type, on disk


def chunk_frames(width: int, height: int) -> int:
    """Frames between kept backward states, which step 3 holds at once: what MEMORY allows, 8 to 64."""
    return max(8, min(64, MEMORY // (width * height * 13)))


def bounds(start: int, end: int, chunk: int, warmup: int) -> list[int]:
    """The chunk boundaries of the shot [start, end), both ends included. The first chunk also holds the
    `warmup` frames the forward streams settle on."""
    first = min(end, start + max(chunk, warmup))
    return [start, *range(first, end, chunk), end]


class BothWays:
    """Like shots.SettledShots (`run(frames)` yields (frame, matte, starts_new_shot) in order; `cuts`,
    `matter`) for frames [start, end) of a video file that can be read again and sought in.

    reopen() opens the file again (io.video_source.VideoFileSource) for steps 1 and 2. A scale-out
    segment gives start, end (None: to the end of the file), and feed, feed_pts: the frame its reading
    starts from, whose timestamp is feed_pts; frames before start only prime the cut detector, so it
    decides as one process does. A segment for this mode always starts a shot (at_cut: at a hard cut)."""

    def __init__(self, model: Any, ratio: float, backend: str, warmup: int, scene_cuts: bool,
                 reopen: Callable[[], Any], start: int = 0, end: int | None = None, feed: int = 0,
                 feed_pts: int = 0, at_cut: bool = False) -> None:
        self.forward, self.backward, self.mirror = (Matter(model, ratio, backend) for _ in range(3))
        self.matter = self.forward  # what a report describes
        self.warmup, self.scene_cuts, self.reopen = warmup, scene_cuts, reopen
        self.start, self.end, self.feed, self.feed_pts = start, end, feed, feed_pts
        self.cuts: list[int] = [start] if at_cut else []  # frame indices where a new shot starts
        self.chunk = self.window = 8

    def run(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Matte, bool]]:
        """`frames`: the span's frames in order (a segment's may start at `feed`: those before `start`
        are passed over)."""
        with tempfile.TemporaryDirectory(prefix="vmatte-best-") as tmp:
            with self.reopen() as src:
                log.info(f"--effort best: reading {src.name} for its cuts, then backwards")
                shots, pts = self._read(src)
                self._backward(src, shots, pts, Path(tmp))
            it = (f for f in frames if f.index >= self.start)
            for s, e in shots:
                b = bounds(s, e, self.chunk, self.warmup)
                for lo, hi in zip(b, b[1:]):
                    held = [next(it, None) for _ in range(hi - lo)]
                    for k, f in enumerate(held):
                        if f is None or f.index != lo + k or f.pts != pts[lo + k]:
                            raise VmatteError(f"frame {lo + k} read differently the second time ({self._where}); "
                                              "matte it with --effort default")
                    yield from self._chunk(held, lo == s, self._kept(Path(tmp), hi))
            if self.end is None and next(it, None) is not None:
                raise VmatteError(f"{self._where} gave more frames the second time it was read; "
                                  "matte it with --effort default")

    # ---- step 1: the shots and the timestamps ----

    def _read(self, src: Any) -> tuple[list[tuple[int, int]], dict[int, int]]:
        self._where = src.name
        info = src.info
        frames = one_size(src.frames() if self.feed == 0 else src.frames_from(self.feed, self.feed_pts), info)
        detector = CutDetector() if self.scene_cuts else None
        pts: dict[int, int] = {}
        for f in frames:
            if self.end is not None and f.index >= self.end:
                break
            if detector is not None and detector(f.image) and f.index > self.start:
                self.cuts.append(f.index)
            if f.index >= self.start:
                pts[f.index] = f.pts
        if src.rebuilt:
            raise VmatteError(f"{src.name}: its timestamps had to be rebuilt, so frames cannot be found again by "
                              "seeking; matte it with --effort default")
        if not pts:
            return [], pts
        edges = [self.start, *(c for c in self.cuts if c > self.start), max(pts) + 1]
        self.chunk = chunk_frames(info.width, info.height)
        self.window = max(self.chunk, min(64, MEMORY // (info.width * info.height * 3)))
        return list(zip(edges, edges[1:])), pts

    # ---- step 2: the backward pass, keeping its state at every chunk boundary ----

    def _backward(self, src: Any, shots: list[tuple[int, int]], pts: dict[int, int], folder: Path) -> None:
        m = self.backward
        for s, e in shots:
            marks = set(bounds(s, e, self.chunk, self.warmup)[1:-1])
            hi, settled = e, False
            while hi > s:
                lo = max(s, hi - self.window)
                if not settled:  # the first window holds the frames the backward stream settles on
                    lo = max(s, min(lo, e - self.warmup))
                images = self._window(src, lo, hi, pts)
                if not settled:
                    m.reset()
                    for image in reversed(images[len(images) - min(self.warmup, e - s):]):
                        m.settle(image)
                    self._keep(folder, e, m if self.warmup else None)
                    settled = True
                for i in range(hi - 1, lo - 1, -1):
                    if i + 1 in marks:
                        self._keep(folder, i + 1, m)
                    m(images[i - lo])
                hi = lo

    def _window(self, src: Any, lo: int, hi: int, pts: dict[int, int]) -> list:
        """The pictures of frames [lo, hi), found by seeking, each checked against step 1's timestamp."""
        out: list = []
        for f in src.frames_from(lo, pts[lo]):
            if f.pts != pts[lo + len(out)]:
                raise VmatteError(f"{src.name}: seeking back to frame {lo} gave frame {f.index} another timestamp "
                                  f"than the first reading; matte it with --effort default")
            out.append(f.image)
            if len(out) == hi - lo:
                return out
        raise VmatteError(f"{src.name}: seeking back to frame {lo} gave {len(out)} of its {hi - lo} frames; "
                          "matte it with --effort default")

    @staticmethod
    def _keep(folder: Path, index: int, m: Matter | None) -> None:
        """The backward state entering frame index - 1 (None: a fresh state), in `folder`."""
        state = m.get_state() if m is not None else None
        arrays = [a.astype(KEEP) for a in state] if state is not None else []
        np.savez(folder / f"{index}.npz", *arrays)

    @staticmethod
    def _kept(folder: Path, index: int) -> list[np.ndarray] | None:
        with np.load(folder / f"{index}.npz") as z:
            arrays = [z[f"arr_{i}"].astype(np.float32) for i in range(len(z.files))]
        return arrays or None

    # ---- step 3: one chunk, the three streams averaged ----

    def _chunk(self, held: list[Frame], shot_start: bool, state: list[np.ndarray] | None) -> Iterator[tuple]:
        fwd, bwd, mir = self.forward, self.backward, self.mirror
        if state is None:
            bwd.reset()
        else:
            bwd.set_state(state, held[0].image)
        back: list[tuple[torch.Tensor, torch.Tensor]] = [None] * len(held)  # type: ignore[list-item]
        for j in range(len(held) - 1, -1, -1):
            b = bwd(held[j].image)
            back[j] = (b.fgr.to(torch.float16), b.pha)  # the colour to float16: 1/2048 at most, 1/6 of a 10-bit step
        if shot_start:
            for m, flip in ((fwd, False), (mir, True)):
                m.reset()
                for f in held[:self.warmup]:
                    m.settle(self._mirrored(f.image, m) if flip else f.image)
        cuts = set(self.cuts)
        for f, (fgr_b, pha_b) in zip(held, back):
            a = fwd(f.image)
            c = mir(a.src.flip(-1))
            fgr = (a.fgr + fgr_b.to(a.fgr.dtype) + c.fgr.flip(-1)) / 3
            pha = (a.pha + pha_b + c.pha.flip(-1)) / 3
            yield f, Matte(a.src, fgr, pha), f.index in cuts and f.index > self.start

    @staticmethod
    def _mirrored(image: Any, m: Matter) -> torch.Tensor:
        return to_tensor(image, m.device, m.dtype).flip(-1)
