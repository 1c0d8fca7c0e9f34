"""ProRes 4444 encoders on the same frames, taken in turn: speed of one single-threaded encoder (what each
worker of vmatte's encoder pool is), bytes a frame, colour PSNR against the input, and what an opaque
pixel's alpha decodes to (FFmpeg's 12-bit decode: 4095 is full scale).

Compares prores_aw (the default before), prores_ks with its rate search (the `ks` before), and prores_ks at
a fixed quantiser of 1 (the default now). Frames: a real clip from ../shared/media when present (upscaled
to the size asked for), else the demo's portrait, with a soft elliptical matte that is opaque at its centre.

    python benchmarks/prores_encoders.py [--size 1920x1080] [--frames 8] [--rounds 2]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction

import av
import cv2
import numpy as np

from common import MEDIA, machine, portrait_frames, save_result

ENCODERS = {
    "prores_aw": ("prores_aw", {"profile": "4", "alpha_bits": "16"}),
    "prores_ks (rate search)": ("prores_ks", {"profile": "4444", "alpha_bits": "16"}),
    "prores_ks (quantiser 1, default)": ("prores_ks", {"profile": "4444", "alpha_bits": "16", "flags": "+qscale",
                                                       "global_quality": "118"}),
}


def frames(n: int, width: int, height: int) -> tuple[list[av.VideoFrame], str]:
    clip = MEDIA / "videos" / "intel_one-by-one-person-detection.mp4"
    if clip.exists():
        rgb = []
        with av.open(str(clip)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % 20 == 0:
                    rgb.append(cv2.resize(f.to_ndarray(format="rgb24"), (width, height),
                                          interpolation=cv2.INTER_LANCZOS4))
                if len(rgb) == n:
                    break
        what = clip.name
    else:
        rgb, what = portrait_frames(n, width, height), "the demo's portrait"
    yy, xx = np.mgrid[:height, :width]
    alpha = (np.clip(1.5 - np.hypot((xx - width / 2) / width, (yy - height / 2) / height) * 4, 0, 1) * 65535)
    alpha = alpha.astype(np.uint16)
    out = [av.VideoFrame.from_ndarray(np.dstack([f.astype(np.uint16) * 257, alpha]), format="rgba64le").reformat(
        format="yuva444p10le", dst_colorspace="itu709") for f in rgb]
    return out, what


def encode(codec: str, options: dict, pictures: list[av.VideoFrame]) -> tuple[float, list[av.Packet]]:
    w, h = pictures[0].width, pictures[0].height
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = w, h, "yuva444p10le", Fraction(1, 25)
    ctx.options, ctx.thread_count = dict(options), 1
    ctx.open()
    t0, packets = time.perf_counter(), []
    for i, f in enumerate(pictures):
        f.pts = i
        packets += ctx.encode(f)
    packets += ctx.encode(None)
    return (time.perf_counter() - t0) / len(pictures), packets


def quality(packets: list[av.Packet], pictures: list[av.VideoFrame]) -> tuple[float, int]:
    """(colour PSNR in dB, the largest alpha code in FFmpeg's 12-bit decode), read back from a .mov as a user's
    tools read it (a bare decoder without the container's bit depth decodes at 10 bits)."""
    w, h = pictures[0].width, pictures[0].height
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/t.mov"
        with av.open(path, "w") as out:
            s = out.add_stream("prores_ks", rate=25)
            s.width, s.height, s.pix_fmt = w, h, "yuva444p10le"
            s.codec_tag = "ap4h"
            for p in packets:
                p.stream = s
                out.mux(p)
        with av.open(path) as c:
            back = list(c.decode(video=0))
    assert back[0].format.name == "yuva444p12le", back[0].format.name
    mse = np.mean([((o.to_ndarray(format="rgb48le") / 65535 - f.to_ndarray(format="rgb48le") / 65535) ** 2).mean()
                   for o, f in zip(back, pictures)])
    top = max(int(np.frombuffer(o.planes[3], np.uint16).max()) for o in back)
    return float(10 * np.log10(1 / mse)), top


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    width, height = map(int, a.size.split("x"))
    pictures, what = frames(a.frames, width, height)
    print(f"{machine()}\n{a.frames} frames of {what} at {a.size}, one thread per encoder, {a.rounds} rounds in turn")
    times: dict[str, list[float]] = {k: [] for k in ENCODERS}
    rows = {}
    for _ in range(a.rounds):
        for name, (codec, opts) in ENCODERS.items():
            took, packets = encode(codec, opts, pictures)
            times[name].append(took)
            rows[name] = {"bytes_per_frame": sum(p.size for p in packets) / len(pictures)}
            rows[name]["psnr_db"], rows[name]["alpha_top_12bit"] = quality(packets, pictures)
    for name, row in rows.items():
        row["fps_per_thread"] = [round(1 / t, 1) for t in times[name]]
        print(f"{name:34} {min(row['fps_per_thread']):5.1f}-{max(row['fps_per_thread']):5.1f} fps  "
              f"{row['bytes_per_frame'] / 1e6:5.2f} MB/frame  PSNR {row['psnr_db']:.1f} dB  "
              f"opaque alpha {row['alpha_top_12bit']}/4095")
    save_result("prores-encoders-cpu", {"machine": machine(), "size": a.size, "frames": a.frames, "source": what,
                                        "encoders": rows})


if __name__ == "__main__":
    main()
