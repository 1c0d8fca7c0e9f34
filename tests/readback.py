"""Reading outputs back with the real decoders (PyAV; libvpx-vp9 for VP9 alpha)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vmatte.engine import Matter


def decode(path: Path, fmt: str, colorspace: str | None = "itu709") -> list[np.ndarray]:
    """Every frame of the first video stream as `fmt` arrays, decoding YUV with the given matrix."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if colorspace and f.format.name.startswith("yuv"):
                f = f.reformat(format=fmt, src_colorspace=colorspace)
            out.append(f.to_ndarray(format=fmt))
    return out


def decode_vp9_alpha(path: Path) -> list[np.ndarray]:
    """VP9 WebM with alpha: FFmpeg's native vp9 decoder drops alpha, libvpx-vp9 keeps it (as yuva420p)."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        dec = av.CodecContext.create("libvpx-vp9", "r")
        for pkt in c.demux(s):  # the last, empty packet flushes the decoder
            for f in dec.decode(pkt):
                out.append(f.reformat(format="rgba", src_colorspace="itu709").to_ndarray())
    return out


def video_pts(path: Path) -> tuple[list[Fraction], Fraction | None]:
    """Presentation times in seconds of every video frame, and the stream's average rate."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = sorted(Fraction(p.pts) * s.time_base for p in c.demux(s) if p.pts is not None)
        return times, s.average_rate


def reference_mattes(model, path: Path, ratio: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The network's own output on the source, frame by frame: (fgr HxWx3, alpha HxW), 0..1 float."""
    m = Matter(model, ratio, backend="auto")  # what convert uses: the writers are under test here
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            r = m(f.to_ndarray(format="rgb24"))
            out.append((r.fgr[0].permute(1, 2, 0).numpy(), r.pha[0, 0].numpy()))
    return out
