"""Video files and URLs (anything FFmpeg reads), decoded with PyAV; the audio is demuxed alongside."""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VmatteError
from ..options import is_url
from .audio import AudioTrack
from .frames import Closing, Frame, SourceInfo

LIVE_SCHEMES = ("rtsp", "rtmp", "rtp", "srt", "udp", "tcp")  # streams that deliver at their own pace


def _rotate(image: np.ndarray, degrees: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, as FFmpeg reports it)."""
    turns = (round(degrees / 90)) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def open_container(spec: str | Path) -> av.container.InputContainer:
    """Open a file or a URL with PyAV; every failure is a one-line VmatteError."""
    if is_url(spec):
        try:
            return av.open(str(spec), metadata_errors="ignore", timeout=10)
        except av.error.FFmpegError as e:
            raise VmatteError(f"cannot open {spec} ({e.strerror or type(e).__name__}); check the URL") from None
    path = Path(spec)
    if not path.exists():
        raise VmatteError(f"{path} does not exist; check the path")
    if path.is_dir():
        raise VmatteError(f"{path} is a folder; give a video file, or an image folder with --fps")
    if path.stat().st_size == 0:
        raise VmatteError(f"{path} is empty (0 bytes); give a complete video file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise VmatteError(f"{path} is not a video FFmpeg can read ({e.strerror or type(e).__name__}); "
                          "check that the file is complete") from None


def _bit_depth(stream: av.video.stream.VideoStream) -> int:
    """Bits per component of the stream's pixel format (8 when unknown)."""
    fmt = stream.codec_context.format
    return max((comp.bits for comp in fmt.components), default=8) if fmt else 8


def _hms(text: str | None) -> float | None:
    """'00:00:02.966000000' (Matroska's per-stream DURATION tag) -> seconds."""
    try:
        h, m, sec = (text or "").split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


class VideoFileSource(Closing):
    """Decodes the first video stream of a file or URL to RGB frames; the first audio stream's packets
    go to `info.audio` as they are demuxed. A context manager."""

    def __init__(self, spec: str | Path) -> None:
        self.spec = str(spec)
        self.name = self.spec if is_url(spec) else Path(spec).name
        self.live = is_url(spec) and self.spec.split("://")[0].lower() in LIVE_SCHEMES
        self.container = open_container(spec)
        try:
            self.info = self._probe()
        except BaseException:
            self.container.close()
            raise

    def _probe(self) -> SourceInfo:
        c = self.container
        if not c.streams.video:
            kind = "audio-only" if c.streams.audio else "without a video stream"
            raise VmatteError(f"{self.spec} is {kind}; give a file with a video stream")
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        a = c.streams.audio[0] if c.streams.audio else None
        fps = v.average_rate or v.guessed_rate or Fraction(25)
        tc = v.metadata.get("timecode") or c.metadata.get("timecode")
        if tc is None:
            for s in c.streams.data:
                tc = s.metadata.get("timecode") or tc
        starts = [s.start_time * s.time_base for s in (v, a) if s is not None and s.start_time is not None
                  and s.time_base]
        offset = float(min(starts)) if starts else 0.0
        seconds = float(v.duration * v.time_base) if v.duration and v.time_base else _hms(v.metadata.get("DURATION"))
        track = AudioTrack(a, offset) if a is not None else None
        self._frames = self._decode(v, a, track)
        self.info = SourceInfo(self.name, 0, 0, Fraction(fps), Fraction(v.time_base), v.frames or None,
                               _bit_depth(v), tc, track, offset, seconds)
        try:
            self._first = next(self._frames)
        except StopIteration:
            raise VmatteError(f"{self.spec} has a video stream but no decodable frames; "
                              "the file is probably truncated") from None
        self.info.height, self.info.width = self._first.image.shape[:2]
        return self.info

    def _decode(self, v, a, track: AudioTrack | None) -> Iterator[Frame]:
        deep = _bit_depth(v) > 8
        tb = Fraction(v.time_base)
        i = 0
        try:
            for packet in self.container.demux(*(s for s in (v, a) if s is not None)):
                if packet.stream is not v:
                    track.put(packet)
                    continue
                for f in packet.decode():
                    img = f.to_ndarray(format="rgb48le" if deep else "rgb24")
                    img = _rotate(img, getattr(f, "rotation", 0) or 0)
                    yield Frame(img, f.pts if f.pts is not None else i, tb, i, time.perf_counter())
                    i += 1
        except av.error.FFmpegError as e:
            raise VmatteError(f"{self.spec} is damaged: decoding stopped ({e.strerror or type(e).__name__}); "
                              "re-export or repair the file") from None
        finally:
            if track is not None:
                track.end()

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Every frame, pts counted from the start of the clip; refuses a file cut short at its end."""
        info = self.info
        if info.audio is not None:
            info.audio.seal()  # the writers have subscribed by now
        offset = round(info.start_offset / info.time_base) if info.time_base else 0
        n, last_t = 0, 0.0
        for fr in itertools.chain([self._first], self._frames):
            if stop is not None and stop.is_set():
                return
            fr.pts -= offset
            last_t = float(fr.pts * fr.time_base)
            n += 1
            yield fr
        self._check_complete(n, last_t)

    def _check_complete(self, n: int, last_t: float) -> None:
        """Refuse a file that ends well before what its header promised (a cut-off download)."""
        info, seconds = self.info, self.info.duration
        short = info.frames and n < info.frames * 0.98 - 1
        if not info.frames and seconds:  # no frame count (Matroska, WebM): compare times
            short = last_t < seconds - max(1.0, 0.05 * seconds)
        if short:
            promised = f"{info.frames} frames" if info.frames else f"{seconds:.2f} s"
            raise VmatteError(f"{self.spec} is truncated: decoding ends at {last_t:.2f} s, frame {n}, "
                              f"but its header promises {promised}; re-export or re-download it")

    def close(self) -> None:
        self.container.close()
