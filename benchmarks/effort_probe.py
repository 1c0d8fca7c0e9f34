"""Which offline combinations beat plain RVM on exact ground truth (issue 23's first measurement).

On benchmarks/gt_clips.py's composites (P3M portraits over person-free backgrounds, hard cuts), in one
process with vmatte's Matter at RVM's guided ratio, each shot is matted:
- plain: forward from an empty state, the state carried across cuts (RVM's own behaviour);
- default: vmatte's defaults (reset at cuts, each shot settled on its first 15 frames);
- backward: the shot's frames in reverse, from a settled state, outputs put back in order;
- mirror: the mirrored frames forward (settled), outputs mirrored back;
- coarse: default at half RVM's guided ratio;
- and the means of default with each, of default, backward and mirror, and a 1-2-1 filter in time.
Conditions (harder ground truth): clean; motion blur (each frame the mean of 5 moments spread over one
frame interval of the moving layers, alpha likewise: a 360-degree shutter, the longest a camera can
expose, as a webcam does in dim light; the first runs spread them over 3 intervals, which no camera
does); sensor noise (Gaussian, sigma 2 + 2% of the level, in
8-bit codes); H.264 CRF 28 of the composite before matting. MAD (x1e3) and dtSSD (x1e2) per method and
condition, and the seconds per frame of each pass. Needs ../shared/media (portraits) and the bench extra (scikit-image).

    python benchmarks/effort_probe.py [--size 512x288] [--frames-per-shot 24] [--shots 4] [--fine 2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import matting_metrics as mm
from common import MEDIA, machine, save_result
from gt_clips import Clip, clip_for

CONDITIONS = ("clean", "blur", "noise", "crf28")


def condition_frames(clip: Clip, condition: str, work: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(composite uint8 HxWx3, true alpha HxW) per frame under `condition`."""
    out = []
    for i in range(clip.frames):
        comp, alpha, _ = clip.frame(i)
        if condition == "blur":  # a 360-degree shutter: 5 moments over one frame interval, within the shot
            end = (i // clip.shot_frames + 1) * clip.shot_frames - 1
            subs = [clip.frame(min(i + 0.2 * k, end)) for k in range(5)]
            comp = np.round(np.mean([s[0].astype(np.float32) for s in subs], 0)).astype(np.uint8)
            alpha = np.mean([s[1] for s in subs], 0)
        elif condition == "noise":
            rng = np.random.default_rng(i)
            x = comp.astype(np.float32)
            x += rng.normal(0, 1, x.shape).astype(np.float32) * (2 + 0.02 * x)
            comp = np.clip(np.round(x), 0, 255).astype(np.uint8)
        out.append((comp, alpha))
    if condition == "crf28":
        import av

        path = work / "crf28.mp4"
        with av.open(str(path), "w") as c:
            st = c.add_stream("libx264", rate=30, options={"crf": "28"})
            st.width, st.height, st.pix_fmt = clip.width, clip.height, "yuv420p"
            for comp, _ in out:
                for p in st.encode(av.VideoFrame.from_ndarray(comp, format="rgb24")):
                    c.mux(p)
            for p in st.encode():
                c.mux(p)
        with av.open(str(path)) as c:
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        out = [(d, a) for d, (_, a) in zip(decoded, out)]
    return out


def run_shot(matter, frames: list[np.ndarray], settle: int) -> list[np.ndarray]:
    """Alpha per frame (HxW float) of one pass; `settle` frames settle the state first (0: none)."""
    matter.reset()
    for f in frames[:settle]:
        matter.settle(f)
    return [matter(f).pha[0, 0].float().numpy() for f in frames]


def smoothed(alphas: list[np.ndarray], shot_frames: int) -> list[np.ndarray]:
    """A 1-2-1 temporal filter within each shot (the first and last frame of a shot keep their own weight)."""
    out = []
    for i, a in enumerate(alphas):
        prev = alphas[i - 1] if i % shot_frames else a
        nxt = alphas[i + 1] if (i + 1) % shot_frames and i + 1 < len(alphas) else a
        out.append(0.25 * prev + 0.5 * a + 0.25 * nxt)
    return out


def methods(matter, clip: Clip, frames: list[np.ndarray],
            coarse=None, fine=None) -> tuple[dict[str, Callable[[], list[np.ndarray]]], dict[str, float]]:
    """Every method's alphas for the whole clip (made when called), and seconds per frame of each pass.
    fine: a Matter at a larger internal scale, run forward, backward and mirrored too (None: not measured)."""
    n = clip.shot_frames
    shots = [frames[s:s + n] for s in range(0, clip.frames, n)]
    names = ["plain", "default", "backward", "mirror", "coarse"]
    names += ["fine", "fine backward", "fine mirror"] if fine is not None else []
    passes: dict[str, list[np.ndarray]] = {k: [] for k in names}
    cost = {k: 0.0 for k in passes}
    matter.reset()
    t0 = time.perf_counter()
    passes["plain"] = [matter(f).pha[0, 0].float().numpy() for f in frames]  # never reset: RVM's own
    cost["plain"] = time.perf_counter() - t0
    for shot in shots:
        for m, prefix in ((matter, ""), (fine, "fine ")):
            if m is None:
                continue
            for name, seq, back in (("default", shot, lambda a: a), ("backward", shot[::-1], lambda a: a[::-1]),
                                    ("mirror", [np.ascontiguousarray(f[:, ::-1]) for f in shot],
                                     lambda a: [x[:, ::-1] for x in a])):
                name = "fine" if prefix and name == "default" else prefix + name
                t0 = time.perf_counter()
                passes[name] += back(run_shot(m, seq, min(15, len(seq))))
                cost[name] += time.perf_counter() - t0
        t0 = time.perf_counter()  # the same shot at a coarser internal scale (another Matter)
        passes["coarse"] += run_shot(coarse, shot, min(15, len(shot)))
        cost["coarse"] += time.perf_counter() - t0
    p = passes

    def mean(*names: str):
        return lambda: [sum(x) / len(names) for x in zip(*(p[k] for k in names))]

    combos = {"default+backward": mean("default", "backward"), "default+mirror": mean("default", "mirror"),
              "all three": mean("default", "backward", "mirror"), "default+coarse": mean("default", "coarse"),
              "all three, 1-2-1 in time": lambda: smoothed(mean("default", "backward", "mirror")(), n),
              "default, 1-2-1 in time": lambda: smoothed(p["default"], n)}
    if fine is not None:
        combos.update({"fine all three": mean("fine", "fine backward", "fine mirror"),
                       "fine+backward": mean("fine", "fine backward"), "fine+mirror": mean("fine", "fine mirror"),
                       "fine+default": mean("fine", "default"),
                       "all six": mean("default", "backward", "mirror", "fine", "fine backward", "fine mirror")})
    out = {**{k: (lambda v=v: v) for k, v in passes.items()}, **combos}  # each made when scored: 1080p is big
    per = {k: v / clip.frames for k, v in cost.items()}
    return out, per


def score(alphas: list[np.ndarray], truth: list[np.ndarray], shot_frames: int) -> dict[str, float]:
    mad = [mm.mad(a, t) for a, t in zip(alphas, truth)]
    dt = [mm.dtssd(alphas[i], alphas[i - 1], truth[i], truth[i - 1]) for i in range(1, len(alphas))
          if i % shot_frames]
    return {"mad": round(statistics.fmean(mad), 3), "dtssd": round(statistics.fmean(dt), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="512x288")
    ap.add_argument("--frames-per-shot", type=int, default=24)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--fine", type=float, default=0.0,
                    help="also measure passes at this multiple of the guided ratio (at most 1), e.g. 2")
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated, of " + ", ".join(CONDITIONS))
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    import vmatte
    from vmatte.engine import Matter, auto_downsample_ratio

    clip = clip_for(a.size, MEDIA / "portraits", a.shots, a.frames_per_shot)
    w, h = clip.width, clip.height
    model = vmatte.load_model("rvm-mobilenetv3", device="cpu")
    matter = Matter(model, auto_downsample_ratio(w, h), "auto")
    coarse = Matter(model, auto_downsample_ratio(w, h) / 2, "auto")
    fine = Matter(model, min(1.0, auto_downsample_ratio(w, h) * a.fine), "auto") if a.fine else None
    print(f"machine: {machine()}\nclip: {w}x{h}, {clip.frames} frames in {a.shots} shots, ratio {matter.ratio:.3f}")
    table: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as d:
        for cond in a.conditions.split(","):
            frames = condition_frames(clip, cond, Path(d))
            alphas, cost = methods(matter, clip, [f for f, _ in frames], coarse, fine)
            truth = [t for _, t in frames]
            table[cond] = {k: score(v(), truth, clip.shot_frames) for k, v in alphas.items()}
            base = table[cond]["plain"]
            for k, s in table[cond].items():
                print(f"  {cond:6} {k:17} MAD {s['mad']:6.2f} ({100 * (s['mad'] / base['mad'] - 1):+4.0f}%)  "
                      f"dtSSD {s['dtssd']:6.2f} ({100 * (s['dtssd'] / base['dtssd'] - 1):+4.0f}%)")
            table[cond]["seconds_per_frame"] = {k: round(v, 4) for k, v in cost.items()}
            del frames, alphas, truth  # 1080p: every method's alphas of one condition fill gigabytes
    name = "effort-probe-cpu" if a.size == "512x288" else f"effort-probe-{a.size}-cpu"
    save_result(name, {"size": a.size, "frames": clip.frames, "shots": clip.describe(),
                                     "ratio": matter.ratio, "fine_ratio": fine.ratio if fine else None,
                                     "table": table},
                a.out)


if __name__ == "__main__":
    main()
