"""Scale-out, whole process against whole process, in one run (`vmatte convert` as a user runs it).

CPU (default): on this machine, one process against `--workers 2` and `--ray` (a local Ray), for
- a folder of 3 short clips (no splitting: one clip per worker), and
- one long clip split into segments (the overhead: one decode pass to plan, 30 pre-roll frames per
  segment, the workers' start-up, the join), with each segment's first-frame alpha difference against
  the one-process output.
GPU (`--gpu`, on the GPU machine): 1080p H.264 -> ProRes 4444 with --workers 1/2/4/6 sharing the one GPU,
against the all-cores ProRes encode ceiling measured in the same run (benchmarks/gpu.py).

    python benchmarks/workers.py [--gpu] [--frames N] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from common import ROOT, machine, portrait_frames, save_result


def convert(*args: object) -> float:
    """Seconds for one whole `vmatte convert` process."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "vmatte", "convert", *map(str, args), "--no-progress", "-q"],
                         capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"vmatte convert {' '.join(map(str, args))} failed: {res.stderr.strip()}")
    return time.perf_counter() - t0


def alphas(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgba64le")[..., 3].astype(np.float64) / 65535 for f in c.decode(video=0)]


def first_frames(clip: Path, one: Path, many: Path, seconds: float) -> list[dict]:
    """Each segment's first frame: mean and max |alpha difference| against one process."""
    from vmatte.io.video_source import seek_index as probe
    from vmatte.scale.plan import FilePlan, segments

    plan = FilePlan(str(clip), {"rgba": str(many)})
    plan.frames, fps, _ = probe(str(clip), None)
    starts = [(s.start, s.at_cut) for s in segments(plan, None, fps, seconds, 30)]
    a, b = alphas(one), alphas(many)
    assert len(a) == len(b), (len(a), len(b))
    rows = []
    for start, at_cut in starts:
        d = np.abs(a[start] - b[start])
        rows.append({"start": start, "at_cut": at_cut, "mean": float(d.mean()), "max": float(d.max())})
    return rows


def cpu(frames: int, out: str | None) -> None:
    from samples.make_sample import write_clip

    try:
        import ray  # noqa: F401
        with_ray = True
    except ImportError:
        with_ray = False
    ways = {"1 process": [], "--workers 2": ["--workers", "2"]}
    if with_ray:
        ways["--ray (local), 2 actors"] = ["--ray", "--workers", "2"]
    result = {"folder": {}, "segments": {}}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        folder = d / "clips"
        folder.mkdir()
        for k in range(3):
            write_clip(folder / f"c{k}.mp4", portrait_frames(frames // 3, 640, 360), fps=Fraction(30))
        long = d / "long.mp4"
        scene = portrait_frames(frames // 2, 640, 360)
        write_clip(long, scene + [np.ascontiguousarray(255 - f[:, ::-1]) for f in scene], fps=Fraction(30))
        for name, extra in ways.items():
            s = convert(folder, "--rgba", f"{d / ('f' + str(len(extra)))}/", *extra)
            result["folder"][name] = {"seconds": round(s, 1), "fps": round(3 * (frames // 3) / s, 1)}
            print(f"folder of 3 clips x {frames // 3} frames, 640x360 -> ProRes 4444, {name}: {s:.1f} s")
        seconds = 2.0
        for name, extra in ways.items():
            target = d / f"long{len(extra)}.mov"
            seg = ["--segment-seconds", str(seconds)] if extra else []
            s = convert(long, "--rgba", target, *extra, *seg)
            result["segments"][name] = {"seconds": round(s, 1), "fps": round(2 * (frames // 2) / s, 1)}
            print(f"one clip of {2 * (frames // 2)} frames (a cut half way), 640x360, {name}: {s:.1f} s")
        many = d / "long2.mov"
        result["first_frames"] = first_frames(long, d / "long0.mov", many, seconds)
        for r in result["first_frames"]:
            print(f"  segment from frame {r['start']}{' (at a cut)' if r['at_cut'] else ''}: "
                  f"mean |d alpha| {r['mean']:.2e}, max {r['max']:.4f}")
    base_f, base_s = result["folder"]["1 process"]["seconds"], result["segments"]["1 process"]["seconds"]
    for k in ways:
        result["folder"][k]["vs_one_process"] = round(base_f / result["folder"][k]["seconds"], 2)
        result["segments"][k]["vs_one_process"] = round(base_s / result["segments"][k]["seconds"], 2)
    save_result("workers-cpu", {"frames": frames, "segment_seconds": seconds, **result}, out)


def gpu(frames: int, out: str | None) -> None:
    """Without CUDA, a dry run at 320x180 on the CPU: checks the script, not the GPU."""
    import torch

    import gpu as g
    from samples.make_sample import camera_move, portrait_photo, write_clip

    cuda = torch.cuda.is_available()
    card = torch.cuda.get_device_name() if cuda else "cpu-dry-run"
    dev, dtype = (torch.device("cuda"), torch.float16) if cuda else (torch.device("cpu"), torch.float32)
    w, h = (1920, 1080) if cuda else (320, 180)

    def frame(fw, fh):
        return next(iter(camera_move(portrait_photo(), 1, fw, fh)))

    print(f"device: {card}; {os.cpu_count()} CPU cores")
    result: dict = {"card": card, "cpu_cores": os.cpu_count(), "frames": frames, "size": f"{w}x{h}", "runs": []}
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "in.mp4"
        write_clip(clip, camera_move(portrait_photo(), frames, w, h), fps=Fraction(30), audio=False, timecode=None)
        result["encode"] = enc = g.encode_figures(g.rgba_frame(dev, dtype, w, h, frame), 40 if cuda else 5)
        for n in (1, 2, 4, 6):
            s = convert(clip, "--rgba", Path(d) / f"o{n}.mov", "--workers", n, "--segment-seconds", "5")
            row = {"workers": n, "seconds": round(s, 1), "fps": round(frames / s, 1),
                   "of_ceiling": round(frames / s / enc["ceiling_fps"], 3)}
            result["runs"].append(row)
            print(f"  --workers {n}: {row['fps']} fps whole process, {row['of_ceiling']:.2f} of the ceiling",
                  flush=True)
    save_result(f"workers-gpu-{card.replace(' ', '_')}", result, out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu", action="store_true", help="the GPU machine's section")
    ap.add_argument("--frames", type=int, help="frames in all (default 240 on CPU, 1200 on the GPU)")
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    if a.gpu:
        gpu(a.frames or 1200, a.out)
    else:
        cpu(a.frames or 240, a.out)


if __name__ == "__main__":
    main()
