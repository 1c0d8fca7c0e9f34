"""Live's automatic downsample ratio: the best quality whose step keeps up with the source, measured once
per machine and settings, then kept in the cache ($VMATTE_HOME/engines/probe-*.json, sha256-checked)."""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import live_log, log
from ..weights import LoadedModel
from . import Matte, Matter


def _cached(key: dict[str, Any]) -> tuple[Path, dict | None]:
    """Where the measurement for `key` (with this machine and vmatte's version) is kept, and what was
    measured there before (None when nothing trustworthy is)."""
    from ..about import machine, version
    from ..cache import cache_dir, verified

    text = json.dumps({**key, "machine": machine(), "vmatte": version()}, sort_keys=True, default=str)
    path = cache_dir() / "engines" / f"probe-{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    try:
        found = json.loads(path.read_text()) if verified(path) else None
        if found is not None and not (0 < float(found["ratio"]) <= 1 and float(found["scale"]) in (0.5, 1.0)):
            found = None
    except (OSError, ValueError, KeyError, TypeError):
        found = None
    return path, found


def keep_up_ratio(model: LoadedModel, backend: str, width: int, height: int, fps: float, guide: float,
                  finish: Callable[[Matte], object], quiet: bool = False, headroom: float = 0.6,
                  min_side: int = 96, cache_key: dict[str, Any] | None = None) -> Matter:
    """A Matter at the best quality whose step (network + `finish`, the compositing) takes at most
    `headroom` of the frame interval (1/fps seconds) on this machine, measured now on a test picture.

    It tries downsample ratios from `guide` (the recipe's auto ratio for this size) down to an internal
    short side of `min_side` pixels; then the same at half the frame size (Matter's `scale`), where the
    full-size refiner is what does not keep up; failing both, the fastest it tried. With `cache_key`
    (what else decides the step's time: the model, the look, the sink), the answer is kept per machine,
    size, rate, backend, guide and vmatte version, and a later start with the same settings takes it
    without measuring."""
    key = {"size": [width, height], "fps": round(fps, 3), "backend": backend, "guide": round(guide, 6),
           "headroom": headroom, "min_side": min_side, **(cache_key or {})}
    path, found = _cached(key) if cache_key is not None else (None, None)
    if found is not None:
        matter = Matter(model, float(found["ratio"]), backend, float(found["scale"]))
        matter.prepare(width, height)
        if not quiet:
            at = "" if found["scale"] == 1.0 else f" on frames scaled by {found['scale']:g}"
            live_log.warning(f"downsample ratio {found['ratio']:.3g}{at}, as measured on this machine on "
                             f"{found['date']} ({found['step_ms']:.0f} ms a frame; `vmatte cache clear` measures "
                             "again)")
        return matter
    y, x = np.mgrid[:height, :width]
    probe = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x ^ y) & 255], -1)
    probe = probe.astype(np.uint8)
    budget = headroom / fps
    tries = []
    for scale in (1.0, 0.5):
        side = min(width, height) * scale
        floor = min(1.0, min_side / side)
        top = min(1.0, guide / scale)
        tries += [(scale, r) for r in sorted({top, floor} | {r for r in (0.5, 0.375, 0.25, 0.2) if floor < r < top},
                                             reverse=True)]
    fastest: tuple[float, float, float, Matter] | None = None
    if not quiet:
        live_log.warning(f"measuring which downsample ratio keeps up with {fps:.3g} fps at {width}x{height} on "
                         "this machine (a few seconds, once: the answer is kept for the next start with these "
                         "settings; --downsample-ratio skips it)")
    for scale, r in tries:
        matter = Matter(model, r, backend, scale)
        matter.prepare(width, height)
        times = []
        for _ in range(6):
            t0 = time.perf_counter()
            finish(matter(probe))
            times.append(time.perf_counter() - t0)
        step = float(np.median(times[1:]))
        log.info(f"live: ratio {r:.3g}{'' if scale == 1.0 else f' at scale {scale:g}'}: {step * 1000:.0f} ms a frame "
                 f"(budget {budget * 1000:.0f} ms)")
        if fastest is None or step < fastest[0]:
            fastest = (step, scale, r, matter)
        if step <= budget:
            break
    step, scale, r, matter = fastest
    if not quiet and (scale, r) != tries[0]:
        keeps = "keeps up with" if step <= budget else "is the fastest found; it may not keep up with"
        at = "" if scale == 1.0 else f" on frames scaled by {scale:g}"
        live_log.warning(f"downsample ratio {r:.3g}{at} ({step * 1000:.0f} ms a frame) {keeps} "
                         f"{fps:.3g} fps here (RVM's guidance: {guide:.3g}); pass --downsample-ratio to choose")
    matter.reset()
    if path is not None:
        from ..cache import store

        record = {"ratio": r, "scale": scale, "step_ms": round(step * 1000, 2), "date": time.strftime("%Y-%m-%d"),
                  "settings": key}
        try:
            store(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, default=str) + "\n"))
        except OSError:  # a read-only cache: measured again next time
            pass
    return matter
