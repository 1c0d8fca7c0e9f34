"""Where the quality report's flicker bands come from: the report's own figure (mean |delta alpha| on still
pixels, vmatte.report) for vmatte's defaults on the project's real clips, and, in the same run, the same
clips matted with no recurrent state (every frame from an empty state, as per-frame tools work). On still
pixels a stateless model only answers the camera's noise, so the two come out close: the figure sees a
matte that drifts where nothing moved, not the per-frame jitter of moving edges. The report calls a run
steady at or below report.CALM and flickering above report.SHAKY, set from these figures.

    python benchmarks/report_calibration.py [--frames 200]
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from common import MEDIA, ROOT, machine, save_result

CLIPS = ("intel_asl_sister.mkv", "intel_asl_walk.mkv", "intel_one-by-one-person-detection.mp4")


def figure(clip, frames: int, stateless: bool) -> float:
    """The report's mean |delta alpha| on still pixels for the first `frames` frames of `clip`."""
    code = f"""
import sys
from vmatte.io.video_source import VideoFileSource
from vmatte.options import MattingOptions, OutputOptions
from vmatte.report import QualityReport
from vmatte.recipe import Recipe
from vmatte.compose import parse_background
src = VideoFileSource(sys.argv[1])
m, o = MattingOptions(device="cpu"), OutputOptions()
shots = Recipe(m).shots(src, o)
rep, bg = QualityReport(), parse_background("green", "fill")
def head():
    for f in src.frames():
        if f.index >= {frames}:
            return
        yield f
if {stateless}:  # every frame from an empty state, as per-frame tools work
    items = ((f, (shots.matter.reset(), shots.matter(f.image))[1], f.index == 0) for f in head())
else:  # what convert and report run: settled shots, resets at cuts
    items = shots.run(head())
for f, mt, new_shot in items:
    rep.observe(f, mt, new_shot, bg)
print(rep.figures()["mean |Δα| on still pixels (0..1)"])
"""
    out = subprocess.run([sys.executable, "-c", code, str(clip)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(out.stderr[-3000:])  # the child's traceback
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    a = ap.parse_args()
    print(machine())
    rows = {}
    for name in CLIPS:
        clip = MEDIA / "videos" / name
        if not clip.exists():
            sys.exit(f"{clip} is missing: run beside ../shared")
        ours, stateless = figure(clip, a.frames, False), figure(clip, a.frames, True)
        rows[name] = {"vmatte defaults": ours, "no state (per frame)": stateless}
        print(f"{name:42} defaults {ours:.5f}   per frame {stateless:.5f}")
    save_result("report-calibration-cpu", {"frames": a.frames, "figure": "mean |delta alpha| on still pixels (0..1)",
                                           "clips": rows})


if __name__ == "__main__":
    main()
