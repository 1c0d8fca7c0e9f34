"""The `vmatte` command: a thin layer over the Python API, its options built from `vmatte.options`.

Every error, from argparse, a preset or the run, prints as one line `vmatte: error: ...` and exits 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from dataclasses import fields
from typing import Any

from .about import version
from .errors import VmatteError, log
from .exporting import MATTING as EXPORT_MATTING
from .options import ExportOptions, LiveOptions, MattingOptions, OutputOptions, ScaleOptions
from .optionspec import convert_value, flag_of, spec_of

ROLE_FLAGS = ("output", "rgba", "matte", "composite", "foreground", "report")
ENCODING = ("prores_encoder", "crf", "keyframe_seconds", "bit_depth", "audio")
PHOTO_FLAGS = ("still_passes", "still_flip", "quality")
REPORT_SKIPS = ROLE_FLAGS + ENCODING + PHOTO_FLAGS  # `report` writes no video or photo: these mean nothing to it
# The option groups --help shows, by the dataclass that owns them (fields not named here: "other").
GROUPS = {
    OutputOptions: [("outputs (one or more)", ROLE_FLAGS), ("encoding", ENCODING),
                    ("input", ("fps", "stream", "max_pixels")), ("photos", PHOTO_FLAGS),
                    ("run", ("warmup", "progress", "quiet", "verbose"))],
    MattingOptions: [("matting", ("model", "weights", "device", "backend", "precision", "downsample_ratio",
                                  "subject", "scene_cuts")),
                     ("look", ("matte_choke", "feather", "despill", "background", "background_fit"))],
    ScaleOptions: [("scale-out", None)],
    LiveOptions: [("live", None)],
    ExportOptions: [("export", None)],
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other error (argparse prints usage too)
        raise VmatteError(f"{message}; see `{self.prog} --help`")


def _add(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
         only: tuple[str, ...] | None = None) -> None:
    """One argument per option of `cls` (or of those named in `only`), in the help's groups (GROUPS).
    Defaults stay None here: the dataclass owns them, so a preset can tell what the command line gave."""
    groups = {}
    for title, names in GROUPS.get(cls, [("options", None)]):
        group = p.add_argument_group(title)
        for name in names or [f.name for f in fields(cls)]:
            groups.setdefault(name, group)
    other = None
    for f in fields(cls):
        spec = spec_of(f)
        if f.name in skip or not spec.cli or (only is not None and f.name not in only):
            continue
        if f.name not in groups and other is None:
            other = p.add_argument_group("other")
        target = groups.get(f.name, other)
        flags = [flag_of(f.name, spec)] + ([spec.short] if spec.short else [])
        text = spec.help.replace("%", "%%")  # argparse formats help with %
        if spec.kind is bool:
            target.add_argument(*flags, dest=f.name, action="store_const", const=not f.default, default=None,
                                help=text)
        else:
            default = "" if f.default is None else f" (default {f.default})"
            optional = {"nargs": "?", "const": spec.const} if spec.const is not None else {}
            target.add_argument(*flags, dest=f.name, default=None, choices=spec.choices, metavar=spec.metavar,
                                help=text + default, **optional)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vmatte", description="Temporally consistent video matting (RVM).")
    p.add_argument("--version", action="version", version=f"vmatte {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    preset = "a preset YAML (configs/*.yaml); flags given here override it"

    c = sub.add_parser("convert", help="matte a video, URL, image sequence or folder of videos")
    c.add_argument("input", help="video file or URL, image folder, name_%%06d.png pattern, or folder of videos")
    c.add_argument("--config", help=preset)
    _add(c, OutputOptions)
    _add(c, MattingOptions)
    _add(c, ScaleOptions)

    r = sub.add_parser("report", help="matte a clip and write an HTML quality report (no video output)")
    r.add_argument("input", help="video file, URL or image sequence")
    r.add_argument("-o", "--output", dest="report", required=True, help="report .html path")
    r.add_argument("--config", help=preset)
    _add(r, OutputOptions, skip=REPORT_SKIPS)
    _add(r, MattingOptions)

    v = sub.add_parser("live", help="camera (or a file played live) to a virtual camera, stream, window or file")
    v.add_argument("--config", help=preset)
    _add(v, LiveOptions)
    _add(v, MattingOptions)

    e = sub.add_parser("export", help="make an ONNX graph or TensorRT engine ahead of time, for one size and ratio")
    e.add_argument("format", choices=("onnx", "tensorrt"))
    e.add_argument("--config", help=preset)
    _add(e, ExportOptions)
    _add(e, MattingOptions, only=EXPORT_MATTING)

    k = sub.add_parser("cache", help="list or clear the cache (weights, exports, engines) in $VMATTE_HOME")
    k.add_argument("action", choices=("list", "clear"))
    k.add_argument("--all", action="store_true", help="with clear: the converted weights too (pulled again on use)")

    m = sub.add_parser("models", help="list, fetch or locate model weights")
    m.add_argument("action", choices=("list", "pull", "path"))
    m.add_argument("name", nargs="?", default="rvm-mobilenetv3")
    m.add_argument("--force", action="store_true", help="fetch again even if cached")
    return p


def _preset(path: str, classes: tuple[type, ...]) -> dict[str, Any]:
    """The preset's values, each checked against its option; one line naming the key and the file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise VmatteError(f"cannot read --config {path}: {e.strerror}") from None
    except (yaml.YAMLError, ValueError) as e:  # ValueError: not UTF-8 text
        raise VmatteError(f"--config {path} is not a YAML text file ({type(e).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VmatteError(f"--config {path} must be a mapping of option: value")
    owned = {f.name: f for cls in classes for f in fields(cls)}
    values = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in owned or not spec_of(owned[name]).cli:
            raise VmatteError(f"--config {path}: unknown option {key!r}; see `vmatte --help`")
        try:
            values[name] = convert_value(name, spec_of(owned[name]), value)
        except VmatteError as e:
            raise VmatteError(f"--config {path}: {key}: {e}") from None
    return values


def options(args: argparse.Namespace, classes: tuple[type, ...]) -> dict[str, Any]:
    """Preset values, overridden by what the command line gave; checked by constructing the dataclasses."""
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "config", "input")}
    values = {**(_preset(args.config, classes) if args.config else {}), **given}
    for cls in classes:
        cls.pick(values)  # every value checked now, before anything is opened or loaded
    verbosity = logging.ERROR if values.get("quiet") else logging.INFO if values.get("verbose") else logging.WARNING
    log.setLevel(verbosity)
    return values


def _convert(a: argparse.Namespace) -> int:
    values = options(a, (OutputOptions, MattingOptions, ScaleOptions))
    from .dispatch import convert
    from .pipeline import BatchSummary

    result = convert(a.input, **values)
    quiet = values.get("quiet", False)
    if isinstance(result, BatchSummary):
        if not quiet:
            for name, s in result.done.items():
                print(f"done     {name}: {s.frames} frames, {s.fps:.1f} fps")
            for name in result.skipped:
                print(f"skipped  {name}: outputs already complete")
            for name, why in result.ignored.items():
                print(f"ignored  {name}: {why}")
        for name, why in result.failed.items():
            print(f"failed   {name}: {why}", file=sys.stderr)
        if not quiet:
            ignored = f", {len(result.ignored)} ignored" if result.ignored else ""
            print(f"{len(result.done)} matted, {len(result.skipped)} skipped, {len(result.failed)} failed{ignored}")
        return 1 if result.failed else 0
    if not quiet:
        outs = ", ".join(str(values[k]) for k in ROLE_FLAGS if values.get(k))
        cuts = f", scene cuts at frames {result.cuts}" if result.cuts else ""
        if result.photo:
            print(f"1 photo in {result.seconds:.1f} s -> {outs}")
        else:
            print(f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps){cuts} -> {outs}")
    return 0


def _export(a: argparse.Namespace) -> int:
    values = options(a, (ExportOptions, MattingOptions))
    from .exporting import export

    path = export(a.format, **{k: v for k, v in values.items() if k != "format"})
    if not values.get("quiet"):
        print(path)
    return 0


def _live(a: argparse.Namespace) -> int:
    values = options(a, (LiveOptions, MattingOptions))
    from .realtime import live

    stats = live(**values)
    if stats.interrupted:  # the recording is kept; the exit status says how the session ended
        print("vmatte: interrupted; the session's output was closed and kept", file=sys.stderr)
        return 130
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


def _cache(a: argparse.Namespace) -> int:
    from . import cache

    if a.action == "clear":
        freed = cache.clear(everything=a.all)
        print(f"freed {freed / 1e6:.1f} MB in {cache.cache_dir()}")
        return 0
    rows = cache.entries()
    for kind, path, size, used in rows:
        print(f"{kind:8} {size / 1e6:9.1f} MB  {time.strftime('%Y-%m-%d %H:%M', time.localtime(used))}  {path.name}")
    print(f"{sum(r[2] for r in rows) / 1e6:.1f} MB in {cache.cache_dir()}")
    return 0


COMMANDS = {"convert": _convert, "report": _convert, "live": _live, "export": _export, "models": _models,
            "cache": _cache}


class _Stderr(logging.Handler):
    """Writes `vmatte: message` (`vmatte live: message` from the `vmatte.live` logger) to whatever
    sys.stderr is when the record comes."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{record.name.replace('.', ' ')}: {record.getMessage()}", file=sys.stderr)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    if not log.handlers:  # warnings and details as `vmatte: ...` lines on stderr
        log.addHandler(_Stderr())
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except VmatteError as e:
        print(f"vmatte: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vmatte: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line; VMATTE_DEBUG=1 shows the traceback
        if os.environ.get("VMATTE_DEBUG"):
            raise
        print(f"vmatte: error: internal error ({type(e).__name__}: {e}); outputs were removed. Please report "
              "it, with the traceback that VMATTE_DEBUG=1 shows", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
