"""The `vmatte` command: a thin layer over the Python API. Errors print as one line, exit 2."""
from __future__ import annotations

import argparse
import signal
import sys

from .errors import VmatteError

BACKENDS = ("auto", "torch", "cuda-graph", "onnxruntime", "tensorrt", "torch-compile")  # as vmatte.engine's


def _convert(a: argparse.Namespace) -> int:
    from .batch import BatchSummary, convert

    result = convert(a.input, rgba=a.rgba, matte=a.matte, composite=a.composite, foreground=a.foreground,
                     background=a.background, output=a.output, downsample_ratio=a.downsample_ratio,
                     subject=a.subject, device=a.device, precision=a.precision, weights=a.weights, model=a.model,
                     prores_encoder=a.prores_encoder, crf=a.crf, bit_depth=a.bit_depth, audio=not a.no_audio,
                     fps=a.fps, warmup=a.warmup, scene_cuts=a.scene_cuts, matte_choke=a.matte_choke,
                     feather=a.feather, despill=a.despill, report=a.report, backend=a.backend,
                     background_fit=a.background_fit,
                     progress=not (a.no_progress or a.quiet))
    if isinstance(result, BatchSummary):
        if not a.quiet:
            for name, s in result.done.items():
                print(f"done     {name}: {s.frames} frames, {s.fps:.1f} fps")
            for name in result.skipped:
                print(f"skipped  {name}: outputs already complete")
        for name, why in result.failed.items():
            print(f"failed   {name}: {why}", file=sys.stderr)
        if not a.quiet:
            print(f"{len(result.done)} matted, {len(result.skipped)} skipped, {len(result.failed)} failed")
        return 1 if result.failed else 0
    if not a.quiet:
        outs = ", ".join(str(p) for p in (a.rgba, a.matte, a.composite, a.foreground, a.output, a.report) if p)
        cuts = f", scene cuts at frames {result.cuts}" if result.cuts else ""
        print(f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps){cuts} -> {outs}")
    return 0


def _report(a: argparse.Namespace) -> int:
    for name in ("rgba", "matte", "composite", "foreground", "output"):
        setattr(a, name, None)
    a.report = a.report_path
    return _convert(a)


def _live(a: argparse.Namespace) -> int:
    from .live import live

    live(a.source, a.sink, background=a.background, realtime=a.realtime, width=a.width, height=a.height, fps=a.fps,
         mirror=a.mirror, stats_json=a.stats_json, max_frames=a.max_frames, device=a.device,
         downsample_ratio=a.downsample_ratio, subject=a.subject, precision=a.precision, weights=a.weights,
         model=a.model, scene_cuts=a.scene_cuts, matte_choke=a.matte_choke, feather=a.feather, despill=a.despill,
         backend=a.backend, background_fit=a.background_fit, quiet=a.quiet)
    return 0


def _models(a: argparse.Namespace) -> int:
    from . import weights

    if a.action == "list":
        for name, e in weights.registry().items():
            st, _ = weights.cached_paths(name)
            state = "cached" if st.exists() else ("fetchable" if e.pip else "needs --weights")
            print(f"{name:18} {state:15} {e.description}")
    elif a.action == "pull":
        print(weights.pull(a.name, force=a.force))
    elif a.action == "path":
        st, _ = weights.cached_paths(a.name)
        weights.entry(a.name)
        if not st.exists():
            raise VmatteError(f"{a.name} is not in the cache; run `vmatte models pull {a.name}`")
        print(st)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vmatte", description="Temporally consistent video matting (RVM).")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="matte a video, image sequence or folder of videos")
    c.add_argument("input", help="video file, image folder, name_%%06d.png pattern, or folder of videos")
    c.add_argument("-o", "--output", help="shorthand: .mov/.webm -> --rgba, .mp4/.mkv -> --composite")
    c.add_argument("--rgba", help="straight alpha + foreground colour: .mov (ProRes 4444), .webm (VP9), "
                   ".mkv (FFV1), name_%%06d.png")
    c.add_argument("--matte", help="lossless alpha: .mkv (FFV1 16-bit gray) or name_%%06d.png (16-bit)")
    c.add_argument("--composite", help="person over --background: .mp4/.mkv (H.264), .mov, name_%%06d.png")
    c.add_argument("--foreground", help="predicted foreground colour, no alpha")
    c.add_argument("--report", help="also write the HTML quality report here")
    c.set_defaults(func=_convert)
    _matting_options(c)

    r = sub.add_parser("report", help="matte a clip and write an HTML quality report (no video output)")
    r.add_argument("input", help="video file or image sequence")
    r.add_argument("-o", "--output", dest="report_path", required=True, help="report .html path")
    r.set_defaults(func=_report)
    _matting_options(r)

    v = sub.add_parser("live", help="camera (or a file played live) to a virtual camera, stream, window or file")
    v.add_argument("--config", help="a preset YAML (configs/*.yaml); flags given here override it")
    v.add_argument("--source", default="0", help="camera index, /dev/videoN, or a video file or URL (default 0)")
    v.add_argument("--sink", default="virtual", help="virtual, udp://HOST:PORT, preview, or a file path")
    v.add_argument("--background", default="blur:20", help="blur[:sigma px], colour, image, video, or transparent")
    v.add_argument("--realtime", action="store_true", help="pace a file source to its own timestamps")
    v.add_argument("--width", type=int, help="camera width to ask for, pixels")
    v.add_argument("--height", type=int, help="camera height to ask for, pixels")
    v.add_argument("--fps", type=float, help="camera frame rate to ask for")
    v.add_argument("--mirror", action="store_true", help="flip left-right, like a mirror")
    v.add_argument("--stats-json", help="write frames in/out/dropped, fps and latency percentiles here at the end")
    v.add_argument("--max-frames", type=int, help="stop after this many captured frames")
    for flag, kw in (("--downsample-ratio", dict(default="auto")), ("--subject", dict(default="portrait")),
                     ("--device", dict(default="auto")), ("--precision", dict(default="auto")),
                     ("--backend", dict(default="auto", choices=BACKENDS)),
                     ("--background-fit", dict(default="fill")),
                     ("--model", dict(default="rvm-mobilenetv3")), ("--weights", {}),
                     ("--scene-cuts", dict(default="reset", choices=("reset", "ignore"))),
                     ("--matte-choke", dict(type=float, default=0.0)), ("--feather", dict(type=float, default=0.0)),
                     ("--despill", dict(type=float, default=0.0))):
        v.add_argument(flag, **kw)
    v.add_argument("-q", "--quiet", action="store_true")
    v.set_defaults(func=_live)

    m = sub.add_parser("models", help="list, fetch or locate model weights")
    m.add_argument("action", choices=("list", "pull", "path"))
    m.add_argument("name", nargs="?", default="rvm-mobilenetv3")
    m.add_argument("--force", action="store_true", help="fetch again even if cached")
    m.set_defaults(func=_models)
    return p


def _matting_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--background", help="colour name or #rrggbb, image, video (looped), or blur[:sigma px]; "
                   "default green")
    c.add_argument("--background-fit", choices=("fill", "fit"), default="fill",
                   help="an image/video background covers the frame (fill, cropped) or fits inside it (fit)")
    c.add_argument("--downsample-ratio", default="auto", help="network scale in (0,1], or auto (default)")
    c.add_argument("--subject", choices=("portrait", "full-body"), default="portrait",
                   help="what auto downsampling assumes (default portrait)")
    c.add_argument("--device", default="auto", help="auto, cpu or cuda")
    c.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="auto: cuda-graph on CUDA, onnxruntime on CPU; torch-compile is opt-in (slow first frame)")
    c.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16"))
    c.add_argument("--model", default="rvm-mobilenetv3")
    c.add_argument("--weights", help="a .pth, .safetensors or RVM .onnx file instead of the registry's")
    c.add_argument("--prores-encoder", choices=("aw", "ks"), default="aw",
                   help="aw (default, ~2.5x faster) or ks (slightly higher quality)")
    c.add_argument("--crf", type=int, default=18, help="quality for H.264/VP9 (lower is better)")
    c.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="PNG sequence depth")
    c.add_argument("--fps", type=float, help="frame rate of an image-sequence input (default 25)")
    c.add_argument("--warmup", type=int, default=15,
                   help="frames each shot's state is settled on before its first output frame (0: off)")
    c.add_argument("--scene-cuts", choices=("reset", "ignore"), default="reset",
                   help="at a detected hard cut, start a fresh settled state (default) or carry on")
    c.add_argument("--matte-choke", type=float, default=0.0, help="shrink (+) or grow (-) the matte, pixels")
    c.add_argument("--feather", type=float, default=0.0, help="soften the matte edge, Gaussian sigma in pixels")
    c.add_argument("--despill", type=float, default=0.0,
                   help="0..1: remove the background's colour cast from edge colours")
    c.add_argument("--no-audio", action="store_true", help="drop the audio")
    c.add_argument("--no-progress", action="store_true")
    c.add_argument("-q", "--quiet", action="store_true")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _with_config(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; if --config names a preset, its keys become defaults and the command line still wins."""
    args = parser.parse_args(argv)
    path = getattr(args, "config", None)
    if not path:
        return args
    import yaml

    try:
        preset = yaml.safe_load(open(path, encoding="utf-8")) or {}
    except OSError as e:
        raise VmatteError(f"cannot read --config {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise VmatteError(f"--config {path} is not valid YAML ({type(e).__name__})") from None
    if not isinstance(preset, dict):
        raise VmatteError(f"--config {path} must be a mapping of option: value")
    sub = parser._subparsers._group_actions[0].choices[args.command]  # the subcommand's own parser
    known = {a.dest for a in sub._actions}
    unknown = sorted(k for k in (key.replace("-", "_") for key in preset) if k not in known)
    if unknown:
        raise VmatteError(f"--config {path}: unknown option(s) {', '.join(unknown)}")
    sub.set_defaults(**{k.replace("-", "_"): v for k, v in preset.items()})
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args = _with_config(build_parser(), argv)
    except VmatteError as e:
        print(f"vmatte: error: {e}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except VmatteError as e:
        print(f"vmatte: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vmatte: interrupted; no partial output was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
