"""One clip into its outputs: the path every conversion takes, in one process or on a worker.

`convert_clip` reads frames from a source, runs the recipe's shot strategy over them (recipe.Recipe.shots:
the network, shot by shot) and writes every requested role through its sink (pipeline.run). The
dispatcher (vmatte.dispatch), the photo driver's folders and the scale-out workers (vmatte.scale) all call it.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .io.frames import Source, frames_in_flight, one_size
from .io.sinks import open_sink
from .options import OutputOptions
from .pipeline import Output, Summary, run
from .recipe import Recipe
from .roles import LAYOUT, work_folder

if TYPE_CHECKING:  # a type only: scale.plan is not imported at run time
    from .scale.plan import Segment


def convert_clip(source: Source, targets: dict[str, Path], recipe: Recipe, out: OutputOptions,
                 segment: Segment | None = None, preroll: int = 0, observers: tuple = (),
                 encode_workers: int | None = None) -> Summary:
    """One opened source (io.sources) into `targets` (role -> path), as `recipe` says. Until every sink is
    closed, an error or Ctrl-C aborts them all, and nothing is left at the paths.

    segment (a scale.plan.Segment): only its frames, from its carried state, into segment files without
    audio (a worker's share of a clip; scale/join.py puts them together); `preroll` frames run through the
    network first when there is no carried state. observers: see pipeline.run. encode_workers: the
    threads of an intra-only encoder (None: io.encoder_pool.default_workers())."""
    from .report import QualityReport, describe_run

    info = source.info
    shots = recipe.shots(source, out, segment, preroll)
    frames, total, audio = source.frames(), info.expected_frames(), out.audio
    if segment is not None:
        frames, total, audio = source.frames_from(segment.feed, segment.feed_pts), segment.end - segment.start, False
    frames = one_size(frames, info)
    bg = recipe.background()
    quality = None
    if out.report is not None:
        quality = QualityReport(title=f"vmatte quality report: {info.name}", expected_frames=info.expected_frames(),
                                about=describe_run(info, shots.matter, recipe, out.warmup))
    outputs: list[Output] = []
    with contextlib.ExitStack() as undo:
        for role, path in targets.items():
            sink = open_sink(path, LAYOUT[role], info, **out.encoder_settings(), bit_depth=out.bit_depth,
                             audio=audio, start=segment.start if segment else 0, encode_workers=encode_workers)
            outputs.append(Output(role, sink))
            undo.callback(sink.abort)
        depth = frames_in_flight(info.width, info.height, 32, 4)  # 32 bytes a pixel: a float Matte on the CPU
        summary = run(frames, shots, outputs, bg, recipe.edges(), total, out.progress and not out.quiet, depth,
                      observers=((quality,) if quality else ()) + tuple(observers))
        for o in outputs:
            o.sink.close()
        undo.pop_all()
    if segment is None:  # written whole here: the segments a killed scale-out run left for them are stale
        for path in targets.values():
            shutil.rmtree(work_folder(Path(path)), ignore_errors=True)
    if quality is not None:
        quality.write(out.report)
    return summary
