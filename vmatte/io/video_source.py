"""Video files (anything FFmpeg reads), decoded with PyAV."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VmatteError
from .frames import Frame, SourceInfo


def _rotate(image: np.ndarray, degrees: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, as FFmpeg reports it)."""
    turns = (round(degrees / 90)) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def open_container(path: Path, url: str | None = None) -> av.container.InputContainer:
    """Open `path` (or a stream `url` such as rtsp://...) with PyAV; every failure is a one-line VmatteError."""
    if url is not None:
        try:
            return av.open(url, metadata_errors="ignore", timeout=10)
        except av.error.FFmpegError as e:
            raise VmatteError(f"cannot open stream {url} ({e.strerror or type(e).__name__}); check the URL") from None
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


class VideoFileSource:
    """Decodes the first video stream of a file to RGB frames; a context manager."""

    def __init__(self, path: str | Path) -> None:
        url = str(path) if "://" in str(path) else None
        self.path = Path(path)
        self.container = open_container(self.path, url)
        try:
            self.info = self._probe()
        except BaseException:
            self.container.close()
            raise

    def _probe(self) -> SourceInfo:
        c = self.container
        if not c.streams.video:
            kind = "audio-only" if c.streams.audio else "without a video stream"
            raise VmatteError(f"{self.path} is {kind}; give a file with a video stream")
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        bits = _bit_depth(v)
        fps = v.average_rate or v.guessed_rate or Fraction(25)
        tc = v.metadata.get("timecode") or c.metadata.get("timecode")
        if tc is None:
            for s in c.streams.data:
                tc = s.metadata.get("timecode") or tc
        starts = [s.start_time * s.time_base for s in (v, *c.streams.audio[:1])
                  if s.start_time is not None and s.time_base]
        seconds = float(v.duration * v.time_base) if v.duration and v.time_base else _hms(v.metadata.get("DURATION"))
        self._first = self._peek()
        h, w = self._first.image.shape[:2]
        self._seconds = seconds
        return SourceInfo(self.path, w, h, Fraction(fps), Fraction(v.time_base), v.frames or None, bits, tc,
                          bool(c.streams.audio), float(min(starts)) if starts else 0.0, seconds)

    def _decode(self) -> Iterator[Frame]:
        v = self.container.streams.video[0]
        deep = _bit_depth(v) > 8
        tb = Fraction(v.time_base)
        try:
            for i, f in enumerate(self.container.decode(v)):
                img = f.to_ndarray(format="rgb48le" if deep else "rgb24")
                img = _rotate(img, getattr(f, "rotation", 0) or 0)
                pts = f.pts if f.pts is not None else i
                yield Frame(img, pts, tb, i)
        except av.error.FFmpegError as e:
            raise VmatteError(f"{self.path} is damaged: decoding stopped ({e.strerror or type(e).__name__}); "
                              "re-export or repair the file") from None

    def _peek(self) -> Frame:
        self._frames = self._decode()
        try:
            return next(self._frames)
        except StopIteration:
            raise VmatteError(f"{self.path} has a video stream but no decodable frames; "
                              "the file is probably truncated") from None

    def __iter__(self) -> Iterator[Frame]:
        info = self.info
        offset = round(info.start_offset / info.time_base) if info.time_base else 0
        n = 0
        last_t = 0.0
        for fr in itertools.chain([self._first], self._frames):
            fr.pts -= offset
            last_t = float(fr.pts * fr.time_base)
            n += 1
            yield fr
        self._check_complete(n, last_t)

    def _check_complete(self, n: int, last_t: float) -> None:
        """Refuse a file that ends well before what its header promised (a cut-off download)."""
        info, seconds = self.info, self._seconds
        short = info.frames and n < info.frames * 0.98 - 1
        if not info.frames and seconds:  # no frame count (Matroska, WebM): compare times
            short = last_t < seconds - max(1.0, 0.05 * seconds)
        if short:
            promised = f"{info.frames} frames" if info.frames else f"{seconds:.2f} s"
            raise VmatteError(f"{self.path} is truncated: decoding ends at {last_t:.2f} s, frame {n}, "
                              f"but its header promises {promised}; re-export or re-download it")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
