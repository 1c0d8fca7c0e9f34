"""`vmatte.live()`: camera (or a file played live) -> engine -> compositor -> one sink, frame-accurate.

This module checks every option and path, opens the source, the sink and the control server, and
hands them to a `session.LiveSession`, which runs the frames. Ctrl-C ends a session normally (a
recording is kept); a failure removes the sink's output.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .control import Controls, Settings
from .errors import log
from .io.atomic import check_writable, guard_paths, write_atomically
from .io.frames import check_size
from .io.sinks import open_sink
from .io.sources import open_source
from .memory import tune_allocator
from .options import LiveOptions, MattingOptions, is_url
from .optionspec import reject_unknown
from .recipe import Recipe
from .session import LiveSession
from .stats import LiveStats
from .weights import resolve_device


def live(source: str = "0", sink: str = "virtual", **options: Any) -> LiveStats:
    """Run until the source ends, max_frames are captured, or Ctrl-C (which ends the session normally:
    a recording is kept). Every option of `vmatte.options.MattingOptions` and `LiveOptions` is taken by
    name and checked first; background defaults to options.BACKGROUND_DEFAULTS['live'] (blur:20), and
    'transparent' needs a .mov/.webm sink."""
    reject_unknown(options, MattingOptions, LiveOptions)
    matting = MattingOptions.pick(options)
    opts = LiveOptions.pick({**options, "source": source, "sink": sink})
    recipe = Recipe(matting, "live")  # refuses --effort best
    if opts.stats_json is not None:
        check_writable(Path(opts.stats_json))
    files = {} if opts.sink in ("virtual", "preview") or ":" in opts.sink.split("/")[0] else {"--sink": opts.sink}
    guard_paths([None if is_url(opts.source) else opts.source, recipe.backdrop_file],
                {**files, **({"--stats-json": opts.stats_json} if opts.stats_json else {})})
    src = open_source(opts.source, fps=opts.fps, width=opts.width, height=opts.height, realtime=opts.realtime,
                      camera=True, stream=opts.stream, device=resolve_device(matting.device))
    try:
        check_size(src.info, opts.max_pixels)
        transparent = recipe.background_spec == "transparent"
        out = open_sink(opts.sink, "rgba" if transparent else "rgb", src.info, live=True,
                        keyframe_seconds=opts.keyframe_seconds)
        server = None
        try:
            controls = Controls(Settings(recipe.background_spec, opts.mirror, matting.downsample_ratio), transparent)
            if opts.control is not None:  # bound now: a port in use is said before the model loads
                from .control.server import ControlServer

                host, _, port = opts.control.rpartition(":")
                server = ControlServer(controls, host.strip("[]"), int(port), (src.info.width, src.info.height))
                if not server.loopback:
                    log.warning(f"--control {opts.control}: anyone on the network who has the printed URL can "
                                "watch the camera and change the session; its token is the only key")
            tune_allocator()  # frame-sized blocks stay in the heap (vmatte/memory.py)
            stats = LiveSession(src, out, recipe, opts, controls, server).run()
            out.close()
        except BaseException:
            out.abort()  # a failure, or Ctrl-C before the session started or while closing: nothing is kept
            raise
        finally:
            if server is not None:
                server.close()
    finally:
        src.close()
    if opts.stats_json is not None:
        text = json.dumps(asdict(stats), indent=2) + "\n"
        write_atomically(Path(opts.stats_json), lambda tmp: tmp.write_text(text))
    return stats
