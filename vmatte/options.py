"""Every option of `vmatte convert`, `report` and `live`, declared once: name, type, default, range, help.

Three frozen dataclasses hold them: `MattingOptions` (the network, the shots, the look), `OutputOptions`
(what `convert` writes) and `LiveOptions` (what `live` reads and where it sends it). Constructing one
checks every value and raises `VmatteError` with one line naming the option, the value and what is
allowed, so the Python API, the command line and `--config` presets fail alike, before any model is
loaded or any file is opened. The command line builds its parser from the same fields (`cli.py`).
No torch here: `vmatte --help` and a bad option answer in a fraction of a second.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import VmatteError
from .optionspec import Checked, Spec, number, option

EFFORTS = ("fast", "default", "best")  # recipe.EFFORT_SCALE gives each its internal scale
# --background when none is given, by kind of run (recipe.Recipe reads it; --help shows it).
BACKGROUND_DEFAULTS = {"clip": "green", "photo": "white", "live": "blur:20"}
BACKENDS = ("auto", "torch", "cuda-graph", "onnxruntime", "tensorrt", "torch-compile")
COLOURS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "green": (0, 177, 64), "blue": (0, 71, 187),
    "red": (255, 0, 0), "gray": (128, 128, 128), "grey": (128, 128, 128), "magenta": (255, 0, 255),
}
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(spec: object) -> bool:
    """True for 'scheme://...' (http, rtsp, udp, ...): such a spec is never turned into a Path."""
    return isinstance(spec, str) and bool(URL.match(spec))


# ---- checks that need more than a type and a range ----

def ratio(value: Any) -> str | float:
    """'auto' or a downsample ratio in (0, 1]."""
    if isinstance(value, str) and value.strip() == "auto":
        return "auto"
    return number(value, float, "downsample_ratio", Spec("", float, low=0, high=1, open_low=True))


def background(value: Any, files: bool = True) -> str:
    """A background spec: blur[:sigma], a colour name or #rrggbb, 'transparent', or a file (checked
    to exist here; its contents are read when the run starts). files=False refuses a file: what a
    control page sends may not name one on this machine."""
    s = value.strip()
    if s == "blur" or s.startswith("blur:"):
        if ":" in s:
            number(s[5:], float, "background", Spec("", float, low=0, high=500, open_low=True,
                                                     flag="--background blur:SIGMA"))
        return s
    if s == "transparent" or s.lower() in COLOURS or re.fullmatch(r"#?[0-9a-fA-F]{6}", s):
        return s
    if not files:
        raise VmatteError(f"background: {value!r} is not none, transparent, a colour (green, #00ff00) or "
                          "blur[:sigma px]; send an image as an upload")
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


def control_address(value: Any) -> str:
    """[HOST:]PORT for the control server: HOST an IP address or localhost (default 127.0.0.1), PORT 0-65535
    (0: any free port). Returned as HOST:PORT, an IPv6 host in brackets."""
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\[[0-9a-fA-F:]+\]|[^:\[\]]+):)?(\d{1,5})", text)
    host = (m.group(1) or "127.0.0.1") if m else ""
    if host == "localhost":
        host = "127.0.0.1"
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        m = None
    if not m or int(m.group(2)) > 65535:
        raise VmatteError(f"--control: {value!r} is not [HOST:]PORT with HOST an IP address (default 127.0.0.1) "
                          "and PORT 0-65535, e.g. 8765 or 0.0.0.0:8765")
    return f"{host}:{int(m.group(2))}"


FPS = dict(kind=float, low=0, high=1000, open_low=True)
STREAM = dict(kind=int, low=0, metavar="N")
MAX_PIXELS = dict(kind=int, low=1, metavar="N")
MAX_PIXELS_HELP = "refuse frames larger than this many pixels (8K UHD fits the default), saying the memory needed"
KEYFRAME = dict(kind=float, low=0, high=60, open_low=True, metavar="SECONDS")
KEYFRAME_HELP = ("live and udp:// H.264: the longest gap between keyframes, so a receiver that joins late shows "
                 "a picture within it")
QUIET, VERBOSE = "print nothing but errors", "also print details (fallbacks, choices made)"


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
    effort: str = option("default", "fast: half the auto internal scale; best (video files, convert): twice it, "
                         "and each shot matted forward, backward and mirrored, averaged (4 network steps a frame, "
                         "~13x the default's network time at 1080p on a CPU; the file read 3 times)",
                         choices=EFFORTS)
    scene_cuts: str = option("reset", "at a detected hard cut, start a fresh state (reset) or carry on (ignore)",
                             choices=("reset", "ignore"))
    matte_choke: float = option(0.0, "shrink (+) or grow (-) the matte, pixels", kind=float, low=-64, high=64,
                                metavar="PX")
    feather: float = option(0.0, "soften the matte edge, Gaussian sigma in pixels", kind=float, low=0, high=64,
                            metavar="PX")
    despill: float = option(0.0, "0..1: remove the background's colour cast from edge colours", kind=float,
                            low=0, high=1)
    background: str | None = option(None, "colour name or #rrggbb, image, video (looped), blur[:sigma px], or "
                                    f"transparent (live); default {BACKGROUND_DEFAULTS['clip']} for a clip, "
                                    f"{BACKGROUND_DEFAULTS['photo']} for a photo, {BACKGROUND_DEFAULTS['live']} "
                                    "for live",
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
    prores_encoder: str = option("ks", "ProRes 4444 encoder: ks (opaque is exactly opaque) or aw (alpha tops "
                                 "out at 0.999)", choices=("ks", "aw"))
    crf: int = option(18, "quality for H.264 (0-51) and VP9 (0-63); lower is better", kind=int, low=0, high=63)
    keyframe_seconds: float = option(1.0, KEYFRAME_HELP, **KEYFRAME)
    bit_depth: int = option(8, "PNG sequence depth", kind=int, choices=("8", "16"))
    audio: bool = option(True, "drop the audio", kind=bool, flag="--no-audio")
    fps: float | None = option(None, "frame rate of an image-sequence input (default 25)", **FPS)
    stream: int | None = option(None, "the video stream to matte, numbered as ffprobe does (default: the main one)",
                                **STREAM)
    max_pixels: int = option(40_000_000, MAX_PIXELS_HELP, **MAX_PIXELS)
    warmup: int = option(15, "frames each shot's state is settled on before its first output frame (0: off)",
                         kind=int, low=0, high=300)
    still_passes: int = option(8, "photos: steps the state is settled on the photo itself before its matte",
                               kind=int, low=0, high=50)
    still_flip: bool = option(False, "photos: also matte the mirrored photo and average (twice the time)",
                              kind=bool)
    quality: int = option(95, "photos: JPEG/WebP quality, 1-100 (WebP 100 is lossless)", kind=int, low=1, high=100)
    progress: bool = option(True, "no progress bar", kind=bool, flag="--no-progress")
    quiet: bool = option(False, QUIET, kind=bool, short="-q")
    verbose: bool = option(False, VERBOSE, kind=bool, short="-v")

    def encoder_settings(self) -> dict[str, Any]:
        """The options every video sink of a convert run is opened with (io.sinks.open_sink's keywords)."""
        return {"prores_encoder": self.prores_encoder, "crf": self.crf, "keyframe_seconds": self.keyframe_seconds}


def ray_address(value: str) -> str:
    """'local' (start a Ray on this machine), 'auto' (join the running cluster) or HOST:PORT."""
    s = value.strip()
    if s in ("local", "auto") or re.fullmatch(r"(ray://)?[A-Za-z0-9.\-]+:\d{1,5}", s):
        return s
    raise VmatteError(f"--ray: {value!r} is not local, auto or HOST:PORT; give --ray alone for a local Ray")


@dataclass(frozen=True)
class ScaleOptions(Checked):
    """How `vmatte convert` spreads a job: over local worker processes or Ray actors, in segments of a clip
    (scale/). Seconds are of the clip's own time."""

    workers: int = option(1, "worker processes (or Ray actors), each with its own engine; 1: one process",
                          kind=int, low=1, high=256, metavar="N")
    ray: str | None = option(None, "run the workers on Ray: alone, a local Ray; auto or HOST:PORT joins a "
                             "running cluster (pip install 'vmatte[cluster]')", check=ray_address, const="local",
                             metavar="ADDRESS")
    segment_seconds: float = option(10.0, "split a clip into segments of about this length, at hard cuts where "
                                    "possible", kind=float, low=1, high=3600)
    preroll: int = option(30, "where a segment's exact starting state is not known, frames before it run "
                          "through the network first to approximate it", kind=int, low=0, high=600)
    gpus_per_worker: float | None = option(None, "GPU share of each worker (default: the GPUs divided among the "
                                           "workers)", kind=float, low=0, high=8, open_low=True)


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
    stream: int | None = option(None, "for a file or URL: the video stream, numbered as ffprobe does", **STREAM)
    max_pixels: int = option(40_000_000, MAX_PIXELS_HELP, **MAX_PIXELS)
    mirror: bool = option(False, "flip left-right, like a mirror", kind=bool)
    stats_json: str | None = option(None, "write frames in/out/dropped, fps and latency percentiles here at the "
                                    "end", kind="path", metavar="PATH")
    max_frames: int | None = option(None, "stop after this many captured frames", kind=int, low=1)
    keyframe_seconds: float = option(1.0, KEYFRAME_HELP, **KEYFRAME)
    control: str | None = option(None, "serve a control page and an OBS Browser Source page (alpha) at [HOST:]PORT; "
                                 "HOST defaults to 127.0.0.1 (this machine only); a token in the printed URL is "
                                 "needed", kind=object, check=control_address, metavar="[HOST:]PORT")
    quiet: bool = option(False, QUIET, kind=bool, short="-q")
    verbose: bool = option(False, VERBOSE, kind=bool, short="-v")



TENSORRT_TARGETS = ("sm75", "sm80", "sm86", "sm89", "sm120", "sm121")  # TensorRT for RTX's compute capabilities


def size(value: str) -> tuple[int, int]:
    """'WxH' in pixels -> (width, height)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        value = f"{value[0]}x{value[1]}"
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
    if not m or not all(16 <= int(v) <= 16384 for v in m.groups()):
        raise VmatteError(f"--size: {value!r} is not WIDTHxHEIGHT in pixels, each 16 to 16384, e.g. 1920x1080")
    return int(m.group(1)), int(m.group(2))


def targets(value: str) -> tuple[str, ...]:
    """'sm86,sm89' -> ('sm86', 'sm89'): GPU compute capabilities to build TensorRT engines for."""
    items = value if isinstance(value, (tuple, list)) else str(value).split(",")
    names = tuple(dict.fromkeys(str(t).strip().lower() for t in items if str(t).strip()))
    bad = [t for t in names if t not in TENSORRT_TARGETS]
    if not names or bad:
        raise VmatteError(f"--target: {value!r} is not a comma-separated list of {', '.join(TENSORRT_TARGETS)}")
    return names


@dataclass(frozen=True)
class ExportOptions(Checked):
    """`vmatte export`: an ONNX graph or a TensorRT engine for one frame size and ratio, made ahead of time
    (on any machine: TensorRT for RTX builds without a GPU)."""

    format: str = option("tensorrt", "onnx or tensorrt", choices=("onnx", "tensorrt"), cli=False)
    size: tuple[int, int] | None = option(None, "frame size WIDTHxHEIGHT in pixels", kind=object, check=size,
                                          metavar="WxH")
    target: tuple[str, ...] | None = option(None, "GPUs to build for (TensorRT for RTX): comma-separated "
                                            f"{','.join(TENSORRT_TARGETS)}; default: this machine's GPU",
                                            kind=object, check=targets, metavar="SM,...")
    output: str | None = option(None, "the file to write (.onnx, or a TensorRT .plan/.engine)", kind="path",
                                short="-o", metavar="FILE")
