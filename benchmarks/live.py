"""Sustained live throughput and latency: a 30 fps clip played in real time into a file sink.

Latency is capture (the frame's due time) to hand-off to the sink. Frames the loop could not keep
up with are dropped (oldest first) and counted. Usage:
    python benchmarks/live.py [--seconds 5] [--sizes 640x480,1280x720] [--device cpu]
"""
from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

from common import machine, portrait_frames, save_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sizes", default="640x480,1280x720")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    from samples.make_sample import write_clip
    from vmatte.live import live

    print(f"machine: {machine()}")
    print(f"{'size':10} {'ratio':>6} {'background':>10} {'fps':>6} {'in':>5} {'out':>5} {'dropped':>8} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for size in a.sizes.split(","):
            w, h = map(int, size.split("x"))
            clip = Path(d) / f"{size}.mp4"
            write_clip(clip, portrait_frames(round(30 * a.seconds), w, h), fps=Fraction(30), audio=False,
                       timecode=None)
            for ratio, bg in (("auto", "blur:20"), ("auto", "green"), (0.25, "green")):
                s = live(str(clip), str(Path(d) / "out.mp4"), background=bg, realtime=True, device=a.device,
                         downsample_ratio=ratio, quiet=True)
                lat = s.latency_ms
                print(f"{size:10} {str(ratio):>6} {bg:>10} {s.fps:6.1f} {s.frames_in:5d} {s.frames_out:5d} "
                      f"{s.frames_dropped:8d} {lat['p50']:7.0f} {lat['p95']:7.0f} {lat['max']:7.0f}   "
                      f"stages p50 ms {s.stage_ms_p50}, sink p50 {s.sink_ms['p50']} ms")
                rows.append({"size": size, "ratio": ratio, "background": bg, "fps": round(s.fps, 1),
                             "frames_in": s.frames_in, "frames_out": s.frames_out, "dropped": s.frames_dropped,
                             "latency_ms": lat, "stage_ms_p50": s.stage_ms_p50})
    save_result(f"cpu-live-{a.device}", {"seconds": a.seconds, "rows": rows}, a.out)


if __name__ == "__main__":
    main()
