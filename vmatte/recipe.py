"""The recipe: the one place where the checked option sets become a run's objects.

Every driver (one clip, a folder of clips, photos, live, a scale-out worker or planner, export) asks a
`Recipe` for what it needs instead of reading `MattingOptions` itself:

- the network, loaded once (`model`; `load_network` is the package's only call of `weights.load_model`);
- the internal ratio for a frame size (`ratio`), a `Matter` at a ratio (`matter`), live's start-up
  `Matter` (`live_matter`);
- the edge controls (`edges`) and the background (`background`, with each kind of run's default
  declared once in `options.BACKGROUND_DEFAULTS`);
- what an input must pass before the model loads (`check_input`), and the shot strategy for a source
  and segment (`shots`, a `shots.Shots`) and how scale-out may split a clip (`split_rule`).

`effort` and an 'auto' downsample ratio are read here and nowhere else, so a new effort level is one
branch in `shots` (and `EFFORT_SCALE`) plus one `Shots` class. No torch at import time.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import VmatteError
from .options import BACKGROUND_DEFAULTS, MattingOptions, OutputOptions, is_url

if TYPE_CHECKING:  # types only: the engine (torch) loads when a run starts
    from .compose import Background, EdgeControls
    from .engine import Matte, Matter
    from .io.frames import Source
    from .scale.plan import Segment
    from .shots import Shots
    from .weights import LoadedModel

# --effort: the auto ratio's multiple of RVM's guidance. Measured on ground-truth composites at 1920x1080
# (benchmarks/effort_probe.py): half is ~3x faster and +83% MAD; twice is -19% MAD, -17% dtSSD.
EFFORT_SCALE = {"fast": 0.5, "default": 1.0, "best": 2.0}
# Photos: the network's internal short side, pixels, with --downsample-ratio auto (benchmarks/still_mode.py:
# mean MAD x1e3 against P3M-Net's mattes of the shared portraits 7.07 at 512, video mode's ratio 17.43).
STILL_SHORT_SIDE = 512
KINDS = ("clip", "photo", "live", "export")  # the kinds of run (all but export composite over a background)
# --background transparent where a kind of run cannot carry it: what to write instead.
TRANSPARENT_REFUSALS = {
    "clip": "--background transparent is for live sinks; convert writes alpha with --rgba",
    "photo": "--background transparent: write --rgba (.png, .webp or .tif) for a cut-out",
}


def load_network(matting: MattingOptions, device: str | None = None) -> LoadedModel:
    """The network `matting` names (model, weights file, device, precision), loaded and checked; `device`
    overrides matting's (export builds on the CPU, at full precision)."""
    from .weights import load_model

    if device is not None:
        return load_model(matting.model, matting.weights, device)
    return load_model(matting.model, matting.weights, matting.device, matting.precision)


class Recipe:
    """What one run of `kind` ('clip', 'photo', 'live' or 'export') makes of `matting`. Cheap to build:
    the network loads on the first use of `model`, and stays."""

    def __init__(self, matting: MattingOptions, kind: str = "clip") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if kind == "live" and matting.effort == "best":
            raise VmatteError("--effort best reads a file's later frames; live is causal: use --effort fast or "
                              "default")
        self.matting, self.kind = matting, kind
        self.best = matting.effort == "best" and kind == "clip"  # photos: still mode is their best setting
        self._model: LoadedModel | None = None

    # ---- the network ----

    @property
    def model(self) -> LoadedModel:
        """The network, loaded on first use and kept for every later clip, photo or segment."""
        if self._model is None:
            self._model = load_network(self.matting)
        return self._model

    def ratio(self, width: int, height: int) -> float:
        """The internal downsample ratio for frames of width x height pixels: as given, or for 'auto',
        RVM's guidance for --subject times EFFORT_SCALE[--effort] (photos: STILL_SHORT_SIDE)."""
        r = self.matting.downsample_ratio
        if r != "auto":
            return float(r)
        if self.kind == "photo":
            return min(1.0, STILL_SHORT_SIDE / min(width, height))
        from .engine import auto_downsample_ratio

        return auto_downsample_ratio(width, height, self.matting.subject, EFFORT_SCALE[self.matting.effort])

    def matter(self, ratio: float) -> Matter:
        """A fresh `Matter` (one stream's state) at `ratio` on the recipe's backend."""
        from .engine import Matter

        return Matter(self.model, ratio, self.matting.backend)

    def live_matter(self, width: int, height: int, fps: float, measure: bool,
                    finish: Callable[[Matte], object], quiet: bool, cache_key: dict[str, Any]) -> Matter:
        """Live's Matter for frames of width x height at `fps`, prepared for that size. With 'auto' and
        `measure` (a live camera or stream): the best ratio that keeps up on this machine, the network
        plus `finish` (the compositing) timed once and then cached (engine.probe)."""
        m = self.matting
        if m.downsample_ratio == "auto" and measure:
            from .engine.probe import keep_up_ratio

            return keep_up_ratio(self.model, m.backend, width, height, fps, self.ratio(width, height), finish, quiet,
                                 cache_key=cache_key)
        matter = self.matter(self.ratio(width, height))
        matter.prepare(width, height)
        return matter

    # ---- the look ----

    def edges(self) -> EdgeControls:
        """--matte-choke, --feather and --despill, applied to every matte before any output is made."""
        from .compose import EdgeControls

        return EdgeControls(self.matting.matte_choke, self.matting.feather, self.matting.despill)

    @property
    def background_spec(self) -> str:
        """--background as given, or this kind of run's default (options.BACKGROUND_DEFAULTS)."""
        return self.matting.background or BACKGROUND_DEFAULTS[self.kind]

    @property
    def backdrop_file(self) -> str | None:
        """The background when it names a file (an image or video): an input the outputs must not replace."""
        spec = self.matting.background
        return spec if spec and Path(spec).is_file() else None

    def background(self) -> Background:
        """The background, opened (an image or video file is read here)."""
        from .compose import parse_background

        return parse_background(self.background_spec, self.matting.background_fit)

    def check_background(self, used: bool = True) -> None:
        """Refuse now, before the model loads, a background this kind of run cannot use, or (where it is
        `used`: photos use it only for --composite) a file that cannot be read."""
        if self.matting.background == "transparent" and self.kind in TRANSPARENT_REFUSALS:
            raise VmatteError(TRANSPARENT_REFUSALS[self.kind])
        if used and self.backdrop_file is not None:
            self.background()

    # ---- the shots ----

    def check_input(self, input: str, stream: int | None = None) -> None:
        """Refuse, before any model loads, an input this recipe cannot matte: --effort best reads a video
        file again, backwards, so not a URL, an image sequence, or a file without a seek index or with
        missing or repeated timestamps."""
        if not self.best:
            return
        if is_url(input) or not Path(input).is_file():
            raise VmatteError(f"--effort best reads a video file again, backwards, and {input} is "
                              f"{'a URL' if is_url(input) else 'an image sequence'}; use --effort default")
        from .io.video_source import seek_index

        why = seek_index(input, stream)[2]
        if why is not None:
            raise VmatteError(f"--effort best: {Path(input).name}: {why}; matte it with --effort default")

    def shots(self, source: Source, out: OutputOptions, segment: Segment | None = None, preroll: int = 0) -> Shots:
        """How the network runs over `source`'s frames (or one scale-out `segment` of them, `preroll`
        frames first where its state is not known): each shot settled on its first --warmup frames and
        reset at hard cuts (shots.SettledShots); --effort best: forward, backward and mirrored
        (bothways.BothWays)."""
        reset = self.matting.scene_cuts == "reset"
        ratio = self.ratio(source.info.width, source.info.height)
        if self.best:
            from .bothways import BothWays

            span = {} if segment is None else dict(start=segment.start, end=segment.end, feed=segment.feed,
                                                   feed_pts=segment.feed_pts, at_cut=segment.at_cut)
            return BothWays(self.model, ratio, self.matting.backend, out.warmup, reset, source.reopen, **span)
        from .shots import SegmentShots, SettledShots

        shots = SettledShots(self.matter(ratio), out.warmup, reset)
        return shots if segment is None else SegmentShots(shots, segment, preroll)

    def split_rule(self) -> str:
        """How scale-out may split a clip: 'any' (segments anywhere, states carried), 'cuts' (only at hard
        cuts, where every stream starts afresh) or 'whole' (one worker)."""
        if not self.best:
            return "any"
        return "whole" if self.matting.scene_cuts == "ignore" else "cuts"

    def notes(self) -> dict[str, str]:
        """What the quality report adds to its ratio and shots rows for this recipe."""
        m = self.matting
        ratio = f" (auto, --subject {m.subject}, --effort {m.effort})" if m.downsample_ratio == "auto" else ""
        shots = "; each shot matted forward, backward and mirrored, averaged (--effort best)" if self.best else ""
        return {"ratio": ratio, "shots": shots}
