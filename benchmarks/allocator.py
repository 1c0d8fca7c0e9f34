"""glibc's allocator as vmatte sets it (vmatte/memory.py) against glibc's defaults, in the same run:
the compositing of a 720p blur-background frame (fresh processes, several each, since the default's
dynamic threshold makes it bimodal) and `vmatte convert`'s peak memory and speed on clips of several
lengths (convert keeps glibc's defaults; its figures with the settings are what made that choice).

    python benchmarks/allocator.py [--processes 4] [--memory 200,1000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import ROOT, machine, save_result

COMPOSE = """
import json, time, torch
from vmatte.compose import BlurBackground, render
from vmatte.engine import Matte
from vmatte.memory import tune_allocator
tuned = tune_allocator()
torch.manual_seed(0)
h, w = 720, 1280
m = Matte(torch.rand(1, 3, h, w), torch.rand(1, 3, h, w), torch.rand(1, 1, h, w))
bg = BlurBackground(20.0)
with torch.inference_mode():
    render("composite", m, bg, 0)
    t0 = time.perf_counter()
    for i in range(30):
        render("composite", m, bg, i)
print(json.dumps({"tuned": tuned, "ms": (time.perf_counter() - t0) / 30 * 1000}))
"""


def run(code: str, default: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    if default:
        env["VMATTE_DEFAULT_MALLOC"] = "1"
    else:
        env.pop("VMATTE_DEFAULT_MALLOC", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--memory", default="200,1000", help="clip lengths (frames) for convert's peak memory")
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    result: dict = {"compose_720p_blur_ms": {}, "memory": {}}
    for name, default in (("glibc_default", True), ("vmatte", False)):
        ms = [round(run(COMPOSE, default)["ms"], 2) for _ in range(a.processes)]
        result["compose_720p_blur_ms"][name] = ms
        print(f"  composite 720p, blur background, {name:13}: ms per frame in {a.processes} processes: {ms}")
    for name, default in (("glibc_default", True), ("vmatte", False)):
        lengths = ",".join(str(int(n)) for n in a.memory.split(","))
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); sys.argv = ['x', '--memory', "
                f"{lengths!r}, '--out', '/tmp/vmatte-allocator']; import pipeline; pipeline.main()")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        if not default:  # convert keeps glibc's defaults itself: the same settings, through glibc's variables
            from vmatte.memory import MMAP_THRESHOLD, TRIM_THRESHOLD

            env.update(MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD), MALLOC_TRIM_THRESHOLD_=str(TRIM_THRESHOLD))
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, capture_output=True)
        files = sorted(p for p in os.listdir("/tmp/vmatte-allocator") if p.startswith("cpu-memory"))
        rows = json.loads(open(f"/tmp/vmatte-allocator/{files[-1]}").read())["rows"]
        result["memory"][name] = rows
        print(f"  convert 720p -> ProRes 4444 peak memory, {name:13}: "
              + ", ".join(f"{r['frames']} frames {r['peak_mb']} MB ({r['fps']} fps)" for r in rows))
    save_result("allocator-cpu", result, a.out)


if __name__ == "__main__":
    main()
