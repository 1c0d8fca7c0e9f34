"""Codec policy: which codec, pixel format and options each output gets, and frames in its format.

One table for every writer: files (ProRes 4444, VP9 with alpha, FFV1, H.264, ProRes 422) and the
UDP stream (H.264 in MPEG-TS). A live sink gets the cheapest H.264 preset, so the network keeps the CPU.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VmatteError

CONTAINERS = {".mov": "mov", ".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".webm": "webm"}
STREAMS = {"udp": "mpegts"}  # URL scheme -> container
# Codecs whose every frame is coded on its own: any frame can go to any encoder, so a pool of them
# encodes in parallel (encoder_pool.py).
INTRA_ONLY = {"prores_aw", "prores_ks"}
# FFV1 version 3 with a GOP of 1: every frame a keyframe, so an editor seeks anywhere, and the segments of
# a clip matted by several workers join packet by packet (scale/join.py).
FFV1 = {"level": "3", "slices": "4", "g": "1"}
JOINABLE = {"prores_aw", "prores_ks", "ffv1"}  # codecs whose segment files join without re-encoding
CRF_MAX = {"libx264": 51, "libvpx-vp9": 63}
INPUT_FORMAT = {("rgba", 16): "rgba64le", ("rgba", 8): "rgba", ("rgb", 16): "rgb48le", ("rgb", 8): "rgb24",
                ("gray", 16): "gray16le", ("gray", 8): "gray"}


@dataclass(frozen=True)
class PlaneSpec:
    """The planes an encoder's pixel format holds, so the compositor hands them over ready (pixels.for_sink)
    and no swscale runs: 'yuv' (BT.709, limited range, alpha full range) or 'gbr' (planar RGB, FFV1's
    order G, B, R, A); bits per sample; chroma subsampling; whether an alpha plane follows."""

    kind: str
    bits: int
    subsampling: str = "444"
    alpha: bool = False


PLANAR = {  # pixel format -> its planes; the formats of encoding_for's table
    "yuva444p10le": PlaneSpec("yuv", 10, "444", True), "yuv422p10le": PlaneSpec("yuv", 10, "422"),
    "yuv420p": PlaneSpec("yuv", 8, "420"), "yuv444p": PlaneSpec("yuv", 8, "444"),
    "yuva420p": PlaneSpec("yuv", 8, "420", True), "gbrap16le": PlaneSpec("gbr", 16, "444", True),
}


@dataclass(frozen=True)
class Encoding:
    """How one output is encoded: codec, its pixel format, options, and the layout fed to it."""

    codec: str
    pix_fmt: str
    layout: str  # "rgba", "rgb" or "gray": what the compositor hands over
    bits: int  # 8 or 16: depth of the arrays handed over
    options: dict[str, str] = field(default_factory=dict)
    codec_tag: str | None = None
    keyframe_seconds: float | None = None  # a keyframe (with its SPS/PPS) at least this often: streams, live

    @property
    def planes(self) -> PlaneSpec | None:
        """What write() takes as a list of planes (None: one packed HxWxC array of `layout` and `bits`)."""
        return PLANAR.get(self.pix_fmt)


def container_for(target: str) -> str:
    """The FFmpeg container for a file name or a stream URL."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else None
    if scheme is not None:
        if scheme not in STREAMS:
            raise VmatteError(f"{target}: only {', '.join(s + '://' for s in STREAMS)} streams can be written")
        return STREAMS[scheme]
    ext = Path(target).suffix.lower()
    if ext not in CONTAINERS:
        raise VmatteError(f"{target}: unknown output type {ext or '(none)'!r}; use one of "
                          f"{', '.join(sorted(CONTAINERS))} or a %06d.png pattern")
    return CONTAINERS[ext]


# prores_ks at a fixed quantiser of 1 (its finest; 118 = FF_QP2LAMBDA): its per-slice rate search is what
# made it 3-4x slower than prores_aw, and on real footage it settled on quantiser 1 anyway (the same bytes).
# Fixed, it runs as fast as prores_aw (benchmarks/prores_encoders.py).
KS_FIXED = {"flags": "+qscale", "global_quality": "118"}


def prores_4444(encoder: str = "ks") -> Encoding:
    """ProRes 4444 with a 16-bit alpha, straight (not premultiplied). 'ks' (default): an opaque pixel
    decodes as full-scale alpha (65535; 4095 in FFmpeg's 12-bit decode). 'aw': prores_aw turns 10-bit
    alpha into 16 bits by a shift alone, so opaque decodes as 65472/65535 (0.9990), never 1.0."""
    if encoder == "aw":
        return Encoding("prores_aw", "yuva444p10le", "rgba", 16, {"profile": "4", "alpha_bits": "16"}, "ap4h")
    if encoder == "ks":
        return Encoding("prores_ks", "yuva444p10le", "rgba", 16,
                        {"profile": "4444", "alpha_bits": "16", **KS_FIXED}, "ap4h")
    raise VmatteError(f"--prores-encoder: unknown ProRes encoder {encoder!r}; use ks or aw")


def _h264(crf: int, live: bool, keyframe_seconds: float = 1.0) -> Encoding:
    """H.264; live (a live sink or a udp:// stream): the cheapest preset, no lookahead, and a keyframe every
    `keyframe_seconds`, so a receiver that joins late (or loses a packet) shows a picture within that time,
    not after x264's default 250 frames."""
    if live:
        return Encoding("libx264", "yuv420p", "rgb", 8, {"crf": str(crf), "preset": "ultrafast",
                                                         "tune": "zerolatency"}, keyframe_seconds=keyframe_seconds)
    return Encoding("libx264", "yuv420p", "rgb", 8, {"crf": str(crf), "preset": "veryfast"})


def _vp9(layout: str, crf: int) -> Encoding:
    opts = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
    if layout == "rgba":
        return Encoding("libvpx-vp9", "yuva420p", "rgba", 8, {**opts, "auto-alt-ref": "0"})
    return Encoding("libvpx-vp9", "yuv420p", "rgb", 8, opts)


def encoding_for(target: str | Path, layout: str, *, prores_encoder: str = "ks", crf: int = 18,
                 live: bool = False, keyframe_seconds: float = 1.0) -> Encoding:
    """The codec for an output of `layout` ('rgba', 'rgb' or 'gray') at `target` (a file or udp:// URL).
    keyframe_seconds: the longest gap between keyframes of a live or streamed (udp://) H.264 output."""
    target = str(target)
    fmt = container_for(target)
    enc = None
    if layout == "rgba":
        enc = {"mov": prores_4444(prores_encoder) if fmt == "mov" else None, "webm": _vp9("rgba", crf),
               "matroska": Encoding("ffv1", "gbrap16le", "rgba", 16, FFV1)}.get(fmt)
    elif layout == "gray" and fmt == "matroska":
        enc = Encoding("ffv1", "gray16le", "gray", 16, FFV1)
    elif layout == "rgb":
        if fmt in ("mp4", "matroska", "mpegts"):
            enc = _h264(crf, live or fmt == "mpegts", keyframe_seconds)
        elif fmt == "mov":
            enc = Encoding("prores_aw", "yuv422p10le", "rgb", 16, {"profile": "3"}, "apch")
        elif fmt == "webm":
            enc = _vp9("rgb", crf)
    if enc is None:
        allowed = {"rgba": ".mov .webm .mkv", "gray": ".mkv", "rgb": ".mp4 .mkv .mov .webm"}[layout]
        raise VmatteError(f"{target}: {Path(target).suffix or fmt} cannot hold this output; use {allowed} "
                          "or a %06d.png pattern")
    if enc.codec in CRF_MAX and crf > CRF_MAX[enc.codec]:
        raise VmatteError(f"--crf: {crf} is out of range for {enc.codec} ({target}); give 0 to {CRF_MAX[enc.codec]}")
    return enc


@functools.lru_cache(maxsize=32)
def _encodes(codec: str, pix_fmt: str, options: tuple[tuple[str, str], ...], width: int, height: int) -> bool:
    """Whether `codec` encodes a blank frame of this size: FFmpeg's prores_aw fails on some large sizes
    (4096x4096, 8192x4096, 6000x4000, ... but not 8192x4320) with AVERROR_BUG."""
    try:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, Fraction(1, 25)
        ctx.options, ctx.thread_count = dict(options), 1
        ctx.open()
        frame = av.VideoFrame(width, height, pix_fmt)
        frame.pts = 0
        ctx.encode(frame)
        return True
    except av.error.FFmpegError:
        return False


def fit_to_size(enc: Encoding, width: int, height: int) -> Encoding:
    """Adjust for the frame size, keeping every pixel: prores_aw needs an even width and fails on some
    large sizes (prores_ks does neither), and 4:2:0 H.264 needs both sides even (4:4:4 does not)."""
    big = width * height > 8_000_000
    if enc.codec == "prores_aw" and (width % 2 or big and not _encodes(enc.codec, enc.pix_fmt,
                                                                         tuple(enc.options.items()), width, height)):
        profile = {"4": "4444", "3": "3"}[enc.options["profile"]]
        return replace(enc, codec="prores_ks", options={**enc.options, "profile": profile, **KS_FIXED})
    if enc.codec == "ffv1" and min(width, height) < 32:  # FFV1 cannot cut a tiny picture into 4 slices
        return replace(enc, options={**enc.options, "slices": "1"})
    if enc.codec == "libx264" and enc.pix_fmt == "yuv420p" and (width % 2 or height % 2):
        return replace(enc, pix_fmt="yuv444p")
    return enc


def configure(ctx: av.VideoCodecContext, enc: Encoding, width: int, height: int, time_base: Fraction,
              fps: Fraction | None = None) -> None:
    """Size (pixels), pixel format, time base, keyframe interval (from `fps`, frames a second) and colour
    tags of an encoder for `enc`: a writer's stream and each pool encoder are set up here alike."""
    ctx.width, ctx.height, ctx.pix_fmt = width, height, enc.pix_fmt
    ctx.time_base = time_base
    if enc.keyframe_seconds and fps:
        ctx.gop_size = max(1, round(float(fps) * enc.keyframe_seconds))
    if enc.layout != "gray":  # BT.709, so editors read it back alike; a matte is data, not colour
        ctx.color_primaries = ctx.color_trc = 1
        rgb = enc.pix_fmt.startswith("gbr")
        ctx.colorspace = 0 if rgb else 1  # RGB (FFV1) or the BT.709 matrix
        ctx.color_range = 2 if rgb else 1  # full range for RGB, limited for YUV


def packed_frame(image: np.ndarray, fmt: str) -> av.VideoFrame:
    """An HxW or HxWxC array as a one-plane (packed) frame of pixel format `fmt`.

    One numpy copy into the frame's own buffer, which runs without the GIL. PyAV's from_ndarray
    copies twice while holding it (1080p 16-bit RGBA on the 2-core dev machine: 5-11.5 ms against
    1.0-2.4 ms, and a Python thread beside it runs at 0.43 against 0.98; benchmarks/frame_copy.py),
    which starved every other thread of the pipeline while a pool of encoders was busy."""
    h, w = image.shape[:2]
    frame = av.VideoFrame(w, h, fmt)
    plane = frame.planes[0]
    row = image[0].nbytes
    dst = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)[:, :row]
    np.copyto(dst, np.ascontiguousarray(image).reshape(h, -1).view(np.uint8))
    return frame


def planar_frame(planes: list[np.ndarray], fmt: str) -> av.VideoFrame:
    """Planes (uint8 or uint16 arrays, as the pixel format `fmt` lays them out) as a frame: one copy each,
    without the GIL, and no conversion."""
    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, fmt)
    if len(frame.planes) != len(planes):
        raise ValueError(f"{fmt} has {len(frame.planes)} planes, got {len(planes)}")
    for plane, a in zip(frame.planes, planes):
        if a.shape != (plane.height, plane.width):
            raise ValueError(f"{fmt} plane of {plane.width}x{plane.height} given an array of shape {a.shape}")
        dst = np.frombuffer(plane, a.dtype).reshape(plane.height, plane.line_size // a.itemsize)[:, :plane.width]
        np.copyto(dst, a)
    return frame


def to_frame(pixels: np.ndarray | list[np.ndarray], enc: Encoding, pts: int, time_base: Fraction) -> av.VideoFrame:
    """The frame `enc`'s codec takes, stamped with `pts`: from its planes (a list, see Encoding.planes), or
    from an HxWxC array of `enc.layout` and `enc.bits` converted by swscale (BT.709 for YUV; swscale takes
    65280 as 16-bit RGB's white, so 65535 becomes 10-bit luma 943 there, not 940)."""
    if isinstance(pixels, list):
        frame = planar_frame(pixels, enc.pix_fmt)
    else:
        frame = packed_frame(pixels, INPUT_FORMAT[(enc.layout, enc.bits)])
        if enc.pix_fmt.startswith("yuv"):
            frame = frame.reformat(format=enc.pix_fmt, dst_colorspace="itu709")
    if enc.pix_fmt.startswith("yuv"):
        # BT.709 matrix, primaries and transfer, limited range, as configure() tags the stream: encoders
        # that write colour into each frame (ProRes's frame header, H.264's VUI) take it from here.
        frame.colorspace = frame.color_primaries = frame.color_trc = 1
        frame.color_range = 1
    elif enc.pix_fmt.startswith("gbr"):  # FFV1's RGB: BT.709 primaries and transfer, full range, no matrix
        frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range = 0, 1, 1, 2
    frame.pts = pts
    frame.time_base = time_base
    return frame
