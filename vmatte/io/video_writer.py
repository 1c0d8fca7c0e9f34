"""One video writer for files and streams: encodes (or hands to an encoder pool) and muxes, with audio.

A file is written under a hidden temporary name and renamed into place by `close()`; `abort()` removes
it. A udp:// URL (H.264 in MPEG-TS, for OBS media sources and players) is the same writer with nothing
to rename.
"""
from __future__ import annotations

import contextlib
import errno
from pathlib import Path

import av
import numpy as np

from ..errors import VmatteError
from .atomic import commit, temp_path_for, write_error
from .audio import AudioPump
from .encoder_pool import EncoderPool, default_workers
from .encoding import INTRA_ONLY, Encoding, configure, container_for, fit_to_size, to_frame
from .frames import SourceInfo


class VideoWriter:
    """Writes frames to `target` (a path, or a udp://HOST:PORT URL).

    Video timestamps are the source's (same time base), so frame count, rate and VFR timing are kept.
    With `audio=True` the source's audio track (if any) is copied, or transcoded where the container
    cannot hold it, interleaved with the video. Intra-only codecs are encoded on `workers` threads
    (default: `default_workers()`); `workers=0` uses one encoder with the codec's own threading.
    write() takes the planes of `planes` (a PlaneSpec) where the codec's pixel format has one, else an
    array of `layout` and `bits`.
    """

    def __init__(self, target: str | Path, enc: Encoding, info: SourceInfo, audio: bool = True,
                 workers: int | None = None) -> None:
        target = str(target)
        self.url = target if "://" in target else None
        self.path = Path(target) if self.url is None else None
        fmt = container_for(target)
        self.enc = enc = fit_to_size(enc, info.width, info.height)
        self.size = (info.width, info.height)  # pixels: every frame written must be this size
        self.layout, self.bits, self.time_base = enc.layout, enc.bits, info.time_base
        self.planes = enc.planes  # what pixels.for_sink hands over: the encoder's own planes, or None (packed)
        if workers is None:
            workers = default_workers()
        self.pool = EncoderPool(enc, info, workers) if enc.codec in INTRA_ONLY and workers > 0 else None
        self.target, self.written = target, 0
        self.tmp = temp_path_for(self.path) if self.path is not None else None
        try:
            if self.url is not None:
                sep = "&" if "?" in target else "?"
                self.out = av.open(target if "pkt_size" in target else f"{target}{sep}pkt_size=1316", "w",
                                   format=fmt)
            else:
                self.out = av.open(str(self.tmp), "w", format=fmt)
        except av.error.FFmpegError as e:
            self._remove()
            raise VmatteError(f"cannot write {target} ({e.strerror}); check the path or address") from None
        try:
            self.video = self._add_video(info, fmt)
            self.audio = AudioPump(info.audio, self.out, fmt) if audio and info.audio else None
            self.video.codec_context.open()
        except av.error.FFmpegError as e:
            self.abort()
            raise VmatteError(f"cannot encode {target} with {enc.codec} at {info.width}x{info.height} "
                              f"({e.strerror}); try another output type") from None
        except BaseException:
            self.abort()
            raise

    def _add_video(self, info: SourceInfo, fmt: str) -> av.video.stream.VideoStream:
        enc = self.enc
        s = self.out.add_stream(enc.codec, rate=info.fps, options=dict(enc.options))
        configure(s.codec_context, enc, info.width, info.height, info.time_base, info.fps)
        s.time_base = info.time_base
        s.thread_type = "AUTO"
        if self.pool:  # this context only describes the stream; the pool's encoders do the work
            s.thread_count = 1
        if enc.codec_tag:
            s.codec_tag = enc.codec_tag
        if info.timecode and fmt in ("mov", "mp4"):
            s.metadata["timecode"] = info.timecode
            self.out.metadata["timecode"] = info.timecode
        return s

    def write(self, image: np.ndarray | list[np.ndarray], pts: int) -> None:
        """Encode one frame at `pts` (source time base): its planes (as `self.planes` says), or one HxWxC
        array (layout and depth as `self.layout`, `self.bits`). A picture of another size than the stream's
        is refused: an encoder fed one writes a wrong picture without a word."""
        h, w = (image[0] if isinstance(image, list) else image).shape[:2]
        if (w, h) != (self.size[0], self.size[1]):
            raise VmatteError(f"{self.target}: a {w}x{h} picture for a {self.size[0]}x{self.size[1]} stream; "
                              "an output file has one picture size")
        with self._errors():
            if self.pool:
                self._mux_all(self.pool.submit(image, pts))
            else:
                self._mux_all(self.video.encode(to_frame(image, self.enc, pts, self.time_base)))
        self.written += 1

    def write_packet(self, packet: av.Packet, pts: int) -> None:
        """Mux one already encoded frame (from a segment file made with this writer's encoding) at `pts`
        (source time base): the join of an intra-only output, no re-encoding."""
        packet.pts = packet.dts = pts
        packet.time_base = self.time_base
        with self._errors():
            self._mux_all([packet])
        self.written += 1

    @contextlib.contextmanager
    def _errors(self):
        """FFmpeg's and the OS's write errors (a full disk, a refused timestamp) as one line."""
        try:
            yield
        except av.error.FFmpegError as e:
            if e.errno == errno.ENOSPC:
                raise write_error(self.target, OSError(e.errno, e.strerror)) from None
            raise VmatteError(f"cannot write {self.target}: {e.strerror or type(e).__name__}") from None
        except OSError as e:
            raise write_error(self.target, e) from None

    def _mux_all(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if self.audio and packet.pts is not None:
                self.audio.pump_until(float(packet.pts * self.time_base))
            packet.stream = self.video
            self.out.mux(packet)

    def close(self) -> None:
        """Flush, finish the audio, check the file, and rename it into place."""
        with self._errors():
            if self.pool:
                self._mux_all(self.pool.drain())
            self._mux_all(self.video.encode(None))
            if self.audio:
                self.audio.finish()
            self.out.close()
            if self.tmp is not None:
                self._verify()
                commit(self.tmp, self.path)

    def _verify(self) -> None:
        """Read the file back cheaply (demux, no decode): every frame written is there, in increasing
        decode order. A mismatch keeps whatever was at the final path and raises."""
        try:
            with av.open(str(self.tmp), format=container_for(str(self.path))) as c:
                s = c.streams.video[0]
                dts = [p.dts for p in c.demux(s) if p.size]
        except (av.error.FFmpegError, IndexError) as e:
            raise VmatteError(f"{self.path} did not read back ({e}); nothing was written there") from None
        ordered = all(b > a for a, b in zip(dts, dts[1:]) if a is not None and b is not None)
        if len(dts) != self.written or not ordered:
            raise VmatteError(f"{self.path} read back with {len(dts)} of {self.written} frames"
                              f"{'' if ordered else ', out of order'}; nothing was written there")

    def abort(self) -> None:
        """Stop, and drop the partial file."""
        if self.pool:
            self.pool.cancel()
        try:
            self.out.close()
        except Exception:  # the container may be half set up; the file is deleted anyway
            pass
        self._remove()

    def _remove(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
