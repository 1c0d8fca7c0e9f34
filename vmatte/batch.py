"""The batch driver: `vmatte.convert()` for files, sequences and folders (what `vmatte convert` runs)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .compose import LAYOUT, EdgeControls, parse_background
from .engine import Matter, auto_downsample_ratio
from .errors import VmatteError
from .io.atomic import temp_path_for
from .io.images import IMAGE_EXTS, ImageSequenceSource, ImageSequenceWriter, is_pattern
from .io.video_source import VideoFileSource
from .io.video_writer import VideoWriter, encoding_for
from .pipeline import Output, Summary, run
from .report import QualityReport
from .shots import ShotMatter
from .weights import DEFAULT_MODEL, load_model, resolve_device

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf", ".mts", ".m2ts", ".ts", ".flv",
              ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv"}
DEFAULT_EXT = {"rgba": ".mov", "matte": ".mkv", "composite": ".mp4", "foreground": ".mp4"}
SHORTHAND = {".mov": "rgba", ".webm": "rgba", ".mp4": "composite", ".mkv": "composite", ".png": "rgba"}


@dataclass
class BatchSummary:
    """A folder run: one Summary per matted file, the skipped (already complete) and the failed ones."""

    done: dict[str, Summary] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def open_source(path: str | Path, fps: float | None = None) -> VideoFileSource | ImageSequenceSource:
    """A video file, an image folder, or a %0Nd image pattern."""
    p = Path(path)
    if is_pattern(p) or (p.is_dir() and any(q.suffix.lower() in IMAGE_EXTS for q in p.iterdir())):
        return ImageSequenceSource(p, fps or 25)
    return VideoFileSource(p)


def open_sink(role: str, path: Path, info, *, prores_encoder: str = "aw", crf: int = 18, bit_depth: int = 8,
              audio: bool = True):
    """The sink for one output role, chosen by the path: a %0Nd.png pattern or a video extension."""
    layout = LAYOUT[role]
    if is_pattern(path) or path.suffix.lower() == ".png":
        if not is_pattern(path):
            raise VmatteError(f"{path}: an image sequence needs a frame-number pattern, e.g. name_%06d.png")
        bits = 16 if role == "matte" else bit_depth
        return ImageSequenceWriter(path, layout, bits)
    return VideoWriter(path, encoding_for(path, layout, prores_encoder=prores_encoder, crf=crf), info, audio)


def resolve_ratio(downsample_ratio: str | float, info, subject: str) -> float:
    if downsample_ratio in ("auto", None):
        return auto_downsample_ratio(info.width, info.height, subject)
    r = float(downsample_ratio)
    if not 0 < r <= 1:
        raise VmatteError(f"--downsample-ratio must be in (0, 1], got {r}")
    return r


def precision_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision in ("fp16", "fp32"):
        if precision == "fp16" and device.type == "cpu":
            raise VmatteError("--precision fp16 needs a CUDA device; use fp32 on CPU")
        return torch.float16 if precision == "fp16" else torch.float32
    raise VmatteError(f"unknown precision {precision!r}; use auto, fp32 or fp16")


def convert(input: str | Path, rgba: str | Path | None = None, matte: str | Path | None = None,
            composite: str | Path | None = None, foreground: str | Path | None = None,
            background: str | None = None, output: str | Path | None = None,
            downsample_ratio: str | float = "auto", subject: str = "portrait", device: str = "auto",
            precision: str = "auto", weights: str | Path | None = None, model: str = DEFAULT_MODEL,
            prores_encoder: str = "aw", crf: int = 18, bit_depth: int = 8, audio: bool = True,
            fps: float | None = None, warmup: int = 15, scene_cuts: str = "reset", matte_choke: float = 0.0,
            feather: float = 0.0, despill: float = 0.0, report: str | Path | None = None,
            backend: str = "auto", background_fit: str = "fill", progress: bool = True) -> Summary | BatchSummary:
    """Matte a video file, image sequence or folder of videos into the requested outputs.

    Outputs: rgba (straight alpha + predicted foreground colour), matte (alpha only), composite (over
    `background`: colour, image, video or blur[:sigma]), foreground (predicted colour). `output` picks a role
    by extension. downsample_ratio is the network's internal scale (0..1] or "auto" (RVM's guidance for
    `subject`). Each shot (the clip's start, and after each detected hard cut when scene_cuts is
    "reset") starts from a state settled on its first `warmup` frames. matte_choke and feather are in
    pixels, despill 0..1. `report` writes the HTML quality report there. `backend`: auto, torch,
    cuda-graph, onnxruntime or tensorrt (see vmatte.engine). Returns a Summary (frames, seconds,
    fps, cuts), or a BatchSummary for a folder.
    """
    given = {r: p for r, p in
             (("rgba", rgba), ("matte", matte), ("composite", composite), ("foreground", foreground)) if p}
    targets = {r: Path(p) for r, p in given.items()}
    # "OUT/" names a folder even before it exists (Path() drops the trailing slash).
    folders = {r for r, p in given.items() if str(p).endswith(("/", "\\")) or Path(p).is_dir()}
    if output is not None:
        out = Path(output)
        role = SHORTHAND.get(out.suffix.lower())
        if role is None:
            raise VmatteError(f"-o {out}: unknown output type {out.suffix or '(none)'!r}; "
                              "use .mov/.webm (alpha), .mp4/.mkv (composite) or a %06d.png pattern")
        targets.setdefault(role, out)
    if not targets and report is None:
        raise VmatteError("no output asked for; add --rgba PATH, --matte PATH, --composite PATH or -o PATH")
    if report is not None:
        temp_path_for(Path(report)).unlink()  # fails now, not after the whole clip, if it cannot be written
    if bit_depth not in (8, 16):
        raise VmatteError("--bit-depth must be 8 or 16")
    if scene_cuts not in ("reset", "ignore"):
        raise VmatteError(f"--scene-cuts must be reset or ignore, not {scene_cuts!r}")
    if warmup < 0:
        raise VmatteError("--warmup must be 0 (off) or a number of frames")
    shot_opts = dict(warmup=warmup, scene_cuts=scene_cuts == "reset",
                     edges=EdgeControls(matte_choke, feather, despill), report=report, backend=backend)
    dev = resolve_device(device)
    dtype = precision_dtype(precision, dev)
    if ("composite" in targets or report is not None) and background is None:
        background = "green"
    bg = parse_background(background, background_fit) if background else None
    sink_opts = dict(prores_encoder=prores_encoder, crf=crf, bit_depth=bit_depth, audio=audio)
    src_path = Path(input)
    if src_path.is_dir() and any(q.suffix.lower() in VIDEO_EXTS for q in src_path.iterdir()):
        if report is not None:
            raise VmatteError("--report takes one clip, not a folder")
        if folders != set(targets):
            raise VmatteError("with an input folder, outputs must be folders (end the path with /)")
        net = load_model(model, weights, device=str(dev), dtype=dtype)
        return _convert_folder(src_path, targets, net, bg, downsample_ratio, subject, progress, sink_opts,
                               shot_opts)
    with open_source(src_path, fps) as source:
        net = load_model(model, weights, device=str(dev), dtype=dtype)
        stem = src_path.stem if src_path.is_file() else src_path.name.replace("%", "_")
        for r in folders:  # one clip into a folder: named after the clip
            if not targets[r].exists():
                try:
                    targets[r].mkdir(parents=True)
                except OSError as e:
                    raise VmatteError(f"cannot create {targets[r]}: {e.strerror}; pick a writable folder") from None
            targets[r] = targets[r] / f"{stem}{DEFAULT_EXT[r]}"
        return _convert_one(source, targets, net, bg, downsample_ratio, subject, progress, sink_opts, shot_opts)


def _convert_one(source, targets: dict[str, Path], net, bg, downsample_ratio, subject: str, progress: bool,
                 sink_opts: dict, shot_opts: dict) -> Summary:
    info = source.info
    matter = Matter(net, resolve_ratio(downsample_ratio, info, subject), shot_opts.get("backend", "auto"))
    shots = ShotMatter(matter, shot_opts["warmup"], shot_opts["scene_cuts"])
    quality = None
    if shot_opts.get("report") is not None:
        quality = QualityReport(title=f"vmatte quality report: {info.path.name}",
                                expected_frames=info.expected_frames())
    outputs: list[Output] = []
    with contextlib.ExitStack() as undo:
        # Until every sink is closed, an error or Ctrl-C aborts them all: no partial file stays.
        for role, path in targets.items():
            sink = open_sink(role, path, info, **sink_opts)
            outputs.append(Output(role, sink))
            undo.callback(sink.abort)
        summary = run(source, shots, outputs, bg, shot_opts["edges"], info.expected_frames(), progress,
                      observers=(quality,) if quality else ())
        for o in outputs:
            o.sink.close()
        undo.pop_all()
    if quality is not None:
        quality.write(shot_opts["report"])
    return summary


def _convert_folder(folder: Path, targets: dict[str, Path], net, bg, downsample_ratio, subject: str,
                    progress: bool, sink_opts: dict, shot_opts: dict) -> BatchSummary:
    """Every video in `folder`; outputs go inside the output folders, complete ones are skipped."""
    for out in targets.values():
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VmatteError(f"cannot create {out}: {e.strerror}; pick a writable folder") from None
    result = BatchSummary()
    for video in sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS and p.is_file()):
        finals = {}
        for role, out in targets.items():
            final = out / f"{video.stem}{DEFAULT_EXT[role]}"
            if final.resolve().parent != out.resolve():
                result.failed[str(video)] = f"output name for {video.name} would leave {out}"
                break
            finals[role] = final
        else:
            if all(f.exists() for f in finals.values()):
                result.skipped.append(str(video))
                continue
            todo = {r: f for r, f in finals.items() if not f.exists()}
            try:
                with VideoFileSource(video) as source:
                    result.done[str(video)] = _convert_one(source, todo, net, bg, downsample_ratio, subject,
                                                           progress, sink_opts, shot_opts)
            except VmatteError as e:
                result.failed[str(video)] = str(e)
    return result
