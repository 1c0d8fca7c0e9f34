"""The foreground colour: the network's prediction against an estimate from the image and the alpha (issue 23).

On benchmarks/gt_clips.py's composites (exact alpha; the foreground's truth is the portrait's own
pixels), each frame is matted by vmatte's defaults; then the foreground is taken three ways:
- network: RVM's predicted foreground;
- estimated: pymatting's multi-level foreground estimation (Germer et al. 2020) from the composite and
  the network's alpha;
- estimated with the true alpha (what the estimator can do at best).
Foreground MSE (x1e3, over the pixels whose true alpha is above 0, as benchmarks/matting_metrics.py
takes it), the flattened-on-white error (MAD x1e3 of fg*a + white*(1-a) against the truth's), and seconds
a frame (the network's whole step; the estimator alone). The foreground's truth is the portrait's own
pixels, which keep some of the photo's old background where alpha is fractional: an estimator that
removes a background is judged against colours that still hold one.
Needs ../shared/media and `pip install pymatting` (with the bench extra).

    python benchmarks/foreground_probe.py [--size 512x288] [--frames-per-shot 8]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import matting_metrics as mm
from common import MEDIA, machine, save_result
from gt_clips import clip_for


def on_white(fg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return fg * alpha[..., None] + (1 - alpha[..., None])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="512x288")
    ap.add_argument("--frames-per-shot", type=int, default=8)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    from pymatting import estimate_foreground_ml

    import vmatte
    from vmatte.engine import Matter, auto_downsample_ratio

    clip = clip_for(a.size, MEDIA / "portraits", a.shots, a.frames_per_shot)
    w, h = clip.width, clip.height
    matter = Matter(vmatte.load_model("rvm-mobilenetv3", device="cpu"), auto_downsample_ratio(w, h), "auto")
    print(f"machine: {machine()}\nclip: {w}x{h}, {clip.frames} frames, ratio {matter.ratio:.3f}")
    estimate_foreground_ml(np.zeros((8, 8, 3)), np.zeros((8, 8)))  # numba compiles here, not in the timing
    rows: dict[str, dict[str, list[float]]] = {k: {"fg_mse": [], "white_mad": [], "seconds": []}
                                               for k in ("network", "estimated", "estimated, true alpha")}
    for i in range(clip.frames):
        if i % clip.shot_frames == 0:
            matter.reset()
        comp, ta, tfg = clip.frame(i)
        t0 = time.perf_counter()
        m = matter(comp)
        net_s = time.perf_counter() - t0
        alpha = m.pha[0, 0].float().numpy()
        fgr = m.fgr[0].permute(1, 2, 0).float().numpy()
        image = comp.astype(np.float64) / 255
        t0 = time.perf_counter()
        est = estimate_foreground_ml(image, alpha.astype(np.float64)).astype(np.float32)
        est_s = time.perf_counter() - t0
        best = estimate_foreground_ml(image, ta.astype(np.float64)).astype(np.float32)
        truth = on_white(tfg, ta)
        for name, fg, al, sec in (("network", fgr, alpha, net_s), ("estimated", est, alpha, est_s),
                                  ("estimated, true alpha", best, ta, est_s)):
            rows[name]["fg_mse"].append(mm.fg_mse(fg, tfg, ta))
            rows[name]["white_mad"].append(float(np.abs(on_white(fg, al) - truth).mean() * 1e3))
            rows[name]["seconds"].append(sec)
    table = {k: {m: round(statistics.fmean(v), 4) for m, v in r.items()} for k, r in rows.items()}
    for k, r in table.items():
        print(f"  {k:22} foreground MSE {r['fg_mse']:.3f}, on white MAD {r['white_mad']:.2f}, "
              f"{r['seconds'] * 1000:.0f} ms a frame")
    save_result("foreground-probe-cpu", {"size": a.size, "frames": clip.frames, "ratio": matter.ratio,
                                         "table": table}, a.out)


if __name__ == "__main__":
    main()
