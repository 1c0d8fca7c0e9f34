"""GPU figures for a device call: network per stage, precision, CUDA graphs, batching, end to end.

Prints ms and fps and writes JSON (with the card's name) to --out (default benchmarks/results/).
Prepared to run on the lent H100/H200 (torch there, PyAV carried as a wheel, weights and the demo
photo carried in VMATTE_HOME), e.g.:

    VMATTE_HOME=.gpu-cache PYTHONPATH=.:/tmp/site python3 benchmarks/gpu.py --out $OUT

`--dry-run` runs every path it can on the CPU at tiny sizes, to check the script itself.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from common import ROOT, portrait_frames

SIZES = [("720p", 1280, 720, 0.375), ("1080p", 1920, 1080, 0.25), ("4K", 3840, 2160, 0.125)]


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_it(fn, n: int, dev: torch.device) -> float:
    """Mean seconds per call over n calls, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync(dev)
    return (time.perf_counter() - t0) / n


def network_figures(dev, sizes, n, dtypes, backends, frame) -> list[dict]:
    import vmatte
    from vmatte.engine import make_stepper
    from vmatte.pixels import to_array, to_tensor

    rows = []
    for dtype in dtypes:
        net = vmatte.load_model(device=str(dev), dtype=dtype)
        for name, w, h, ratio in sizes:
            img = np.ascontiguousarray(frame(w, h))
            host = torch.from_numpy(img).pin_memory() if dev.type == "cuda" else torch.from_numpy(img)
            src = to_tensor(img, dev, dtype)
            for backend in backends:
                step = make_stepper(net, ratio, tuple(src.shape), backend)
                t_net = time_it(lambda step=step, src=src: step(src), n, dev)

                def whole(step=step, host=host, dtype=dtype):  # uint8 pixels in, uint8 RGBA out, on the host
                    s = to_tensor(host.numpy(), dev, dtype)
                    fgr, pha = step(s)
                    to_array(torch.cat([fgr, pha], 1), 8)

                t_all = time_it(whole, n, dev)
                row = {"size": name, "ratio": ratio, "dtype": str(dtype).split(".")[-1], "backend": backend,
                       "network_ms": round(t_net * 1000, 3), "with_transfers_ms": round(t_all * 1000, 3),
                       "fps_with_transfers": round(1 / t_all, 1)}
                rows.append(row)
                print(f"  {name:6} {row['dtype']:8} {backend:11} network {row['network_ms']:7.2f} ms   "
                      f"+ transfers/conversions {row['with_transfers_ms']:7.2f} ms  ({row['fps_with_transfers']} fps)")
    return rows


def batched_figures(dev, dtype, backend, n, frame, streams=4) -> dict:
    import vmatte
    from vmatte.engine import BatchMatter

    net = vmatte.load_model(device=str(dev), dtype=dtype)
    img = frame(1920, 1080)
    bm = BatchMatter(net, 0.25, streams, backend)
    t = time_it(lambda: bm([img] * streams), n, dev)
    row = {"size": "1080p", "streams": streams, "batch_ms": round(t * 1000, 3), "fps_total": round(streams / t, 1)}
    print(f"  {streams} streams of 1080p batched ({backend}): {row['batch_ms']:.2f} ms per batch, "
          f"{row['fps_total']} fps in all")
    return row


def precision_figure(dev, frame) -> dict:
    import vmatte
    from vmatte.engine import Matter

    img = frame(1920, 1080)
    a32 = Matter(vmatte.load_model(device=str(dev), dtype=torch.float32), 0.25, "torch")
    a16 = Matter(vmatte.load_model(device=str(dev), dtype=torch.float16), 0.25, "torch")
    diffs = []
    for _ in range(5):
        d = (a32(img).pha - a16(img).pha.float()).abs()
        diffs.append((float(d.mean()), float(d.max())))
    row = {"fp16_vs_fp32_alpha_mean_abs": round(diffs[-1][0], 6), "max_abs": round(diffs[-1][1], 4)}
    print(f"  fp16 vs fp32 alpha, 1080p photo, 5th frame: mean {row['fp16_vs_fp32_alpha_mean_abs']}, "
          f"max {row['max_abs']}")
    return row


def _encode_worker(args) -> float:
    """One single-threaded ProRes 4444 encoder on its own frames; returns its fps."""
    import av

    w, h, n, encoder = args
    rng = np.random.default_rng(0)
    base = (rng.random(((h + 7) // 8, (w + 7) // 8, 3)) * 65535).astype(np.uint16)
    rgb = np.repeat(np.repeat(base, 8, 0), 8, 1)[:h, :w]
    alpha = np.zeros((h, w, 1), np.uint16)
    alpha[h // 4: 3 * h // 4, w // 3: 2 * w // 3] = 65535
    frame = np.ascontiguousarray(np.concatenate([rgb, alpha], 2))
    with tempfile.TemporaryDirectory() as d:
        with av.open(f"{d}/x.mov", "w") as out:
            s = out.add_stream(f"prores_{encoder}", rate=30,
                               options={"profile": "4" if encoder == "aw" else "4444"})
            s.width, s.height, s.pix_fmt = w, h, "yuva444p10le"
            s.thread_count = 1
            t0 = time.perf_counter()
            for i in range(n):
                f = av.VideoFrame.from_ndarray(frame, format="rgba64le")
                f.pts = i
                for p in s.encode(f):
                    out.mux(p)
            for p in s.encode(None):
                out.mux(p)
            return n / (time.perf_counter() - t0)


def encode_ceiling(w: int, h: int, n: int, encoder: str) -> dict:
    procs = os.cpu_count() or 1
    with mp.get_context("spawn").Pool(procs) as pool:
        rates = pool.map(_encode_worker, [(w, h, n, encoder)] * procs)
    row = {"encoder": f"prores_{encoder}", "processes": procs, "fps_total": round(sum(rates), 1)}
    print(f"  ProRes 4444 encode ceiling ({encoder}, {procs} single-thread processes, {w}x{h}): "
          f"{row['fps_total']} fps")
    return row


def end_to_end(dev, w, h, frames, frame) -> dict:
    import vmatte
    from samples.make_sample import write_clip

    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "in.mp4"
        write_clip(clip, [frame(w, h)] * frames, fps=Fraction(30), audio=False, timecode=None)
        t0 = time.perf_counter()
        s = vmatte.convert(clip, rgba=Path(d) / "out.mov", device=str(dev), progress=False)
        wall = time.perf_counter() - t0
    row = {"size": f"{w}x{h}", "frames": s.frames, "fps": round(s.frames / wall, 1),
           "busy_ms_per_frame": {k: round(v / s.frames * 1000, 2) for k, v in vars(s.stages).items()}}
    print(f"  vmatte convert {w}x{h} H.264 -> ProRes 4444: {row['fps']} fps, busy ms/frame {row['busy_ms_per_frame']}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the script, not the GPU")
    a = ap.parse_args()
    dry = a.dry_run
    dev = torch.device("cpu" if dry else "cuda")
    card = "cpu-dry-run" if dry else torch.cuda.get_device_name()
    photo = portrait_frames(1, 512, 512)[0] if not dry else None

    def frame(w, h):
        from samples.make_sample import camera_move, portrait_photo

        return next(iter(camera_move(portrait_photo(), 1, w, h))) if photo is not None else \
            (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)

    sizes = [("tiny", 320, 180, 0.5)] if dry else SIZES
    n = 3 if dry else a.iters
    print(f"device: {card}; torch {torch.__version__}; {os.cpu_count()} CPU cores; {platform.python_version()}")
    result = {"card": card, "torch": torch.__version__, "cpu_cores": os.cpu_count(),
              "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print("network, batch 1 (ms per frame):")
    result["network"] = network_figures(dev, sizes, n, [torch.float32] if dry else [torch.float32, torch.float16],
                                        ["torch"] if dry else ["torch", "cuda-graph"], frame)
    print("batched streams:")
    result["batched"] = batched_figures(dev, torch.float32 if dry else torch.float16,
                                        "torch" if dry else "cuda-graph", max(1, n // 4), frame)
    if not dry:
        print("precision:")
        result["precision"] = precision_figure(dev, frame)
    print("encode ceiling and end to end:")
    w, h = (320, 180) if dry else (1920, 1080)
    result["encode_ceiling"] = encode_ceiling(w, h, 5 if dry else 60, "aw")
    result["end_to_end"] = end_to_end(dev, w, h, 10 if dry else 300, frame)
    result["end_to_end"]["of_ceiling"] = round(result["end_to_end"]["fps"] / result["encode_ceiling"]["fps_total"], 3)
    print(f"  end to end = {result['end_to_end']['of_ceiling']:.2f} of the encode ceiling")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"gpu-{card.replace(' ', '_')}-{result['when'][:10]}.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
