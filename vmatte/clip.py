"""One clip into its outputs: the path every conversion takes, in one process or on a worker.

`convert_clip` reads frames from a source, runs the network shot by shot (`shot_matter`) and writes every
requested role through its sink (pipeline.run). The dispatcher (vmatte.batch), the photo driver's folders
and the scale-out workers (vmatte.scale) all call it by these public names.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

from .bothways import BothWays
from .io.frames import Source, SourceInfo, frames_in_flight, one_size
from .io.sinks import open_sink
from .options import MattingOptions, OutputOptions
from .pipeline import Output, Summary, run
from .roles import LAYOUT, work_folder
from .shots import SegmentShots, ShotMatter


def load_network(matting: MattingOptions) -> Any:
    """The network `matting` names (model, weights file, device, precision), loaded and checked."""
    from .weights import load_model

    return load_model(matting.model, matting.weights, matting.device, matting.precision)


def shot_matter(model: Any, info: SourceInfo, matting: MattingOptions, out: OutputOptions) -> ShotMatter:
    """The network as one process runs it on `info`'s frames: a Matter at the resolved ratio, settling
    each shot and resetting at hard cuts (the planner of vmatte.scale runs the same)."""
    from .engine import Matter

    return ShotMatter(Matter(model, _ratio(info, matting), matting.backend), out.warmup, matting.scene_cuts == "reset")


def _ratio(info: SourceInfo, matting: MattingOptions) -> float:
    from .engine import resolve_ratio

    return resolve_ratio(matting.downsample_ratio, info.width, info.height, matting.subject, matting.effort)


def both_ways(model: Any, source: Source, matting: MattingOptions, out: OutputOptions,
              segment: Any = None) -> BothWays:
    """--effort best's three streams over `source` (a video file that can be opened again and sought in),
    or over one scale-out segment of it."""
    span = {} if segment is None else dict(start=segment.start, end=segment.end, feed=segment.feed,
                                           feed_pts=segment.feed_pts, at_cut=segment.at_cut)
    return BothWays(model, _ratio(source.info, matting), matting.backend, out.warmup, matting.scene_cuts == "reset",
                    source.reopen, **span)


def convert_clip(source: Source, targets: dict[str, Path], model: Any, matting: MattingOptions, out: OutputOptions,
                 segment: Any = None, preroll: int = 0, observers: tuple = ()) -> Summary:
    """One opened source (io.sources) into `targets` (role -> path). Until every sink is closed, an error
    or Ctrl-C aborts them all, and nothing is left at the paths.

    segment (a scale.plan.Segment): only its frames, from its carried state, into segment files without
    audio (a worker's share of a clip; scale/join.py puts them together); `preroll` frames run through the
    network first when there is no carried state. observers: see pipeline.run."""
    from .compose import EdgeControls, parse_background
    from .report import QualityReport, describe_run

    info = source.info
    best = matting.effort == "best"
    shots = both_ways(model, source, matting, out, segment) if best else shot_matter(model, info, matting, out)
    frames, total, audio = source.frames(), info.expected_frames(), out.audio
    if segment is not None:
        shots = shots if best else SegmentShots(shots, segment, preroll)
        frames, total, audio = source.frames_from(segment.feed, segment.feed_pts), segment.end - segment.start, False
    frames = one_size(frames, info)
    bg = parse_background(matting.background, matting.background_fit) if matting.background else None
    quality = None
    if out.report is not None:
        quality = QualityReport(title=f"vmatte quality report: {info.name}", expected_frames=info.expected_frames(),
                                about=describe_run(info, shots.matter, matting, out.warmup))
    outputs: list[Output] = []
    with contextlib.ExitStack() as undo:
        for role, path in targets.items():
            sink = open_sink(path, LAYOUT[role], info, **out.encoder_settings(), bit_depth=out.bit_depth,
                             audio=audio, start=segment.start if segment else 0)
            outputs.append(Output(role, sink))
            undo.callback(sink.abort)
        edges = EdgeControls(matting.matte_choke, matting.feather, matting.despill)
        depth = frames_in_flight(info.width, info.height, 32, 4)  # 32 bytes a pixel: a float Matte on the CPU
        summary = run(frames, shots, outputs, bg, edges, total, out.progress and not out.quiet, depth,
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
