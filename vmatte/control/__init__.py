"""`vmatte live --control`: a control page and an OBS Browser Source page, served on the side.

`Controls` holds what can change in a running session (background, mirror, downsample ratio, pause),
checked as the command line checks it; the session reads it once a frame. `ControlServer`
(vmatte.control.server) serves the pages and sockets on its own thread and event loop, and never
blocks the frame path: a slow or absent browser drops its own frames, never the session's.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from ..errors import VmatteError
from ..options import background as check_background
from ..options import ratio as check_ratio

FIELDS = ("background", "mirror", "downsample_ratio", "paused")


@dataclass(frozen=True)
class Settings:
    """One consistent set of the live controls. background: a spec as --background takes it, or 'none'
    (the camera's own picture, nothing replaced); downsample_ratio: 'auto' or a number in (0, 1]."""

    background: str
    mirror: bool
    downsample_ratio: str | float
    paused: bool = False


class Controls:
    """The session's settings, changed from the server's thread and read from the frame path.

    `update()` checks a change and returns the number of the frame from which it applies (the next one
    the network takes): the session calls `frame_started()` before each frame and `current()` for the
    settings that frame uses. `alpha_sink`: whether the sink carries alpha, which 'transparent' needs."""

    def __init__(self, settings: Settings, alpha_sink: bool = False) -> None:
        self._settings, self.alpha_sink = settings, alpha_sink
        self._lock = threading.Lock()
        self.frame = 0  # the number of the frame the network takes next
        self.version = 0

    def current(self) -> Settings:
        with self._lock:
            return self._settings

    def frame_started(self) -> tuple[int, Settings]:
        """Count a frame and give the settings it uses (with their version)."""
        with self._lock:
            self.frame += 1
            return self.version, self._settings

    def update(self, change: dict[str, Any], uploaded: str | None = None) -> int:
        """Apply `change` (some of FIELDS) after checking every value; one VmatteError line otherwise.
        Returns the number of the first frame that uses it. A background from the network is never a
        path (a page could otherwise show any image on this machine): an image comes as an upload, which
        the server saves and passes here as `uploaded`, the only file a change may name."""
        if not isinstance(change, dict) or not change:
            raise VmatteError("a change is a JSON object with one or more of " + ", ".join(FIELDS))
        unknown = sorted(set(change) - set(FIELDS))
        if unknown:
            raise VmatteError(f"unknown control(s) {', '.join(map(str, unknown))}; use " + ", ".join(FIELDS))
        values: dict[str, Any] = {}
        for key, value in change.items():
            if key in ("mirror", "paused"):
                if not isinstance(value, bool):
                    raise VmatteError(f"{key}: {value!r} is not true or false")
                values[key] = value
            elif key == "downsample_ratio":
                values[key] = check_ratio(value)
            else:
                values[key] = self._background(value, uploaded)
        with self._lock:
            self._settings = replace(self._settings, **values)
            self.version += 1
            return self.frame + 1

    def _background(self, value: Any, uploaded: str | None) -> str:
        if not isinstance(value, str) or not value.strip():
            raise VmatteError("background: give none, transparent, a colour (green, #00ff00) or blur[:sigma px]")
        spec = value.strip()
        if spec == "none" or (uploaded is not None and spec == uploaded):
            return spec
        if spec == "transparent" and not self.alpha_sink:
            raise VmatteError("background: transparent needs a sink that carries alpha (.mov or .webm); this "
                              "one does not. The output page always carries alpha")
        return check_background(spec, files=False)
