"""Video files and URLs (anything FFmpeg reads), decoded with PyAV; the audio is demuxed alongside."""
from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..colour import YuvImage
from ..errors import VmatteError, log
from ..options import is_url
from . import planar
from .audio import AudioTrack
from .frames import Closing, Frame, SourceInfo

LIVE_SCHEMES = ("rtsp", "rtmp", "rtp", "srt", "udp", "tcp")  # streams that deliver at their own pace
SUBSAMPLED = re.compile(r"(420|422|411|410|440)")  # pixel formats with chroma at reduced resolution
RAW_FORMATS = {"h264", "hevc", "vvc", "mpegvideo", "m4v", "obu", "av1", "h261", "h263", "cavsvideo"}  # elementary


def open_container(spec: str | Path) -> av.container.InputContainer:
    """Open a file or a URL with PyAV (for CPU decoding); every failure is a one-line VmatteError."""
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
    if path.is_char_device() or path.is_block_device() or path.is_socket():
        raise VmatteError(f"{path} is a device, not a video file; give a video file")
    if path.is_file() and path.stat().st_size == 0:
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


def pick_stream(container: av.container.InputContainer, spec: str, index: int | None = None):
    """The video stream to matte: `index` (the file's stream number, as ffprobe counts), or the main one
    as ffmpeg picks it: not an attached picture (a cover or thumbnail), then the most frames, then the
    largest picture. Says which when there is a choice."""
    videos = list(container.streams.video)
    if index is not None:
        chosen = [s for s in videos if s.index == index]
        if not chosen:
            have = ", ".join(f"#{s.index} ({s.width}x{s.height})" for s in videos) or "none"
            raise VmatteError(f"{spec} has no video stream #{index}; its video streams: {have}")
        return chosen[0]
    if not videos:
        kind = "audio-only" if container.streams.audio else "without a video stream"
        raise VmatteError(f"{spec} is {kind}; give a file with a video stream")
    pic = av.stream.Disposition.attached_pic

    def rank(s):
        length = s.frames or (float(s.duration * s.time_base) if s.duration and s.time_base else 0)
        return (not (s.disposition & pic), length > 1, length, s.width * s.height)

    best = max(videos, key=rank)
    if len(videos) > 1:
        log.warning(f"{spec} has {len(videos)} video streams; using #{best.index} ({best.width}x{best.height}), "
                    "the main one; pass --stream N to choose")
    return best


def seek_index(spec: str | Path, stream: int | None = None) -> tuple[int, float, str | None]:
    """Demux a file, decoding nothing: (its frame count, frames per second, why its frames cannot be found
    again by seeking, or None). Seeking needs every packet timestamped, each time once."""
    with VideoFileSource(spec, stream) as src:
        fps = float(src.info.fps)
        if src.container.format.name in RAW_FORMATS:
            return 0, fps, "a raw stream has no index to seek in"
        src.container.seek(0, stream=src.video)
        stamps = [p.pts for p in src.container.demux(src.video) if p.size]
    if not stamps or None in stamps or len(set(stamps)) != len(stamps):
        return len(stamps), fps, "its timestamps are missing or repeated, so frames cannot be found by seeking"
    return len(stamps), fps, None


def serves_byte_ranges(url: str, timeout: float = 10) -> bool | None:
    """Whether an HTTP(S) server answers a request for the first byte with that byte alone (206), as seeking
    needs; None where it cannot be asked (the server is gone, a bad URL)."""
    import urllib.error
    import urllib.request

    try:
        req = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (the user's own URL)
            return r.status == 206
    except (urllib.error.URLError, OSError, ValueError):
        return None


class _PlanesFailed(Exception):
    """NVDEC's first picture could not be used (decoded, exported or converted wrongly): the clip is
    reopened for the CPU."""


class VideoFileSource(Closing):
    """Decodes one video stream of a file or URL (the main one, or `stream`) to RGB frames; the first
    audio stream's packets go to `info.audio` as they are demuxed. Missing or non-increasing timestamps
    (raw streams, broken muxers, joined recordings) are rebuilt from the frame rate, with a warning.
    With `device` a CUDA device (the engine's), frames stay in their YUV planes for conversion there,
    decoded by NVDEC where it can (io.planar); `planes` overrides whether frames are planes, and `nvdec`
    whether NVDEC is tried (default: with a CUDA device). The first picture's planes are checked against
    FFmpeg's conversion; a failure sends the clip down the CPU path, said at -v. A context manager."""

    def __init__(self, spec: str | Path, stream: int | None = None, device: torch.device | None = None,
                 planes: bool | None = None, nvdec: bool | None = None) -> None:
        self.spec = str(spec)
        self._opened_with = (stream, device, planes, nvdec)
        self.name = self.spec if is_url(spec) else Path(spec).name
        self.live = is_url(spec) and self.spec.split("://")[0].lower() in LIVE_SCHEMES
        self.rebuilt = False  # set when frames() had to rebuild timestamps from the frame rate
        cuda = device is not None and device.type == "cuda"
        self.device = device if device is not None else torch.device("cpu")  # where the engine converts planes
        self.planar = cuda if planes is None else planes  # planes=True on a CPU: for tests and benchmarks
        self.nvdec: planar.SoftwareNote | None = None  # set when NVDEC decodes
        self.siting: str | None = None  # the chroma siting of planes, found on the first one
        self.checked = False  # the first picture's planes converted as FFmpeg converts it
        self.container = open_container(spec)
        try:
            if self.planar and not self.live and (cuda if nvdec is None else nvdec):
                gpu = self.device.index if self.device.index is not None else \
                    torch.cuda.current_device() if cuda else 0
                stream = self._try_nvdec(stream, gpu)
            try:
                self.info = self._probe(stream)
            except _PlanesFailed as e:  # NVDEC's first picture: decode the whole clip on the CPU instead
                log.info(f"the planar pixel path failed on the first frame ({e}); decoding and converting "
                         f"{self.name} on the CPU")
                self.container.close()
                self.container, self.nvdec, self.planar = open_container(spec), None, False
                self.info = self._probe(stream)
        except BaseException:
            self.container.close()
            raise

    def reopen(self) -> VideoFileSource:
        """The same file opened again, as this one was: a second reader that seeks (effort best)."""
        return VideoFileSource(self.spec, *self._opened_with)

    def _try_nvdec(self, stream: int | None, index: int) -> int:
        """Reopen for NVDEC, before anything is decoded, where the chosen stream suits it; returns the
        stream's number (so it is chosen, and said, once)."""
        v = pick_stream(self.container, self.spec, stream)
        why = planar.nvdec_refusal(v)
        if why is not None:
            log.info(f"{why}; decoding on the CPU")
            return v.index
        chosen, codec = v.index, v.codec_context.name  # read before the container (and the stream) is freed
        hw = planar.open_nvdec(self.spec, index, {"metadata_errors": "ignore"})
        if hw is not None:
            self.container.close()
            self.container = hw
            self.nvdec = planar.SoftwareNote(codec)
        return chosen

    def _probe(self, stream: int | None) -> SourceInfo:
        c = self.container
        v = self.video = pick_stream(c, self.spec, stream)
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
        frames = v.frames or None
        if frames and seconds and frames / float(fps) > seconds + 2 / float(fps):
            frames = None  # an edit list plays fewer frames than the file holds: the duration is what plays
        track = AudioTrack(a, offset) if a is not None else None
        self._frames = self._decode(v, a, track)
        if c.format.name in RAW_FORMATS:  # no container timing: the demuxer's average rate is a default
            fps = v.guessed_rate or fps
        self.rate = fps  # what rebuilt timestamps count in
        self.info = SourceInfo(self.name, 0, 0, Fraction(fps), Fraction(v.time_base), frames, _bit_depth(v), tc,
                               track, offset, seconds)
        try:
            self._first = next(self._frames)
        except StopIteration:
            raise VmatteError(f"{self.spec} has a video stream but no decodable frames; "
                              "the file is probably truncated") from None
        self.info.height, self.info.width = self._first[0].shape[:2]
        return self.info

    def _decode(self, v, a, track: AudioTrack | None) -> Iterator[tuple[np.ndarray | YuvImage, int | None, float]]:
        """(RGB image or YUV planes, pts or None, when decoded) in presentation order."""
        try:
            for packet in self.container.demux(*(s for s in (v, a) if s is not None)):
                if packet.stream is not v:
                    track.put(packet)
                    continue
                for f in packet.decode():
                    if self.nvdec is not None:
                        self.nvdec(f)
                    yield self._picture(f, v), f.pts, time.perf_counter()
        except av.error.FFmpegError as e:
            if self.nvdec is not None and not self.checked:
                raise _PlanesFailed(f"NVDEC: {e.strerror or type(e).__name__}") from None
            raise VmatteError(self._failure(e.strerror or type(e).__name__)) from None
        finally:
            if track is not None:
                track.end()

    def _failure(self, why: str) -> str:
        """What to say when reading stops: a damaged file, or (an HTTP URL whose server serves no byte ranges)
        a file FFmpeg cannot seek in, such as an MP4 whose index is at its end."""
        if self.spec.lower().startswith(("http://", "https://")) and serves_byte_ranges(self.spec) is False:
            index = " from the index at the file's end" if "mp4" in self.container.format.name else ""
            return (f"{self.spec}: reading stopped ({why}): its server does not serve byte ranges, so FFmpeg cannot "
                    f"seek{index} back to the frames; download the file first, or serve a copy with its index "
                    "first (ffmpeg -i IN -c copy -movflags +faststart OUT)")
        return f"{self.spec} is damaged: decoding stopped ({why}); re-export or repair the file"

    def _picture(self, f: av.VideoFrame, v) -> np.ndarray | YuvImage:
        """A decoded frame as its planes (for a CUDA engine, where the format allows) or as RGB (an NVDEC
        surface PyAV cannot export is downloaded by swscale), turned upright."""
        turns = round((getattr(f, "rotation", 0) or 0) / 90) % 4
        yuv = self._planes(f, v) if self.planar else None
        if yuv is not None:
            return yuv.rotated(turns) if turns else yuv
        deep = _bit_depth(v) > 8
        if deep and f.width % 2 and SUBSAMPLED.search(f.format.name):
            f = f.reformat(format="yuv444p16le")  # swscale garbles odd-width 4:2:x -> rgb48
        img = f.to_ndarray(format="rgb48le" if deep else "rgb24")
        return np.ascontiguousarray(np.rot90(img, turns)) if turns else img

    def _planes(self, f: av.VideoFrame, v) -> YuvImage | None:
        """`f`'s planes, or None where swscale converts it. The first picture finds the stream's chroma
        siting and is checked: converted as the engine will convert it, it must be within MAX_CODES of
        FFmpeg's own conversion. A wrong matrix, siting or plane layout, or a failure of DLPack or the
        device's conversion, sends this clip down the CPU path instead (planar frames never mix with a
        wrong picture)."""
        try:
            yuv = planar.yuv_image(f, self.siting or "left")
            if yuv is None or self.checked:
                return yuv
            default = "centre" if v.codec_context.name in planar.CENTRE_SITED else "left"
            want = planar.ffmpeg_rgb(f)  # FFmpeg's picture of this frame: what the planes must give
            self.siting = planar.chroma_siting(want, yuv, default)
            yuv = replace(yuv, fmt=replace(yuv.fmt, siting=self.siting))
            off = planar.conversion_error(want, yuv, self.device)
            if off <= planar.MAX_CODES:
                self.checked = True
                return yuv
            why = f"its picture is {off:.0f} 8-bit codes from FFmpeg's conversion"
        except (RuntimeError, ValueError, TypeError, BufferError) as e:  # DLPack, a device, a kernel
            why = f"{type(e).__name__}: {e}".splitlines()[0]
        if self.nvdec is not None and not self.checked:
            raise _PlanesFailed(why)  # reopened for the CPU before any frame is handed on
        log.info(f"the planar pixel path failed ({why}); {self.name} is converted on the CPU from here on")
        self.planar = False
        return None

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Every frame, pts counted from the start of the clip; refuses a file cut short at its end."""
        info = self.info
        if info.audio is not None:
            info.audio.seal()  # the writers have subscribed by now
        tb = info.time_base
        offset = self._offset()
        step = 1 / (float(self.rate) * tb)  # one frame, in time-base units
        n, last, rebuilt = 0, None, None  # rebuilt: (pts, frame number) the rebuilt timing counts from
        for img, pts, decoded in itertools.chain([self._first], self._frames):
            if stop is not None and stop.is_set():
                return
            pts = None if pts is None else pts - offset
            if rebuilt is None and (pts is None or (last is not None and pts <= last)):
                log.warning(f"{self.name} has missing or non-increasing timestamps from frame {n} on; "
                            f"they are rebuilt from its frame rate, {float(self.rate):.3g} fps")
                self.rebuilt = True
                rebuilt = (0, n) if last is None else (last, n - 1)
            if rebuilt is not None:  # once broken, the rest of the clip is timed from the rate too
                pts = rebuilt[0] + round((n - rebuilt[1]) * step)
            last = pts
            yield Frame(img, pts, tb, n, decoded)
            n += 1
        self._check_complete(n, float(last * tb) if last is not None else 0.0, rebuilt is not None)

    def _offset(self) -> int:
        """The start offset subtracted from every timestamp, in time-base units."""
        tb = self.info.time_base
        return round(self.info.start_offset / tb) if tb else 0

    def frames_from(self, index: int, pts: int) -> Iterator[Frame]:
        """The frames from number `index` on, whose timestamp (as frames() gives it) is `pts`: seeks to
        the keyframe before it and decodes forward, without audio. For a worker that mattes one segment
        of a file whose timestamps frames() found intact (not rebuilt)."""
        info, v = self.info, self.video
        offset = self._offset()
        try:
            self.container.seek(pts + offset, stream=v, backward=True, any_frame=False)
        except av.error.FFmpegError:
            self.container.seek(0, stream=v, backward=True)
        n = None
        for img, p, decoded in self._decode(v, None, None):
            if p is None:
                raise VmatteError(f"{self.spec}: a frame without a timestamp after seeking; matte it in one process")
            p -= offset
            if p < pts:
                continue
            if n is None and p != pts:  # the seek landed past the frame: the file's index is wrong
                raise VmatteError(f"{self.spec}: seeking to frame {index} landed at another frame; "
                                  "matte it in one process (--workers 1)")
            n = index if n is None else n + 1
            yield Frame(img, p, info.time_base, n, decoded)

    def read_audio(self) -> None:
        """Demux the rest of the audio stream (no video decoded) into `info.audio`, for writers that
        subscribed to it: the join of a clip's segments writes its audio once, from the source."""
        track = self.info.audio
        if track is None:
            return
        track.seal()
        try:
            for packet in self.container.demux(track.stream):
                track.put(packet)
        except av.error.FFmpegError as e:
            raise VmatteError(f"{self.spec}: its audio stopped reading ({e.strerror or type(e).__name__})") from None
        track.end()

    def _check_complete(self, n: int, last_t: float, rebuilt: bool) -> None:
        """Refuse a file that ends well before what its header promised (a cut-off download)."""
        info = self.info
        frame = 1 / float(info.fps)
        promised = info.duration if info.duration else (info.frames * frame if info.frames else None)
        if rebuilt or not promised:
            return
        if last_t + frame < promised - max(2 * frame, 0.01 * promised):
            what = f"{info.frames} frames" if info.frames else f"{promised:.2f} s"
            raise VmatteError(f"{self.spec} is truncated: decoding ends at {last_t:.2f} s, frame {n}, "
                              f"but its header promises {what}; re-export or re-download it")

    def close(self) -> None:
        self.container.close()
