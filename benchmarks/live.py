"""Sustained live throughput and latency: a 30 fps clip played in real time into a file sink.

Latency is capture (the frame's due time) to hand-off to the sink, over the whole run and over the
first second alone (where first-use work would show). Frames the loop could not keep up with are
dropped (oldest first) and counted. The clips: the demo's portrait with camera motion, and with ../shared
a real clip (intel_one-by-one-person-detection.mp4) scaled to each size and re-timed to 30 fps. Usage:
    python benchmarks/live.py [--seconds 5] [--sizes 640x480,1280x720] [--device cpu]
    python benchmarks/live.py --baseline-tree WORKTREE [--repeats 3]   (720p blur:20, this tree against
        another checkout, whole processes alternating on one clip)
"""
from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

from common import ROOT, machine, portrait_frames, save_result

REAL = ROOT.parent / "shared" / "media" / "videos" / "intel_one-by-one-person-detection.mp4"


def real_frames(n: int, width: int, height: int) -> list | None:
    """The first n frames of the shared real clip, scaled to width x height (None without ../shared)."""
    if not REAL.exists():
        return None
    import av

    with av.open(str(REAL)) as c:
        return [f.to_ndarray(format="rgb24", width=width, height=height) for _, f in zip(range(n), c.decode(video=0))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sizes", default="640x480,1280x720")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    ap.add_argument("--baseline-tree", help="another checkout of vmatte: compare 720p blur:20 against it")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.baseline_tree:
        return before_after(Path(a.baseline_tree), a)
    from samples.make_sample import write_clip
    from vmatte import live

    print(f"machine: {machine()}")
    print(f"{'size':10} {'clip':8} {'ratio':>6} {'background':>10} {'fps':>6} {'in':>5} {'out':>5} {'dropped':>8} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'1st s p95':>9}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for size in a.sizes.split(","):
            w, h = map(int, size.split("x"))
            n = round(30 * a.seconds)
            clips = {"portrait": portrait_frames(n, w, h), "real": real_frames(n, w, h)}
            for name, frames in clips.items():
                if frames is None:
                    print(f"{size}: no ../shared, the real clip is left out")
                    continue
                clip = Path(d) / f"{size}-{name}.mp4"
                write_clip(clip, frames, fps=Fraction(30), audio=False, timecode=None)
                for ratio, bg in ((("auto", "blur:20"), ("auto", "green"), (0.25, "green")) if name == "portrait"
                                  else (("auto", "blur:20"), ("auto", "green"))):
                    s = live(str(clip), str(Path(d) / "out.mp4"), background=bg, realtime=True, device=a.device,
                             downsample_ratio=ratio, quiet=True)
                    lat, first = s.latency_ms, s.first_second_ms
                    print(f"{size:10} {name:8} {str(ratio):>6} {bg:>10} {s.fps:6.1f} {s.frames_in:5d} "
                          f"{s.frames_out:5d} {s.frames_dropped:8d} {lat['p50']:7.0f} {lat['p95']:7.0f} "
                          f"{lat['max']:7.0f} {first['p95']:9.0f}   stages p50 ms {s.stage_ms_p50}, "
                          f"sink p50 {s.sink_ms['p50']} ms")
                    rows.append({"size": size, "clip": name, "ratio": ratio, "background": bg, "fps": round(s.fps, 1),
                                 "frames_in": s.frames_in, "frames_out": s.frames_out, "dropped": s.frames_dropped,
                                 "latency_ms": lat, "first_second_ms": first, "stage_ms_p50": s.stage_ms_p50})
    save_result(f"cpu-live-{a.device}", {"seconds": a.seconds, "rows": rows}, a.out)


CHILD = """
import json, sys
import vmatte
live = getattr(vmatte, "live", None)  # the public API; an older tree has it in vmatte.live
if not callable(live):
    from vmatte.live import live
s = live(sys.argv[1], sys.argv[2], background="blur:20", realtime=True, device=sys.argv[3], quiet=True)
print(json.dumps({"fps": round(s.fps, 1), "dropped": s.frames_dropped, "p95": s.latency_ms["p95"],
                  "stage_ms_p50": s.stage_ms_p50}))
"""


def before_after(tree: Path, a: argparse.Namespace) -> None:
    """Live 1280x720 blur:20 (auto ratio) in this checkout and in `tree`, alternating whole processes."""
    import json
    import subprocess
    import sys

    from common import ROOT
    from samples.make_sample import write_clip

    print(f"machine: {machine()}; baseline tree {tree}")
    runs: dict[str, list[dict]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "clip.mp4"
        write_clip(clip, portrait_frames(round(30 * a.seconds), 1280, 720), fps=Fraction(30), audio=False,
                   timecode=None)
        for i in range(a.repeats):
            for name, t in (("baseline", tree), ("this", ROOT)):
                out = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(Path(d) / "o.mp4"), a.device],
                                     cwd=t, capture_output=True, text=True, check=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                runs[name].append(r)
                print(f"  run {i + 1} {name:8} {r['fps']:5.1f} fps, {r['dropped']} dropped, p95 {r['p95']:.0f} ms; "
                      f"stages p50 ms {r['stage_ms_p50']}")
    save_result(f"cpu-live-before-after-{a.device}", {"clip": "1280x720 portrait, 30 fps, blur:20, auto ratio",
                                                       "frames": round(30 * a.seconds), "baseline_tree": str(tree),
                                                       "runs": runs}, a.out)


if __name__ == "__main__":
    main()
