"""What `--effort best` costs against the default, through the whole `vmatte convert`, and whether its
memory stays flat as the clip grows (issue 23).

1. speed: a 720p H.264 portrait clip (the demo's camera move) to ProRes 4444, each effort in its own
   process, alternating, `--repeats` times: wall seconds, frames per second, per-stage busy seconds
   (the network stage holds best's first two readings and its four network steps a frame) and peak
   memory;
2. memory: one shot of `--long` frames against one of `--short` frames at 720p, best, to a matte
   (FFV1), at `--memory-ratio` (the internal scale does not change what grows with the clip; it makes
   the long run affordable on a CPU): peak memory of each, and the temporary disk best used.

    python benchmarks/effort_cost.py [--frames 90] [--repeats 2] [--short 1000] [--long 4000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, machine, portrait_frames, save_result

RUN = """
import json, resource, sys, time
import vmatte
t = time.perf_counter()
s = vmatte.convert(sys.argv[1], progress=False, **json.loads(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t, "frames": s.frames, "fps": s.frames / (time.perf_counter() - t),
                  "stages": vars(s.stages), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def convert(clip: Path, **options) -> dict:
    """One whole `vmatte.convert` process; its figures, and the most temporary disk best held meanwhile."""
    tmp = Path(tempfile.gettempdir())
    most, done = [0], threading.Event()

    def watch() -> None:  # best's kept states live in vmatte-best-* folders of the temporary directory
        while not done.wait(0.5):
            size = sum(f.stat().st_size for d in tmp.glob("vmatte-best-*") for f in d.glob("*") if f.is_file())
            most[0] = max(most[0], size)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        res = subprocess.run([sys.executable, "-c", RUN, str(clip), json.dumps(options)], capture_output=True,
                             text=True, cwd=ROOT)
    finally:
        done.set()
        w.join()
    if res.returncode:
        sys.exit(res.stderr[-2000:])
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "temp_disk_mb": most[0] / 2**20}


def write(path: Path, n: int, width: int, height: int) -> Path:
    from samples.make_sample import write_clip

    frames = portrait_frames(min(n, 300), width, height)
    write_clip(path, (frames[i % len(frames)] if (i // len(frames)) % 2 == 0 else frames[-1 - i % len(frames)]
                      for i in range(n)), audio=False)  # back and forth: one shot, however long
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--short", type=int, default=1000)
    ap.add_argument("--long", type=int, default=4000)
    ap.add_argument("--memory-ratio", type=float, default=0.125)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    result: dict = {"frames": a.frames, "size": "1280x720", "speed": {}, "memory": {}}
    with tempfile.TemporaryDirectory() as d:
        clip = write(Path(d) / "clip.mp4", a.frames, 1280, 720)
        runs: dict[str, list] = {"default": [], "best": []}
        for r in range(a.repeats):
            for effort in ("default", "best") if r % 2 == 0 else ("best", "default"):
                out = Path(d) / f"{effort}.mov"
                f = convert(clip, rgba=str(out), effort=effort)
                out.unlink()
                runs[effort].append(f)
                print(f"  {effort:8} {f['fps']:6.2f} fps  network stage {f['stages']['network']:6.1f} s  "
                      f"peak {f['peak_mb']:6.0f} MB  temporary disk {f['temp_disk_mb']:5.1f} MB", flush=True)
        result["speed"] = runs
        for n in (a.short, a.long):
            clip = write(Path(d) / f"long{n}.mp4", n, 1280, 720)
            t = time.perf_counter()
            f = convert(clip, matte=str(Path(d) / f"m{n}.mkv"), effort="best", downsample_ratio=a.memory_ratio)
            clip.unlink()
            result["memory"][str(n)] = f
            print(f"  best, {n} frames: peak {f['peak_mb']:.0f} MB, temporary disk {f['temp_disk_mb']:.0f} MB, "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
    result["memory_ratio"] = a.memory_ratio
    save_result("effort-cost-cpu", result, a.out)


if __name__ == "__main__":
    main()
