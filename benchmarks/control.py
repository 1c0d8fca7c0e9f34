"""The control server's cost: `vmatte live` with and without a browser on the OBS output page, side by side.

A 30 fps portrait clip (the demo's) is played in real time into an H.264 file, whole processes,
alternating: plain, then `--control` with headless Chromium showing the output page. Per run: fps,
dropped frames, capture-to-sink p95, the vmatte process's CPU seconds per frame (the browser's own
CPU is reported apart), and with the page, capture to the page's draw. Then the start-up: a one-frame
session with the automatic ratio, first with no cached measurement, then again. Usage:

    python benchmarks/control.py [--seconds 10] [--sizes 640x480,1280x720] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from common import ROOT, machine, portrait_frames, save_result

sys.path.insert(0, str(ROOT / "tests"))
from browser import Chromium  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def chromium_cpu(pid: int) -> float:
    """CPU seconds of Chromium and every process under it, from /proc (they are not our children)."""
    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            todo += [int(c) for t in Path(f"/proc/{p}/task").iterdir()
                     for c in (t / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total


def session(clip: Path, tmp: Path, control: bool, browser: Chromium | None) -> dict:
    stats = tmp / "stats.json"
    cmd = [sys.executable, "-m", "vmatte", "live", "--source", str(clip), "--realtime", "--sink", str(tmp / "o.mp4"),
           "--background", "blur:20", "--stats-json", str(stats), "-q"]
    err = tmp / "err.txt"
    before = children_cpu()
    with open(err, "w") as e:
        proc = subprocess.Popen(cmd + (["--control", "127.0.0.1:0"] if control else []), stderr=e, cwd=ROOT)
        page, b0 = None, 0.0
        if control:
            while not (m := re.search(r"Browser Source (\S+)", err.read_text())):
                assert proc.poll() is None, err.read_text()
                time.sleep(0.05)
            b0 = chromium_cpu(browser.proc.pid)
            page = browser.open(m[1])
        proc.wait()
    cpu = children_cpu() - before
    s = json.loads(stats.read_text())
    row = {"fps": round(s["fps"], 2), "frames_out": s["frames_out"], "dropped": s["frames_dropped"],
           "sink_p95_ms": s["latency_ms"]["p95"], "cpu_ms_per_frame": round(cpu / max(1, s["frames_out"]) * 1000, 2)}
    if control:
        row.update(browser_p95_ms=s["browser_ms"]["p95"], browser_p50_ms=s["browser_ms"]["p50"],
                   drawn=s["browser_frames"], chromium_cpu_ms_per_frame=round(
                       (chromium_cpu(browser.proc.pid) - b0) / max(1, s["frames_out"]) * 1000, 2))
        page.call("Page.navigate", url="about:blank")
    return row


def startup(clip: Path, tmp: Path) -> dict:
    """Seconds from launch to the end of a one-frame session: the first with no measurement kept, then again."""
    from vmatte.cache import cache_dir

    for p in (cache_dir() / "engines").glob("probe-*"):
        p.unlink()
    out = {}
    for name in ("first", "second"):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vmatte", "live", "--source", str(clip), "--realtime", "--sink",
                        str(tmp / "s.mp4"), "--max-frames", "1", "-q"], check=True, cwd=ROOT)
        out[f"{name}_start_s"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    from samples.make_sample import write_clip

    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sizes", default="640x480,1280x720")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    results = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        browser = Chromium(tmp / "chromium")
        try:
            for size in a.sizes.split(","):
                w, h = map(int, size.split("x"))
                clip = tmp / f"{size}.mp4"
                write_clip(clip, portrait_frames(round(a.seconds * 30), w, h), fps=Fraction(30), audio=False,
                           timecode=None)
                results[size] = startup(clip, tmp)  # also keeps the automatic ratio's measurement for the runs
                print(f"{size}: start {results[size]['first_start_s']} s measuring, "
                      f"{results[size]['second_start_s']} s with the kept measurement")
                runs = {"plain": [], "page": []}
                for i in range(a.repeats):
                    for name in ("plain", "page"):
                        r = session(clip, tmp, name == "page", browser)
                        runs[name].append(r)
                        print(f"  run {i + 1} {name:5} {r}")
                results[size]["runs"] = runs
                med = {k: {f: float(np.median([r[f] for r in v])) for f in v[0]} for k, v in runs.items()}
                results[size]["median"] = med
                print(f"  {size}: fps {med['plain']['fps']:.1f} -> {med['page']['fps']:.1f}, dropped "
                      f"{med['plain']['dropped']:.0f} -> {med['page']['dropped']:.0f}, vmatte CPU per frame "
                      f"{med['plain']['cpu_ms_per_frame']:.1f} -> {med['page']['cpu_ms_per_frame']:.1f} ms "
                      f"(+{100 * (med['page']['cpu_ms_per_frame'] / med['plain']['cpu_ms_per_frame'] - 1):.0f}%), "
                      f"p95 capture to sink {med['page']['sink_p95_ms']:.0f} ms, to the page's draw "
                      f"{med['page']['browser_p95_ms']:.0f} ms; Chromium "
                      f"{med['page']['chromium_cpu_ms_per_frame']:.1f} ms CPU per frame")
        finally:
            browser.close()
    save_result("control-cpu", {"clip": f"the demo portrait, 30 fps, {a.seconds:g} s, played in real time, blur:20, "
                                "auto ratio, H.264 file sink", "sizes": results}, a.out)


if __name__ == "__main__":
    main()
