"""Soak: `vmatte live` on a long file played in real time (320x240, 30 fps, CPU) for --minutes N.

Every minute it records the live process's resident memory (VmRSS), and from its status lines
(one every 5 s) the frames out, the frames dropped and the p95 latency of that minute. It prints a
table and the memory slope, and writes JSON to benchmarks/results/.

    python benchmarks/soak.py [--minutes 20] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from common import ROOT, machine, save_result

STATUS = re.compile(r"vmatte live: (\d+) frames, [\d.]+ fps, (\d+) dropped, latency p50 (\d+) ms p95 (\d+) ms")


def long_clip(path: Path, seconds: float, width: int = 320, height: int = 240, fps: int = 30) -> None:
    """A person-like figure moving over a textured background, `seconds` long, without holding it in memory."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import person_frames
    from samples.make_sample import write_clip

    loop = person_frames(150, width, height)
    loop += loop[::-1]  # there and back: no jump at the seam, no false cut
    write_clip(path, (loop[i % len(loop)] for i in range(round(seconds * fps))), fps=Fraction(fps), audio=False,
               timecode=None, options={"preset": "ultrafast", "crf": "23"})


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text)[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "soak.mp4"
        t0 = time.perf_counter()
        long_clip(clip, a.minutes * 60 + 10)
        print(f"clip: 320x240 30 fps, {a.minutes * 60 + 10:.0f} s, made in {time.perf_counter() - t0:.0f} s")
        cmd = [sys.executable, "-m", "vmatte", "live", "--source", str(clip), "--realtime", "--sink",
               str(Path(d) / "rec.mkv"), "--device", "cpu", "--background", "blur:20",
               "--max-frames", str(round(a.minutes * 60 * 30)), "--stats-json", str(Path(d) / "stats.json")]
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        lines: list[tuple[float, tuple[int, ...]]] = []

        def read() -> None:
            for line in proc.stderr:
                m = STATUS.search(line)
                if m:
                    lines.append((time.perf_counter(), tuple(map(int, m.groups()))))
                elif line.strip():
                    print(f"  {line.strip()}")

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        start = time.perf_counter()
        rows, minute = [], 1
        print(f"{'minute':>6} {'RSS MB':>8} {'frames':>7} {'dropped':>8} {'p95 ms':>7}")
        while proc.poll() is None:
            time.sleep(1)
            if time.perf_counter() - start < minute * 60 or proc.poll() is not None:
                continue
            mem = rss_mb(proc.pid)
            lo, hi = start + (minute - 1) * 60, start + minute * 60
            inside = [v for t, v in lines if lo <= t < hi]
            before = [v for t, v in lines if t < lo]
            frames0, dropped0 = (before[-1][0], before[-1][1]) if before else (0, 0)
            frames1, dropped1 = (inside[-1][0], inside[-1][1]) if inside else (frames0, dropped0)
            p95 = max((v[3] for v in inside), default=0)
            rows.append({"minute": minute, "rss_mb": round(mem, 1), "frames_out": frames1 - frames0,
                         "dropped": dropped1 - dropped0, "p95_ms_max_of_status_lines": p95})
            print(f"{minute:6d} {mem:8.1f} {frames1 - frames0:7d} {dropped1 - dropped0:8d} {p95:7d}")
            minute += 1
        reader.join(timeout=5)
        stats = json.loads((Path(d) / "stats.json").read_text()) if (Path(d) / "stats.json").exists() else {}
    slope = float(np.polyfit([r["minute"] for r in rows], [r["rss_mb"] for r in rows], 1)[0]) if len(rows) > 1 else 0
    result = {"minutes": a.minutes,
              "setup": "320x240 30 fps file played in real time, blur:20, CPU, file sink", "per_minute": rows,
              "rss_slope_mb_per_minute": round(slope, 3), "final_stats": stats, "exit_code": proc.returncode}
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    key = "p95_ms_max_of_status_lines"
    print(f"memory slope {slope:+.3f} MB/minute; p95 first minute {first.get(key)} ms, last minute {last.get(key)} ms;"
          f" dropped {sum(r['dropped'] for r in rows)} of {sum(r['frames_out'] + r['dropped'] for r in rows)};"
          f" exit {proc.returncode}")
    save_result("soak-cpu", result, a.out)


if __name__ == "__main__":
    main()
