"""Live's automatic downsample ratio: the best quality whose step keeps up with the source, measured."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from ..weights import LoadedModel
from . import Matte, Matter, auto_downsample_ratio


def keep_up_ratio(model: LoadedModel, backend: str, width: int, height: int, fps: float, subject: str,
                  finish: Callable[[Matte], object], quiet: bool = False, headroom: float = 0.6,
                  min_side: int = 96) -> Matter:
    """A Matter at the best quality whose step (network + `finish`, the compositing) takes at most
    `headroom` of the frame interval (1/fps seconds) on this machine, measured now on a test picture.

    It tries downsample ratios from RVM's guidance down to an internal short side of `min_side`
    pixels; then the same at half the frame size (Matter's `scale`), where the full-size refiner is
    what does not keep up; failing both, the fastest it tried."""
    y, x = np.mgrid[:height, :width]
    probe = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x ^ y) & 255], -1)
    probe = probe.astype(np.uint8)
    budget = headroom / fps
    guide = auto_downsample_ratio(width, height, subject)
    tries = []
    for scale in (1.0, 0.5):
        side = min(width, height) * scale
        floor = min(1.0, min_side / side)
        top = min(1.0, guide / scale)
        tries += [(scale, r) for r in sorted({top, floor} | {r for r in (0.5, 0.375, 0.25, 0.2) if floor < r < top},
                                             reverse=True)]
    fastest: tuple[float, float, float, Matter] | None = None
    if not quiet:
        print(f"vmatte live: measuring which downsample ratio keeps up with {fps:.3g} fps at {width}x{height} on "
              "this machine (a few seconds; --downsample-ratio skips it)", file=sys.stderr, flush=True)
    for scale, r in tries:
        matter = Matter(model, r, backend, scale)
        matter.prepare(width, height)
        times = []
        for _ in range(6):
            t0 = time.perf_counter()
            finish(matter(probe))
            times.append(time.perf_counter() - t0)
        step = float(np.median(times[1:]))
        if fastest is None or step < fastest[0]:
            fastest = (step, scale, r, matter)
        if step <= budget:
            break
    step, scale, r, matter = fastest
    if not quiet and (scale, r) != tries[0]:
        keeps = "keeps up with" if step <= budget else "is the fastest found; it may not keep up with"
        at = "" if scale == 1.0 else f" on frames scaled by {scale:g}"
        print(f"vmatte live: downsample ratio {r:.3g}{at} ({step * 1000:.0f} ms a frame) {keeps} "
              f"{fps:.3g} fps here (RVM's guidance: {guide:.3g}); pass --downsample-ratio to choose",
              file=sys.stderr)
    matter.reset()
    return matter
