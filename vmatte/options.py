"""Every option of `vmatte convert`, `report` and `live`, declared once: name, type, default, range, help.

Three frozen dataclasses hold them: `MattingOptions` (the network, the shots, the look), `OutputOptions`
(what `convert` writes) and `LiveOptions` (what `live` reads and where it sends it). Constructing one
checks every value and raises `VmatteError` with one line naming the option, the value and what is
allowed, so the Python API, the command line and `--config` presets fail alike, before any model is
loaded or any file is opened. The command line builds its parser from the same fields (`cli.py`).
No torch here: `vmatte --help` and a bad option answer in a fraction of a second.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import VmatteError

BACKENDS = ("auto", "torch", "cuda-graph", "onnxruntime", "tensorrt", "torch-compile")
COLOURS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "green": (0, 177, 64), "blue": (0, 71, 187),
    "red": (255, 0, 0), "gray": (128, 128, 128), "grey": (128, 128, 128), "magenta": (255, 0, 255),
}
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(spec: object) -> bool:
    """True for 'scheme://...' (http, rtsp, udp, ...): such a spec is never turned into a Path."""
    return isinstance(spec, str) and bool(URL.match(spec))


@dataclass(frozen=True)
class Spec:
    """How one option is spelled, typed and bounded. `kind` is float, int, str, bool or 'path';
    `low`/`high` bound numbers (`open_low`: low itself is not allowed); `check` validates and
    normalises what the simple rules cannot say (a background spec, a sink)."""

    help: str
    kind: Any = str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    check: Callable[[Any], Any] | None = None
    flag: str | None = None  # the command line's spelling, when not --name-with-dashes
    short: str | None = None
    metavar: str | None = None
    cli: bool = True  # False: Python API only

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        lo = "" if self.low is None else f"{'>' if self.open_low else '>='} {self.low:g}"
        hi = "" if self.high is None else f"<= {self.high:g}"
        kind = {float: "a number", int: "a whole number"}.get(self.kind, "a value")
        return " and ".join(x for x in (f"{kind} {lo}".strip(), hi) if x)


def option(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field carrying its Spec."""
    return field(default=default, metadata={"spec": Spec(help, **spec)})


def spec_of(f) -> Spec:
    return f.metadata["spec"]


def flag_of(name: str, spec: Spec) -> str:
    return spec.flag or "--" + name.replace("_", "-")


def _number(value: Any, kind: type, name: str, spec: Spec) -> float | int:
    """`value` as a finite float or an int, within the spec's bounds."""
    flag = flag_of(name, spec)
    v: float | int | None = None
    if isinstance(value, bool):
        pass
    elif kind is int:
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            v = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            v = int(value)
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            pass
    if v is None or not math.isfinite(v):
        raise VmatteError(f"{flag}: {value!r} is not {spec.allowed()}")
    too_low = spec.low is not None and (v <= spec.low if spec.open_low else v < spec.low)
    if too_low or (spec.high is not None and v > spec.high):
        raise VmatteError(f"{flag}: {value!r} is out of range; give {spec.allowed()}")
    return v


def convert_value(name: str, spec: Spec, value: Any) -> Any:
    """One option's value, typed and checked (None passes for options without a value)."""
    if value is None:
        return None
    flag = flag_of(name, spec)
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise VmatteError(f"{flag}: {value!r} is not true or false")
    if spec.kind in (float, int):
        return _number(value, spec.kind, name, spec)
    if spec.kind in (str, "path") and not isinstance(value, str):
        if spec.kind == "path" and hasattr(value, "__fspath__"):
            value = str(value.__fspath__())
        else:
            raise VmatteError(f"{flag}: expected text, got {type(value).__name__} {value!r}; quote it in a preset")
    if spec.choices is not None:
        text = str(value)
        if text not in spec.choices:
            raise VmatteError(f"{flag}: {value!r} is not {spec.allowed()}")
        return spec.kind(text) if spec.kind in (int, float) else text
    if spec.kind == "path" and not str(value).strip():
        raise VmatteError(f"{flag}: an empty path; give a file name")
    return spec.check(value) if spec.check else value


class Checked:
    """Base of the option dataclasses: every field is converted and checked on construction."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, convert_value(f.name, spec_of(f), getattr(self, f.name)))

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def pick(cls, values: dict[str, Any]):
        """An instance from the keys of `values` this class owns (the rest are ignored)."""
        return cls(**{k: v for k, v in values.items() if k in cls.names()})


# ---- checks that need more than a type and a range ----

def ratio(value: Any) -> str | float:
    """'auto' or a downsample ratio in (0, 1]."""
    if isinstance(value, str) and value.strip() == "auto":
        return "auto"
    return _number(value, float, "downsample_ratio", Spec("", float, low=0, high=1, open_low=True))


def background(value: Any) -> str:
    """A background spec: blur[:sigma], a colour name or #rrggbb, 'transparent', or a file (checked
    to exist here; its contents are read when the run starts)."""
    s = value.strip()
    if s == "blur" or s.startswith("blur:"):
        if ":" in s:
            _number(s[5:], float, "background", Spec("", float, low=0, high=500, open_low=True,
                                                     flag="--background blur:SIGMA"))
        return s
    if s == "transparent" or s.lower() in COLOURS or re.fullmatch(r"#?[0-9a-fA-F]{6}", s):
        return s
    from pathlib import Path

    if not Path(s).is_file():
        raise VmatteError(f"--background: {value!r} is not a colour (green, #00ff00), blur[:sigma px], "
                          "transparent, or an existing image or video file")
    return s


def weights_file(value: str) -> str:
    from pathlib import Path

    if not Path(value).is_file():
        raise VmatteError(f"--weights: {value} does not exist or is not a file; give a .pth, .safetensors or "
                          ".onnx file")
    return value


def device(value: str) -> str:
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", value.strip()):
        return value.strip()
    raise VmatteError(f"--device: {value!r} is not auto, cpu, cuda or cuda:N")


def udp_url(url: str) -> str:
    """udp://HOST:PORT[?options], port 1-65535."""
    m = re.fullmatch(r"udp://([^/:?]+|\[[0-9a-fA-F:]+\]):(\d+)(\?.*)?", url)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise VmatteError(f"--sink: {url!r} needs a host and a port from 1 to 65535, e.g. udp://127.0.0.1:5000")
    return url


def sink(value: str) -> str:
    """virtual[:/dev/videoN], udp://HOST:PORT, preview, or a file (.mp4 .mkv .mov .webm)."""
    s = value.strip()
    if s in ("virtual", "preview") or re.fullmatch(r"virtual:/dev/video\d+", s):
        return s
    if s.startswith("udp://"):
        return udp_url(s)
    if is_url(s):
        raise VmatteError(f"--sink: {value!r}: only udp:// streams are supported; e.g. udp://127.0.0.1:5000")
    ext = s[s.rfind("."):].lower() if "." in s.rsplit("/", 1)[-1] else ""
    if ext not in (".mp4", ".mkv", ".mov", ".webm"):
        raise VmatteError(f"--sink: {value!r} is not virtual, preview, udp://HOST:PORT or a .mp4/.mkv/.mov/.webm file")
    return s


def source(value: Any) -> str:
    """A camera index (an integer is taken as one), /dev/videoN, a URL, or a file."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise VmatteError(f"--source: {value!r} is not a camera index, /dev/videoN, a URL or a file")
    return value.strip()


FPS = dict(kind=float, low=0, high=1000, open_low=True)
QUIET = "print nothing but errors"


@dataclass(frozen=True)
class MattingOptions(Checked):
    """The network, the shots and the look, shared by convert, report and live. Sizes in pixels."""

    model: str = option("rvm-mobilenetv3", "registry model name (vmatte models list)")
    weights: str | None = option(None, "a .pth, .safetensors or RVM .onnx file instead of the registry's",
                                 kind="path", check=weights_file, metavar="PATH")
    device: str = option("auto", "auto, cpu, cuda or cuda:N", check=device)
    backend: str = option("auto", "auto: cuda-graph on CUDA, onnxruntime on CPU; torch-compile is opt-in "
                          "(slow first frame)", choices=BACKENDS)
    precision: str = option("auto", "auto (fp16 on CUDA, fp32 on CPU), fp32 or fp16 (CUDA only)",
                            choices=("auto", "fp32", "fp16"))
    downsample_ratio: str | float = option("auto", "the network's internal scale in (0, 1], or auto (RVM's "
                                           "guidance for --subject)", kind=object, check=ratio,
                                           metavar="auto|R")
    subject: str = option("portrait", "what auto downsampling assumes", choices=("portrait", "full-body"))
    scene_cuts: str = option("reset", "at a detected hard cut, start a fresh state (reset) or carry on (ignore)",
                             choices=("reset", "ignore"))
    matte_choke: float = option(0.0, "shrink (+) or grow (-) the matte, pixels", kind=float, low=-64, high=64,
                                metavar="PX")
    feather: float = option(0.0, "soften the matte edge, Gaussian sigma in pixels", kind=float, low=0, high=64,
                            metavar="PX")
    despill: float = option(0.0, "0..1: remove the background's colour cast from edge colours", kind=float,
                            low=0, high=1)
    background: str | None = option(None, "colour name or #rrggbb, image, video (looped), blur[:sigma px], or "
                                    "transparent (live); default green for convert, blur:20 for live",
                                    check=background, metavar="SPEC")
    background_fit: str = option("fill", "an image/video background covers the frame (fill, cropped) or fits "
                                 "inside it (fit)", choices=("fill", "fit"))


@dataclass(frozen=True)
class OutputOptions(Checked):
    """What `vmatte convert` (and `report`) read and write. Paths are files, %0Nd.png patterns or folders/."""

    output: str | None = option(None, "shorthand: .mov/.webm -> --rgba, .mp4/.mkv -> --composite, .png pattern "
                                "-> --rgba", kind="path", short="-o", metavar="PATH")
    rgba: str | None = option(None, "straight alpha + foreground colour: .mov (ProRes 4444), .webm (VP9), .mkv "
                              "(FFV1), name_%06d.png", kind="path", metavar="PATH")
    matte: str | None = option(None, "lossless alpha: .mkv (FFV1 16-bit gray) or name_%06d.png (16-bit)",
                               kind="path", metavar="PATH")
    composite: str | None = option(None, "the person over --background: .mp4/.mkv (H.264), .mov (ProRes 422), "
                                   ".webm (VP9), name_%06d.png", kind="path", metavar="PATH")
    foreground: str | None = option(None, "the predicted foreground colour, no alpha", kind="path", metavar="PATH")
    report: str | None = option(None, "also write the HTML quality report here", kind="path", metavar="PATH")
    prores_encoder: str = option("aw", "aw (default, ~2.5x faster) or ks (slightly higher quality)",
                                 choices=("aw", "ks"))
    crf: int = option(18, "quality for H.264 (0-51) and VP9 (0-63); lower is better", kind=int, low=0, high=63)
    bit_depth: int = option(8, "PNG sequence depth", kind=int, choices=("8", "16"))
    audio: bool = option(True, "drop the audio", kind=bool, flag="--no-audio")
    fps: float | None = option(None, "frame rate of an image-sequence input (default 25)", **FPS)
    warmup: int = option(15, "frames each shot's state is settled on before its first output frame (0: off)",
                         kind=int, low=0, high=300)
    progress: bool = option(True, "no progress bar", kind=bool, flag="--no-progress")
    quiet: bool = option(False, QUIET, kind=bool, short="-q")


@dataclass(frozen=True)
class LiveOptions(Checked):
    """What `vmatte live` reads and where it sends it. Sizes in pixels, rates in frames per second."""

    source: str = option("0", "camera index, /dev/videoN, or a video file or URL", kind=object, check=source)
    sink: str = option("virtual", "virtual[:/dev/videoN], udp://HOST:PORT, preview, or a .mp4/.mkv/.mov/.webm "
                       "file", check=sink)
    realtime: bool = option(False, "pace a file source to its own timestamps", kind=bool)
    width: int | None = option(None, "camera width to ask for, pixels", kind=int, low=16, high=16384)
    height: int | None = option(None, "camera height to ask for, pixels", kind=int, low=16, high=16384)
    fps: float | None = option(None, "camera frame rate to ask for", **FPS)
    mirror: bool = option(False, "flip left-right, like a mirror", kind=bool)
    stats_json: str | None = option(None, "write frames in/out/dropped, fps and latency percentiles here at the "
                                    "end", kind="path", metavar="PATH")
    max_frames: int | None = option(None, "stop after this many captured frames", kind=int, low=1)
    quiet: bool = option(False, QUIET, kind=bool, short="-q")

