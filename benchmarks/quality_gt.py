"""Matte quality against exact ground truth, and against MediaPipe's selfie segmentation, in one run.

Clips are composited at run time (benchmarks/gt_clips.py: P3M portraits over person-free backgrounds,
moving layers, changing light, hard cuts) at 512x288 and 1920x1080, and matted by:
- vmatte's defaults (`vmatte.convert`, 16-bit straight RGBA in FFV1, read back);
- plain RVM behaviour: the same with `warmup=0, scene_cuts="ignore"`;
- vmatte's still mode per frame (every frame as a photo in a folder; 16-bit matte PNGs);
- MediaPipe selfie segmentation, general and landscape models (its mask is the alpha, the frame itself
  the foreground: how a webcam tool composites with it).
Metrics (benchmarks/matting_metrics.py): MAD, MSE (x1e3), Grad, Conn (x1e-3), dtSSD (x1e2), foreground
MSE (x1e3). Each method is also timed per frame on this machine at 640x360 and 1280x720.

    pip install -e '.[bench]' && pip install --no-deps mediapipe==0.10.14   # or: make bench-deps
    python benchmarks/quality_gt.py [--frames-per-shot 32] [--sizes 512x288,1920x1080] [--out DIR]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

import matting_metrics as mm
from common import MEDIA, machine, save_result
from gt_clips import Clip, backgrounds, portraits, write_lossless

METHODS = ("vmatte defaults", "plain RVM", "still mode", "MediaPipe general", "MediaPipe landscape")
METRICS = ("mad", "mse", "grad", "conn", "dtssd", "fg_mse")
POST_CUT = 15  # frames after a cut compared with the rest of the shot


def _mediapipe(model: int):
    try:
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation
    except ImportError:
        raise SystemExit("needs MediaPipe 0.10.14: make bench-deps (see this file's docstring)") from None
    return SelfieSegmentation(model_selection=model)


def _read_rgba16(path: Path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            a = f.to_ndarray(format="rgba64le").astype(np.float32) / 65535
            yield a[..., 3], a[..., :3]


def predictions(method: str, clip: Clip, video: Path, work: Path):
    """(alpha HxW, foreground HxWx3) per frame, floats in [0, 1], in order."""
    import vmatte

    if method in ("vmatte defaults", "plain RVM"):
        out = work / f"{method.replace(' ', '_')}.mkv"
        plain = {"warmup": 0, "scene_cuts": "ignore"} if method == "plain RVM" else {}
        vmatte.convert(video, rgba=str(out), progress=False, quiet=True, **plain)
        yield from _read_rgba16(out)
    elif method == "still mode":
        frames, mattes, fgs = work / "frames", work / "still_matte", work / "still_fg"
        frames.mkdir(exist_ok=True)
        for i in range(clip.frames):
            cv2.imwrite(str(frames / f"{i:06d}.png"), cv2.cvtColor(clip.frame(i)[0], cv2.COLOR_RGB2BGR))
        vmatte.convert(frames, matte=f"{mattes}/", foreground=f"{fgs}/", progress=False, quiet=True)
        for i in range(clip.frames):
            a = cv2.imread(str(mattes / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535
            fg = cv2.cvtColor(cv2.imread(str(fgs / f"{i:06d}.png")), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
            yield a, fg
    else:
        with _mediapipe(1 if method.endswith("landscape") else 0) as seg:
            for i in range(clip.frames):
                rgb = clip.frame(i)[0]
                yield seg.process(rgb).segmentation_mask.astype(np.float32), rgb.astype(np.float32) / 255


def score(method: str, clip: Clip, video: Path, work: Path) -> dict:
    per = {k: [] for k in METRICS}
    before = None
    for i, (a, fg) in enumerate(predictions(method, clip, video, work)):
        _, ta, tfg = clip.frame(i)
        for k, v in mm.frame_errors(a, ta, fg, tfg).items():
            per[k].append(v)
        new_shot = i % clip.shot_frames == 0  # the truth jumps at a cut: dtSSD is taken within shots
        per["dtssd"].append(None if new_shot else mm.dtssd(a, before[0], ta, before[1]))
        before = (a, ta)
    if len(per["mad"]) != clip.frames:
        raise SystemExit(f"{method}: {len(per['mad'])} frames back of {clip.frames}")
    means = {k: statistics.fmean(v for v in per[k] if v is not None) for k in METRICS}
    ratios = []
    for start in [0, *clip.cuts]:
        dts = per["dtssd"][start:start + clip.shot_frames]
        ratios.append(statistics.fmean(dts[1:POST_CUT + 1]) / statistics.fmean(dts[POST_CUT + 1:]))
    return {"mean": {k: round(v, 4) for k, v in means.items()},
            "post_cut_dtssd_ratio": round(statistics.fmean(ratios[1:] or ratios), 3),
            "post_cut_dtssd_ratio_per_shot": [round(r, 3) for r in ratios],
            "mad_per_frame": [round(v, 2) for v in per["mad"]]}


def timings(layers, bgs) -> list[dict]:
    """Median ms per frame of each method's matting step alone, at 640x360 and 1280x720."""
    import torch

    import vmatte
    from vmatte.engine import Matter, auto_downsample_ratio
    from vmatte.options import MattingOptions, OutputOptions
    from vmatte.photos import Still
    from vmatte.recipe import Recipe

    model = vmatte.load_model(device="cpu")
    still = Still(Recipe(MattingOptions(), "photo"), OutputOptions())
    rows = []
    for w, h in ((640, 360), (1280, 720)):
        frames = [Clip(w, h, layers, bgs).frame(i)[0] for i in range(12)]
        video = Matter(model, auto_downsample_ratio(w, h), "auto")
        with _mediapipe(0) as general, _mediapipe(1) as landscape:
            steps = {"vmatte defaults / plain RVM (one network step)": video, "still mode": still,
                     "MediaPipe general": general.process, "MediaPipe landscape": landscape.process}
            row = {"size": f"{w}x{h}", "ms": {}}
            for name, step in steps.items():
                took = []
                with torch.inference_mode():
                    for k, f in enumerate(frames):
                        t0 = time.perf_counter()
                        step(f)
                        if k >= 3:
                            took.append((time.perf_counter() - t0) * 1e3)
                row["ms"][name] = round(statistics.median(took), 2)
        print(f"  {row['size']}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in row["ms"].items()))
        rows.append(row)
    return rows


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(9, 2.6 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results):
        for method, s in r["methods"].items():
            ax.plot(s["mad_per_frame"], label=method, linewidth=1.2)
        for c in r["cuts"]:
            ax.axvline(c, color="k", linestyle=":", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylabel("MAD x1e3")
        ax.set_title(f"{r['size']}: alpha error per frame (dotted: hard cuts)", fontsize=9)
    axes[-1, 0].set_xlabel("frame")
    axes[0, 0].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames-per-shot", type=int, default=32)
    ap.add_argument("--sizes", default="512x288,1920x1080")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", help="folder for the JSON and PNG (default benchmarks/results)")
    a = ap.parse_args()
    layers, bgs = portraits(MEDIA / "portraits"), backgrounds()
    if not layers:
        raise SystemExit(f"needs the P3M portraits in {MEDIA / 'portraits'}")
    print(f"machine: {machine()}")
    results = []
    for size in a.sizes.split(","):
        w, h = map(int, size.split("x"))
        clip = Clip(w, h, layers, bgs, shot_frames=a.frames_per_shot)
        r = {"size": size, "frames": clip.frames, "cuts": clip.cuts, "shots": clip.describe(), "methods": {}}
        with tempfile.TemporaryDirectory() as tmp:
            video = Path(tmp) / "clip.mkv"
            write_lossless(clip, video)
            for method in a.methods.split(","):
                t0 = time.perf_counter()
                r["methods"][method] = s = score(method, clip, video, Path(tmp))
                print(f"{size} {method:20s} " + " ".join(f"{k} {v:8.3f}" for k, v in s["mean"].items())
                      + f"  post-cut dtSSD ratio {s['post_cut_dtssd_ratio']:.2f}  ({time.perf_counter() - t0:.0f} s)")
        results.append(r)
    timing = timings(layers, bgs)
    goals = {}
    for r in results:
        m = r["methods"]
        d, p = m.get("vmatte defaults"), m.get("plain RVM")
        mp = [m[k]["mean"] for k in ("MediaPipe general", "MediaPipe landscape") if k in m]
        if d and mp:
            goals[f"{r['size']} MAD and dtSSD 2x better than the better MediaPipe"] = all(
                min(x[k] for x in mp) >= 2 * d["mean"][k] for k in ("mad", "dtssd"))
        if d and p:
            goals[f"{r['size']} no metric worse than plain RVM"] = all(d["mean"][k] <= p["mean"][k] for k in METRICS)
        if d:
            goals[f"{r['size']} post-cut dtSSD ratio <= 1.2"] = d["post_cut_dtssd_ratio"] <= 1.2
    for k, v in goals.items():
        print(f"goal: {k}: {'met' if v else 'MISSED'}")
    path = save_result("quality-gt", {"reference": "exact: composites of P3M portraits with their alpha",
                                      "clips": results, "timing_ms_per_frame": timing, "goals": goals}, a.out)
    plot(results, path.with_suffix(".png"))


if __name__ == "__main__":
    main()
