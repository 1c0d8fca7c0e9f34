"""The join: a split clip's segment files become its outputs, without re-encoding.

ProRes and FFV1 (GOP 1) are intra-only: each segment packet is one whole frame, muxed into the final
file in order at the source's timestamp, with the audio and timecode written once, from the source. A
PNG sequence's segment frames are moved into place. The final files are committed (renamed into
place) only when every one of them has read back complete.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import av

from ..errors import VmatteError
from ..io.sequences import ImageSequenceWriter
from ..io.sinks import is_image_target, open_sink
from ..io.video_source import VideoFileSource
from .plan import FilePlan


def segment_path(work: Path, number: int, role: str, final: str) -> Path:
    """Where segment `number` of output `role` is written in the work folder: a file with the final
    output's extension, or a folder holding its PNG pattern."""
    if is_image_target(final):
        return work / f"seg_{number:05d}.{role}" / Path(final).name
    return work / f"seg_{number:05d}.{role}{Path(final).suffix.lower()}"


def done_path(work: Path, number: int) -> Path:
    return work / f"seg_{number:05d}.done"


def _packets(path: Path):
    try:
        with av.open(str(path)) as c:
            for p in c.demux(c.streams.video[0]):
                if p.size:
                    yield p
    except (av.error.FFmpegError, IndexError) as e:
        raise VmatteError(f"segment {path.name} does not read back ({e}); run again to redo it") from None


def join(plan: FilePlan, work: Path, out, stream: int | None) -> None:
    """Write `plan`'s outputs from its segment files in `work`."""
    from ..roles import LAYOUT

    with VideoFileSource(plan.input, stream) as src, contextlib.ExitStack() as undo:
        info = src.info
        writers = {}
        for role, final in plan.outputs.items():  # the sinks one process would open
            w = open_sink(final, LAYOUT[role], info, **out.encoder_settings(), bit_depth=out.bit_depth,
                          audio=out.audio)
            undo.callback(w.abort)
            writers[role] = w
        src.read_audio()  # every writer has subscribed: the whole audio track, demuxed once
        for role, w in writers.items():
            index = 0
            for seg in plan.segments:
                part = segment_path(work, seg.number, role, plan.outputs[role])
                if isinstance(w, ImageSequenceWriter):
                    w.adopt(part.parent)
                    index = seg.end
                    continue
                for packet in _packets(part):
                    if index >= seg.end:
                        break
                    w.write_packet(packet, plan.pts[index])
                    index += 1
                if index != seg.end:
                    raise VmatteError(f"segment {part.name} holds {index - seg.start} of {seg.end - seg.start} "
                                      "frames; run again to redo it")
        for w in writers.values():
            w.close()
        undo.pop_all()
