"""Audio: demuxed once, by the source, and copied (or transcoded) by each writer alongside its video.

The source's demux loop hands every packet of its first audio stream to an `AudioTrack`; each video
writer subscribes and gets its own copy of every packet, so several outputs, and sources that cannot
be opened twice (a URL, a pipe), keep the audio. A writer writes the packets that start before the
video it has written (`AudioPump.pump_until`), so the file is interleaved as it grows.
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction

import av

from ..errors import log

# Audio codecs each container takes as they are; anything else is transcoded (to AUDIO_TRANSCODE).
AUDIO_COPY = {
    "mov": {"aac", "alac", "mp3", "ac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le"},
    "mp4": {"aac", "alac", "mp3", "ac3", "eac3", "opus", "flac"},
    "webm": {"opus", "vorbis"},
    "matroska": None,  # takes everything
}
AUDIO_TRANSCODE = {"mov": "aac", "mp4": "aac", "webm": "libopus", "matroska": "aac"}
_END = None


class AudioTrack:
    """One source audio stream. The source calls put() for each packet and end() at the end of the file;
    writers subscribe() before the first frame is decoded (packets read before that are kept for them)."""

    def __init__(self, stream: av.audio.stream.AudioStream, start_offset: float) -> None:
        self.stream = stream  # the template: codec parameters and time base
        self.time_base = Fraction(stream.time_base)
        self.shift = round(start_offset / self.time_base) if self.time_base else 0  # pts units
        self._readers: list[deque] = []
        self._backlog: list[tuple] | None = []

    def subscribe(self) -> deque:
        """A queue of this track's packets (as tuples; see `packet`), ending with None."""
        q: deque = deque(self._backlog or [])
        self._readers.append(q)
        return q

    def seal(self) -> None:
        """No more subscribers: stop keeping packets for them (called when decoding starts)."""
        self._backlog = None

    def put(self, p: av.Packet) -> None:
        if (p.pts is None and p.dts is None) or not p.size:
            return
        item = (bytes(p), p.pts, p.dts, p.duration, p.is_keyframe, list(p.iter_sidedata()))
        if self._backlog is not None:
            self._backlog.append(item)
        for q in self._readers:
            q.append(item)

    def end(self) -> None:
        for q in self._readers:
            q.append(_END)

    def packet(self, item: tuple) -> av.Packet:
        """A fresh packet from a queued tuple, its timestamps moved so the video starts at 0."""
        data, pts, dts, duration, key, side = item
        p = av.Packet(data)
        p.pts = None if pts is None else pts - self.shift
        p.dts = None if dts is None else dts - self.shift
        p.duration, p.is_keyframe, p.time_base = duration, key, self.stream.time_base
        for sd in side:
            p.set_sidedata(sd)
        return p


class AudioPump:
    """Writes one track into an output container, copied where the container takes its codec, else
    transcoded (to AAC, or Opus for WebM)."""

    def __init__(self, track: AudioTrack, out: av.container.OutputContainer, fmt: str) -> None:
        a = track.stream.codec_context
        self.track, self.out = track, out
        self.queue = track.subscribe()
        self.last: int | None = None  # the last written packet's start, time-base units
        self.dropped = 0
        allowed = AUDIO_COPY[fmt]
        self.copy = allowed is None or a.name in allowed
        if self.copy:
            self.stream = out.add_stream_from_template(track.stream)
            return
        layout = a.layout.name if a.layout else "stereo"
        self.stream = out.add_stream(AUDIO_TRANSCODE[fmt], rate=a.sample_rate, layout=layout)
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name, layout=layout,
                                           rate=a.sample_rate)
        self.decoder = av.CodecContext.create(a.name, "r")  # this writer's own: others may decode too
        self.decoder.extradata = a.extradata
        self.decoder.sample_rate, self.decoder.layout, self.decoder.format = a.sample_rate, a.layout, a.format

    def pump_until(self, t: float) -> None:
        """Write the packets demuxed so far that start before `t` seconds (output time). A packet whose
        time goes back (joined recordings) is dropped, with a warning: a muxer refuses it."""
        q, tb = self.queue, self.track.time_base
        while q and q[0] is not _END:
            data, pts, dts, *_ = q[0]
            start = (dts if dts is not None else pts) - self.track.shift
            if float(start * tb) > t:
                return
            q.popleft()
            if self.last is not None and start <= self.last:
                if not self.dropped:
                    log.warning("the audio's timestamps go back; audio from there on is dropped where it overlaps")
                self.dropped += 1
                continue
            self.last = start
            self._write(self.track.packet((data, pts, dts, *_)))

    def _write(self, p: av.Packet) -> None:
        if self.copy:
            p.stream = self.stream
            self.out.mux(p)
            return
        for frame in self.decoder.decode(p):
            frame.pts = None
            self._encode(self.resampler.resample(frame))

    def _encode(self, frames) -> None:
        for rf in frames:
            for q in self.stream.encode(rf):
                self.out.mux(q)

    def finish(self) -> None:
        """Write the rest (the source has been read to its end by now) and flush a transcoder."""
        self.pump_until(float("inf"))
        if not self.copy:
            for frame in self.decoder.decode(None):
                frame.pts = None
                self._encode(self.resampler.resample(frame))
            self._encode(self.resampler.resample(None))
            self._encode([None])
