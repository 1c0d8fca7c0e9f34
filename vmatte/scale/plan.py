"""Work units: a job is a list of files; a long file is cut into segments, at hard cuts where possible.

A segment writes frames [start, end). Its worker decodes from `feed`: the frames before `start` prime
the cut detector (so it decides cuts as one process would). The planner runs the network over the clip
as one process would and hands each segment the recurrent state before `start`, so its output equals
one process's; where `start` is a hard cut the state resets there anyway. Without that state (a cut
planned here that the worker's detector does not confirm), `preroll` frames before `start` run
through the network without output to approximate it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VmatteError
from ..io.encoding import JOINABLE, encoding_for
from ..io.sequences import is_pattern
from ..io.sinks import is_image_target
from ..io.video_source import VideoFileSource
from ..options import is_url
from ..scenecut import CutDetector

DETECTOR_HISTORY = 31  # frames the cut detector looks back on (CutDetector's history), plus the one before


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of one file (numbers from 0), decoded from frame `feed`, whose timestamp is
    `feed_pts` (source time base). at_cut: the planner found a hard cut at `start`. state: the network's
    recurrent state one process would have at `start` (see segments())."""

    number: int
    start: int
    end: int
    feed: int
    feed_pts: int
    at_cut: bool = False
    state: tuple | None = None  # the recurrent state before `start` (float32 arrays), when known


@dataclass
class FilePlan:
    """One input and its outputs (role -> final path). Not split: `segments` is empty and one worker
    writes the outputs directly; `whole_because` says why."""

    input: str
    outputs: dict[str, str]
    frames: int | None = None
    segments: list[Segment] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)  # every frame's timestamp, for the join
    whole_because: str | None = None

    @property
    def split(self) -> bool:
        return self.whole_because is None


def why_whole(input: str, outputs: dict[str, str], report: bool) -> str | None:
    """Why this file is matted by one worker in one piece (None: it can be split)."""
    if is_url(input):
        return "a URL is read once, from its start"
    if not Path(input).is_file():
        return "an image sequence is read in one piece"
    if report:
        return "the quality report follows the whole clip"
    from ..roles import LAYOUT

    for role, target in outputs.items():
        if is_image_target(target) and is_pattern(target):
            continue
        if encoding_for(target, LAYOUT[role]).codec not in JOINABLE:
            return f"{Path(target).name}: an inter-frame codec, encoded in one piece"
    return None


def segments(plan: FilePlan, stream: int | None, fps: float, seconds: float, preroll: int, stop=None,
             make_shots=None, device=None, cuts_only: bool = False) -> Iterator[Segment]:
    """Decode the file once and yield its segments as soon as each is decided: workers start on the
    first while the rest is read. Fills in plan.pts and plan.frames at the end. Reading it whole also
    finds a damaged or truncated file. `stop` (a threading.Event) ends it early.

    make_shots(source) -> a SettledShots for the opened source: the network runs here on every frame, with the
    very calls one process makes (settling, resets at cuts), and each segment that does not start at a
    cut carries the recurrent state the frame before it left: its worker continues from it, and its
    output equals one process's.
    Without it, a worker approximates that state with a pre-roll (RVM's state has a long memory: even
    60 frames of pre-roll can leave parts of the matte flipped). device: the engine's, so frames are
    decoded as the workers decode them (YUV planes for a CUDA engine). cuts_only: a segment ends only at a
    hard cut (--effort best: every stream starts afresh there), so a clip without cuts is one segment."""
    length = max(1, round(seconds * fps))
    half = max(1, length // 2)
    pts, cuts, start, at_cut, number = plan.pts, [], 0, False, 0
    saved = state = None  # the state before frame start + length; before frame start

    def cut_at(end: int) -> Segment:
        feed = max(0, start - preroll - DETECTOR_HISTORY)
        return Segment(number, start, end, feed, pts[feed], at_cut, None if at_cut else state)

    with VideoFileSource(plan.input, stream, device) as src:
        shots = make_shots(src) if make_shots is not None else None
        if shots is not None:
            frames, cuts = (f for f, _, _ in shots.run(src.frames(stop))), shots.cuts
        else:
            frames = _detected(src.frames(stop), CutDetector(), cuts)
        for f in frames:
            pts.append(f.pts)
            if shots is not None:
                if f.index == start + length - 1:  # the state a segment from start + length would need
                    now = shots.matter.get_state()
                    saved = tuple(now) if now is not None else None
            due = start + length + half  # far enough to choose this segment's end (for cuts_only: or later)
            if len(pts) == due or (cuts_only and len(pts) > due):
                near = [c for c in cuts if start + half <= c <= start + length + half]
                later = [c for c in cuts if c > start + half]
                if not near and cuts_only and not later:
                    continue
                end = min(near, key=lambda c: abs(c - start - length)) if near else \
                    later[0] if cuts_only else start + length
                if plan.frames is None or plan.frames - end >= half:
                    yield cut_at(end)
                    start, at_cut, number, state = end, bool(near) or cuts_only, number + 1, saved
        if stop is not None and stop.is_set():
            return
        if src.rebuilt:
            raise VmatteError(f"{plan.input}: its timestamps had to be rebuilt; matte it with --workers 1")
    plan.frames = len(pts)
    yield cut_at(len(pts))


def _detected(frames, detector, cuts: list[int]):
    """The frames, unchanged; the cuts among them appended to `cuts`."""
    for f in frames:
        if detector(f.image):
            cuts.append(f.index)
        yield f


def identity(plan: FilePlan, options: dict) -> str:
    """What a resumed run must share with the run that left segments: the input's size and time, the
    outputs and the options (which, with the input, decide the segments)."""
    p = Path(plan.input)
    st = p.stat()
    doc = {"input": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "outputs": plan.outputs,
           "options": options}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
