"""The pixel conversions at either end of the pipeline, old way against new, in one run on this machine.

Decode: a frame to the engine's [1,3,H,W] float tensor, through swscale's rgb24 (what a CPU engine
does) against its YUV planes converted by vmatte.colour (what a CUDA engine does, here on the CPU).
Encode: a [1,C,H,W] float picture to the frame an encoder takes, packed 16-bit or 8-bit RGB(A) and
swscale (before issue 13) against the encoder's own planes from pixels.to_planes (now), for ProRes
4444 and for H.264. Median ms over repeated calls, the six taken in turn.

    python benchmarks/colour_paths.py [--sizes 640x360,1280x720,1920x1080] [--repeats 30]
    python benchmarks/colour_paths.py --baseline-tree WORKTREE [--rounds 2]   (this checkout's conversions
        against another's: whole runs, alternating, into colour-paths-before-after-cpu-DATE.json)
"""
from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from common import machine, portrait_frames, save_result


def race(fns: dict, repeats: int) -> dict[str, float]:
    """Median ms of each function, called in turn (one of each per round, after one warm-up round), so
    the machine's drift and glibc's page faults on fresh buffers fall on all of them alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats + 1):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if r:
                times[k].append(time.perf_counter() - t0)
    return {k: round(float(np.median(v)) * 1000, 2) for k, v in times.items()}


def measure(size: str, repeats: int) -> dict:
    """One size's figures (see the module's docstring)."""
    import av

    from vmatte.io import planar
    from vmatte.io.encoding import _h264, prores_4444, to_frame
    from vmatte.pixels import to_array, to_planes, to_tensor

    cpu, tb = torch.device("cpu"), Fraction(1, 30)
    w, h = map(int, size.split("x"))
    rgb = portrait_frames(1, w, h)[0]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    image = planar.yuv_image(frame, "left")
    picture = to_tensor(rgb, cpu, torch.float32)
    rgba = torch.cat([picture, picture[:, :1]], 1)
    prores, h264 = prores_4444("aw"), _h264(18, live=True)
    return {"size": size, **race({
        "decode_swscale_rgb24_ms": lambda: to_tensor(frame.to_ndarray(format="rgb24"), cpu, torch.float32),
        "decode_planes_colour_ms": lambda: to_tensor(image, cpu, torch.float32),
        "prores_packed_swscale_ms": lambda: to_frame(to_array(rgba, 16), prores, 0, tb),
        "prores_planes_ms": lambda: to_frame(to_planes(rgba, prores.planes), prores, 0, tb),
        "h264_packed_swscale_ms": lambda: to_frame(to_array(picture, 8), h264, 0, tb),
        "h264_planes_ms": lambda: to_frame(to_planes(picture, h264.planes), h264, 0, tb)}, repeats)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    ap.add_argument("--baseline-tree", help="another checkout of vmatte: run this benchmark on it and here")
    ap.add_argument("--rounds", type=int, default=2, help="with --baseline-tree: alternating runs of each")
    a = ap.parse_args()
    if a.baseline_tree:
        return before_after(Path(a.baseline_tree), a)
    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}")
    rows = []
    for size in a.sizes.split(","):
        row = measure(size, a.repeats)
        rows.append(row)
        print(f"  {size}: decode to a float tensor: swscale rgb24 {row['decode_swscale_rgb24_ms']} ms, planes "
              f"{row['decode_planes_colour_ms']} ms | to ProRes 4444's frame: packed + swscale "
              f"{row['prores_packed_swscale_ms']} ms, planes {row['prores_planes_ms']} ms | to H.264's frame: "
              f"packed + swscale {row['h264_packed_swscale_ms']} ms, planes {row['h264_planes_ms']} ms")
    import vmatte

    save_result("colour-paths-cpu", {"repeats": a.repeats, "vmatte": vmatte.__file__, "rows": rows}, a.out)


def before_after(tree: Path, a: argparse.Namespace) -> None:
    """This benchmark run whole with `tree`'s vmatte and with this checkout's, alternating."""
    import json
    import os
    import subprocess
    import sys
    import tempfile

    from common import ROOT

    print(f"machine: {machine()}; baseline tree {tree}")
    runs: dict[str, list[list[dict]]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(a.rounds):
            for name, t in (("baseline", tree), ("this", ROOT)):
                out = Path(d) / f"{name}{i}"
                subprocess.run([sys.executable, __file__, "--sizes", a.sizes, "--repeats", str(a.repeats),
                                "--out", str(out)], env={**os.environ, "VMATTE_TREE": str(t)}, check=True,
                               capture_output=True)
                data = json.loads(next(out.glob("*.json")).read_text())
                assert data["vmatte"] == str(t / "vmatte" / "__init__.py"), data["vmatte"]  # the tree asked for
                rows = data["rows"]
                runs[name].append(rows)
                print(f"  run {i + 1} {name:8} " + "; ".join(
                    f"{r['size']} H.264 planes {r['h264_planes_ms']} ms, ProRes planes {r['prores_planes_ms']} ms"
                    for r in rows))
    save_result("colour-paths-before-after-cpu", {"baseline_tree": str(tree), "repeats": a.repeats,
                                                  "runs": runs}, a.out)


if __name__ == "__main__":
    main()
