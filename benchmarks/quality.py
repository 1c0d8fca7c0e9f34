"""Matte quality at the start of shots, with and without vmatte's settled starts.

1. Flicker while the state settles: mean frame-to-frame |delta alpha| in frames 0-15 against 15-60
   of each shared clip, plain RVM (empty start) against settled start (warm-up on 15 frames).
2. Difference from the settled reference over the first 5 frames of each shot, on a hard cut made
   by joining two shared clips: plain RVM, reset-at-cut only, and vmatte (reset + settle).
Usage: python benchmarks/quality.py [--ratio 0.5]
"""
from __future__ import annotations

import argparse
from fractions import Fraction

import av
import numpy as np

from common import MEDIA, machine


def frames_of(path, n=60):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]


def alphas(matter_cls, model, imgs, ratio, warmup, cuts):
    from vmatte.io.frames import Frame
    from vmatte.shots import SettledShots

    shots = SettledShots(matter_cls(model, ratio), warmup=warmup, scene_cuts=cuts)
    frames = [Frame(img, i, Fraction(1, 30), i) for i, img in enumerate(imgs)]
    return [m.pha[0, 0].numpy() for _, m, _ in shots.run(frames)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ratio", type=float, default=0.5)
    a = ap.parse_args()
    import vmatte
    from vmatte.engine import Matter

    if not MEDIA.exists():
        raise SystemExit(f"needs the shared clips in {MEDIA}")
    model = vmatte.load_model(device="cpu")
    print(f"machine: {machine()}; downsample ratio {a.ratio}")
    print("1. mean |delta alpha| between consecutive frames (0..1)")
    print(f"   {'clip':40} {'plain 0-15':>11} {'plain 15-60':>12} {'settled 0-15':>13} {'settled 15-60':>14}")
    for name in ("intel_asl_walk.mkv", "intel_asl_sister.mkv", "intel_one-by-one-person-detection.mp4"):
        imgs = frames_of(MEDIA / "videos" / name)
        row = []
        for warm in (0, 15):
            p = alphas(Matter, model, imgs, a.ratio, warm, False)
            d = [float(np.abs(p[i] - p[i - 1]).mean()) for i in range(1, len(p))]
            row += [np.mean(d[:15]), np.mean(d[15:])]
        print(f"   {name:40} {row[0]:11.5f} {row[1]:12.5f} {row[2]:13.5f} {row[3]:14.5f}")
    print("2. hard cut (asl_walk[:40] + asl_sister[:40]): mean |alpha - settled reference| over 5 frames")
    shot_a = frames_of(MEDIA / "videos" / "intel_asl_walk.mkv", 40)
    shot_b = frames_of(MEDIA / "videos" / "intel_asl_sister.mkv", 40)
    ref = alphas(Matter, model, shot_a, a.ratio, 15, False) + alphas(Matter, model, shot_b, a.ratio, 15, False)
    runs = {"plain RVM": (0, False), "reset at cut only": (0, True), "vmatte (reset + settle 15)": (15, True)}
    print(f"   {'':30} {'clip start':>11} {'after cut':>10}")
    for label, (warm, cuts) in runs.items():
        p = alphas(Matter, model, shot_a + shot_b, a.ratio, warm, cuts)
        d = [np.mean([np.abs(p[i] - ref[i]).mean() for i in range(s, s + 5)]) for s in (0, 40)]
        print(f"   {label:30} {d[0]:11.5f} {d[1]:10.5f}")


if __name__ == "__main__":
    main()
