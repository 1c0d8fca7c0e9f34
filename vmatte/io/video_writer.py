"""Video files written with PyAV: ProRes 4444, VP9 with alpha, FFV1, H.264; audio copied alongside."""
from __future__ import annotations

import os
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import numpy as np

from ..errors import VmatteError
from .atomic import commit, temp_path_for
from .frames import SourceInfo

CONTAINERS = {".mov": "mov", ".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".webm": "webm"}
# Audio codecs each container takes as they are; anything else is transcoded (to AUDIO_TRANSCODE).
AUDIO_COPY = {
    "mov": {"aac", "alac", "mp3", "ac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le"},
    "mp4": {"aac", "alac", "mp3", "ac3", "eac3", "opus", "flac"},
    "webm": {"opus", "vorbis"},
    "matroska": None,  # takes everything
}
AUDIO_TRANSCODE = {"mov": "aac", "mp4": "aac", "webm": "libopus", "matroska": "aac"}
# Codecs whose every frame is coded on its own: any frame can go to any encoder, so a pool of them
# encodes in parallel. A single ProRes encoder's frame threads leave most of a 16-core host idle.
INTRA_ONLY = {"prores_aw", "prores_ks"}
ENCODE_WORKERS: int | None = None  # the pool's size when a writer is not given one; None: default_workers()


def default_workers() -> int:
    """Encoder threads: three quarters of the cores (all of them up to 3), leaving the rest to decode,
    the network and compositing. On the 16-core H200 host, 12 encoders gave 53 fps end to end at
    1080p where 16 gave 44: decode, starved of CPU, had become the bottleneck."""
    cores = os.cpu_count() or 1
    return max(1, cores - cores // 4)


@dataclass(frozen=True)
class Encoding:
    """How one output is encoded: codec, its pixel format, options, and the layout fed to it."""

    codec: str
    pix_fmt: str
    layout: str  # "rgba", "rgb" or "gray": what the compositor hands over
    bits: int  # 8 or 16: depth of the arrays handed over
    options: dict[str, str] = field(default_factory=dict)
    codec_tag: str | None = None


def prores_4444(encoder: str = "aw") -> Encoding:
    """ProRes 4444 with a 16-bit-precision alpha, straight (not premultiplied)."""
    if encoder == "aw":
        return Encoding("prores_aw", "yuva444p10le", "rgba", 16, {"profile": "4", "alpha_bits": "16"}, "ap4h")
    if encoder == "ks":
        return Encoding("prores_ks", "yuva444p10le", "rgba", 16, {"profile": "4444", "alpha_bits": "16"}, "ap4h")
    raise VmatteError(f"unknown ProRes encoder {encoder!r}; use aw or ks")


def encoding_for(path: Path, layout: str, *, prores_encoder: str = "aw", crf: int = 18) -> Encoding:
    """Pick the codec for an output role ('rgba', 'rgb' or 'gray') from the file extension."""
    ext = path.suffix.lower()
    if ext not in CONTAINERS:
        raise VmatteError(f"{path}: unknown output type {ext or '(none)'!r}; use one of "
                          f"{', '.join(sorted(CONTAINERS))} or a %06d.png pattern")
    if layout == "rgba":
        if ext == ".mov":
            return prores_4444(prores_encoder)
        if ext == ".webm":
            return Encoding("libvpx-vp9", "yuva420p", "rgba", 8,
                            {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8",
                             "row-mt": "1", "auto-alt-ref": "0"})
        if ext == ".mkv":
            return Encoding("ffv1", "gbrap16le", "rgba", 16, {"level": "3", "slices": "4"})
    elif layout == "gray":
        if ext == ".mkv":
            return Encoding("ffv1", "gray16le", "gray", 16, {"level": "3", "slices": "4"})
    elif layout == "rgb":
        if ext in (".mp4", ".m4v", ".mkv"):
            return Encoding("libx264", "yuv420p", "rgb", 8, {"crf": str(crf), "preset": "veryfast"})
        if ext == ".mov":
            return Encoding("prores_aw", "yuv422p10le", "rgb", 16, {"profile": "3"}, "apch")
        if ext == ".webm":
            return Encoding("libvpx-vp9", "yuv420p", "rgb", 8,
                            {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
    allowed = {"rgba": ".mov .webm .mkv", "gray": ".mkv", "rgb": ".mp4 .mkv .mov .webm"}[layout]
    raise VmatteError(f"{path}: {ext} cannot hold this output; use {allowed} or a %06d.png pattern")


def fit_to_size(enc: Encoding, width: int, height: int) -> Encoding:
    """Adjust for odd frame sizes, keeping every pixel: prores_aw needs an even width (prores_ks
    does not), and 4:2:0 H.264 needs both sides even (4:4:4 does not)."""
    if enc.codec == "prores_aw" and width % 2:
        profile = {"4": "4444", "3": "3"}[enc.options["profile"]]
        return replace(enc, codec="prores_ks", options={**enc.options, "profile": profile})
    if enc.codec == "libx264" and enc.pix_fmt == "yuv420p" and (width % 2 or height % 2):
        return replace(enc, pix_fmt="yuv444p")
    return enc


INPUT_FORMAT = {("rgba", 16): "rgba64le", ("rgba", 8): "rgba", ("rgb", 16): "rgb48le", ("rgb", 8): "rgb24",
                ("gray", 16): "gray16le", ("gray", 8): "gray"}


class VideoWriter:
    """Writes frames to a video file under a temporary name; `close()` renames it into place.

    Video timestamps are the source's (same time base), so frame count, rate and VFR timing are kept.
    With `audio=True` the source's first audio stream is copied, or transcoded where the container
    cannot hold it, interleaved with the video as it is written. Intra-only codecs (ProRes) are
    encoded on `workers` threads (default: `default_workers()`), each with its own encoder, and muxed in
    order; `workers=0` uses one encoder with the codec's own threading instead.
    """

    def __init__(self, path: str | Path, enc: Encoding, info: SourceInfo, audio: bool = True,
                 workers: int | None = None) -> None:
        self.path = Path(path)
        self.enc = enc = fit_to_size(enc, info.width, info.height)
        if workers is None:
            workers = ENCODE_WORKERS if ENCODE_WORKERS is not None else default_workers()
        self.pool = _EncoderPool(enc, info, workers) if enc.codec in INTRA_ONLY and workers > 0 else None
        self.layout, self.bits = enc.layout, enc.bits
        fmt = CONTAINERS[self.path.suffix.lower()]
        self.tmp = temp_path_for(self.path)
        try:
            self.out = av.open(str(self.tmp), "w", format=fmt)
        except av.error.FFmpegError as e:
            self.tmp.unlink(missing_ok=True)
            raise VmatteError(f"cannot write {self.path}: {e.strerror}") from None
        try:
            self._setup_video(info, fmt)
            self.audio = _AudioPump(info, self.out, fmt) if audio and info.audio else None
            self.video.codec_context.open()
        except av.error.FFmpegError as e:
            self.abort()
            raise VmatteError(f"cannot encode {self.path} with {enc.codec} at {info.width}x{info.height} "
                              f"({e.strerror}); try another output type") from None
        except BaseException:
            self.abort()
            raise

    def _setup_video(self, info: SourceInfo, fmt: str) -> None:
        enc = self.enc
        s = self.out.add_stream(enc.codec, rate=info.fps, options=dict(enc.options))
        _configure(s.codec_context, enc, info)
        s.time_base = info.time_base
        s.thread_type = "AUTO"
        if self.pool:  # this context only describes the stream; the pool's encoders do the work
            s.thread_count = 1
        if enc.codec_tag:
            s.codec_tag = enc.codec_tag
        if info.timecode and fmt in ("mov", "mp4"):
            s.metadata["timecode"] = info.timecode
            self.out.metadata["timecode"] = info.timecode
        self.video = s
        self.time_base = info.time_base

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one HxWxC array (layout and depth as `self.layout`, `self.bits`) at `pts` (source time base)."""
        if self.pool:
            for packet in self.pool.submit(image, pts):
                self._mux(packet)
            return
        self._mux_all(self.video.encode(to_frame(image, self.enc, pts, self.time_base)))

    def _mux(self, packet: av.Packet) -> None:
        if self.audio and packet.pts is not None:
            self.audio.pump_until(float(packet.pts * self.time_base))
        packet.stream = self.video
        self.out.mux(packet)

    def _mux_all(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._mux(packet)

    def close(self) -> None:
        """Flush, finish the audio, and rename the file into place."""
        if self.pool:
            self._mux_all(self.pool.drain())
        self._mux_all(self.video.encode(None))
        if self.audio:
            self.audio.finish()
        self.out.close()
        commit(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        if self.pool:
            self.pool.cancel()
        try:
            self.out.close()
        except Exception:  # the container may be half set up; the file is deleted anyway
            pass
        self.tmp.unlink(missing_ok=True)


def _configure(ctx: av.VideoCodecContext, enc: Encoding, info: SourceInfo) -> None:
    """Size (pixels), pixel format, time base and colour tags of an encoder for `enc`: the stream's
    own context and each pool encoder's are set up here alike."""
    ctx.width, ctx.height, ctx.pix_fmt = info.width, info.height, enc.pix_fmt
    ctx.time_base = info.time_base
    if enc.layout != "gray" and enc.codec != "ffv1":
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # BT.709, so editors read it back alike


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


def to_frame(image: np.ndarray, enc: Encoding, pts: int, time_base) -> av.VideoFrame:
    """An HxWxC array as the frame `enc`'s codec takes (BT.709 for YUV), stamped with `pts`."""
    frame = packed_frame(image, INPUT_FORMAT[(enc.layout, enc.bits)])
    if enc.pix_fmt.startswith("yuv"):
        frame = frame.reformat(format=enc.pix_fmt, dst_colorspace="itu709")
    frame.pts = pts
    frame.time_base = time_base
    return frame


def _yield_cpu() -> None:
    """Lower this thread's CPU priority a little (Linux only, where nice is per thread), so the pool
    fills idle cores but decode and the network thread, which the whole pipeline waits on, go first."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5))
        except OSError:
            pass


class _EncoderPool:
    """Encodes frames of an intra-only codec on a pool of threads, one single-threaded encoder per
    thread (PyAV releases the GIL while FFmpeg converts and encodes). `submit` returns the packets
    that are ready, in frame order; at most `workers + 2` frames are in flight."""

    def __init__(self, enc: Encoding, info: SourceInfo, workers: int) -> None:
        self.enc, self.info = enc, info
        self.threads = ThreadPoolExecutor(workers, thread_name_prefix="vmatte-encode", initializer=_yield_cpu)
        self.local = threading.local()
        self.inflight: deque[Future] = deque()
        self.window = workers + 2

    def _encoder(self) -> av.VideoCodecContext:
        ctx = getattr(self.local, "ctx", None)
        if ctx is None:
            enc = self.enc
            ctx = av.CodecContext.create(enc.codec, "w")
            _configure(ctx, enc, self.info)
            ctx.options = dict(enc.options)
            ctx.thread_count = 1
            ctx.open()
            self.local.ctx = ctx
        return ctx

    def _encode(self, image: np.ndarray, pts: int) -> list[av.Packet]:
        packets = self._encoder().encode(to_frame(image, self.enc, pts, self.info.time_base))
        if len(packets) != 1:  # intra-only, unthreaded: one packet out per frame in
            raise VmatteError(f"{self.enc.codec} returned {len(packets)} packets for one frame")
        return packets

    def submit(self, image: np.ndarray, pts: int) -> list[av.Packet]:
        self.inflight.append(self.threads.submit(self._encode, image, pts))
        ready = []
        while len(self.inflight) > self.window or (self.inflight and self.inflight[0].done()):
            ready += self.inflight.popleft().result()
        return ready

    def drain(self) -> list[av.Packet]:
        ready = []
        while self.inflight:
            ready += self.inflight.popleft().result()
        self.threads.shutdown()
        return ready

    def cancel(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)


class _AudioPump:
    """Copies (or transcodes) the source's first audio stream into `out`, in step with the video."""

    def __init__(self, info: SourceInfo, out: av.container.OutputContainer, fmt: str) -> None:
        self.src = av.open(str(info.path), metadata_errors="ignore")
        a = self.src.streams.audio[0]
        self.offset = info.start_offset
        allowed = AUDIO_COPY[fmt]
        self.copy = allowed is None or a.codec_context.name in allowed
        if self.copy:
            self.stream = out.add_stream_from_template(a)
        else:
            layout = a.codec_context.layout.name if a.codec_context.layout else "stereo"
            self.stream = out.add_stream(AUDIO_TRANSCODE[fmt], rate=a.codec_context.sample_rate, layout=layout)
            self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name,
                                               layout=layout, rate=a.codec_context.sample_rate)
        self.out = out
        self.packets = self.src.demux(a)
        self.pending = None
        self.tb = a.time_base
        self.shift = round(self.offset / a.time_base) if a.time_base else 0

    def _next(self) -> av.Packet | None:
        for p in self.packets:
            if p.dts is not None or p.pts is not None:
                return p
        return None

    def pump_until(self, t: float) -> None:
        """Write audio packets that start before `t` seconds (output time)."""
        while True:
            p = self.pending or self._next()
            self.pending = None
            if p is None:
                return
            start = float(((p.pts if p.pts is not None else p.dts) - self.shift) * self.tb)
            if start > t:
                self.pending = p
                return
            self._write(p)

    def _write(self, p: av.Packet) -> None:
        if p.pts is not None:
            p.pts -= self.shift
        if p.dts is not None:
            p.dts -= self.shift
        if self.copy:
            p.stream = self.stream
            self.out.mux(p)
            return
        for frame in p.decode():
            frame.pts = None
            for rf in self.resampler.resample(frame):
                for q in self.stream.encode(rf):
                    self.out.mux(q)

    def finish(self) -> None:
        self.pump_until(float("inf"))
        if not self.copy:
            for rf in self.resampler.resample(None):
                for q in self.stream.encode(rf):
                    self.out.mux(q)
            for q in self.stream.encode(None):
                self.out.mux(q)
        self.src.close()
