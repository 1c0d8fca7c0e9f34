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


def step_timings(step, img: np.ndarray, dev, dtype, n: int) -> tuple[float, float]:
    """Seconds per call of `step`: the network alone (frame already on the device), and with the
    transfers (uint8 pixels in from host memory, uint8 RGBA back in host memory)."""
    from vmatte.pixels import to_array, to_tensor

    src = to_tensor(img, dev, dtype)
    t_net = time_it(lambda: step(src), n, dev)

    def whole():
        fgr, pha = step(to_tensor(img, dev, dtype))
        to_array(torch.cat([fgr, pha], 1), 8)

    return t_net, time_it(whole, n, dev)


def precision_of(dtype: torch.dtype) -> str:
    return "fp16" if dtype == torch.float16 else "fp32"


def network_figures(dev, sizes, n, dtypes, backends, frame) -> list[dict]:
    import vmatte
    from vmatte.engine import make_stepper

    rows = []
    for dtype in dtypes:
        net = vmatte.load_model(device=str(dev), precision=precision_of(dtype))
        for name, w, h, ratio in sizes:
            img = np.ascontiguousarray(frame(w, h))
            for backend in backends:
                step = make_stepper(net, ratio, (1, 3, h, w), backend)
                t_net, t_all = step_timings(step, img, dev, dtype, n)
                row = {"size": name, "ratio": ratio, "dtype": str(dtype).split(".")[-1], "backend": backend,
                       "network_ms": round(t_net * 1000, 3), "with_transfers_ms": round(t_all * 1000, 3),
                       "fps_with_transfers": round(1 / t_all, 1)}
                rows.append(row)
                print(f"  {name:6} {row['dtype']:8} {backend:11} network {row['network_ms']:7.2f} ms   "
                      f"+ transfers/conversions {row['with_transfers_ms']:7.2f} ms  ({row['fps_with_transfers']} fps)")
    return rows


def batched_figures(dev, dtype, backends, n, frame, streams=4) -> list[dict]:
    """Several 1080p streams through one batched step: the network alone (frames already on the
    GPU) and the whole call (uploads and the per-stream split included)."""
    import vmatte
    from vmatte.engine import BatchMatter, make_stepper
    from vmatte.pixels import to_tensor

    net = vmatte.load_model(device=str(dev), precision=precision_of(dtype))
    img = frame(1920, 1080)
    rows = []
    for backend in backends:
        src = torch.cat([to_tensor(img, dev, dtype)] * streams)
        step = make_stepper(net, 0.25, tuple(src.shape), backend)
        t_net = time_it(lambda step=step, src=src: step(src), n, dev)
        bm = BatchMatter(net, 0.25, streams, backend)
        t = time_it(lambda bm=bm: bm([img] * streams), n, dev)
        row = {"size": "1080p", "streams": streams, "backend": backend, "network_ms": round(t_net * 1000, 3),
               "network_fps_total": round(streams / t_net, 1), "with_uploads_ms": round(t * 1000, 3),
               "fps_total": round(streams / t, 1)}
        rows.append(row)
        print(f"  {streams} streams of 1080p batched ({backend}): network {row['network_ms']:.2f} ms per batch "
              f"({row['network_fps_total']} fps in all); with uploads {row['with_uploads_ms']:.2f} ms "
              f"({row['fps_total']} fps)")
    return rows


def precision_figure(dev, frame) -> dict:
    import vmatte
    from vmatte.engine import Matter

    img = frame(1920, 1080)
    a32 = Matter(vmatte.load_model(device=str(dev), precision="fp32"), 0.25, "torch")
    a16 = Matter(vmatte.load_model(device=str(dev), precision="fp16"), 0.25, "torch")
    diffs = []
    for _ in range(5):
        d = (a32(img).pha - a16(img).pha.float()).abs()
        diffs.append((float(d.mean()), float(d.max())))
    row = {"fp16_vs_fp32_alpha_mean_abs": round(diffs[-1][0], 6), "max_abs": round(diffs[-1][1], 4)}
    print(f"  fp16 vs fp32 alpha, 1080p photo, 5th frame: mean {row['fp16_vs_fp32_alpha_mean_abs']}, "
          f"max {row['max_abs']}")
    return row


def _encode_worker(args) -> float:
    """One single-threaded ProRes 4444 (prores_aw) encoder on the saved frame's planes; returns its fps."""
    import av

    from vmatte.io.encoding import prores_4444, to_frame

    npz, n = args
    with np.load(npz) as z:
        planes = [z[k] for k in sorted(z.files)]
    enc = prores_4444("aw")
    ctx = av.CodecContext.create(enc.codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = planes[0].shape[1], planes[0].shape[0], enc.pix_fmt
    ctx.time_base, ctx.options, ctx.thread_count = Fraction(1, 30), dict(enc.options), 1
    ctx.open()
    t0 = time.perf_counter()
    for i in range(n):
        ctx.encode(to_frame(planes, enc, i, Fraction(1, 30)))
    return n / (time.perf_counter() - t0)


def rgba_frame(dev, dtype, w, h, frame) -> list[np.ndarray]:
    """A real output frame (the photo's predicted foreground and alpha) as the YUVA planes ProRes 4444
    is fed, converted on the device (pixels.to_planes)."""
    import vmatte
    from vmatte.engine import Matter
    from vmatte.io.encoding import prores_4444
    from vmatte.pixels import to_planes

    m = Matter(vmatte.load_model(device=str(dev), precision=precision_of(dtype)), 1 / 4, "torch")
    img = frame(w, h)
    for _ in range(4):
        r = m(img)
    return to_planes(torch.cat([r.fgr, r.pha], 1), prores_4444("aw").planes)


def encode_figures(rgba: list[np.ndarray], n: int) -> dict:
    """ProRes 4444 encode, same frame everywhere: the all-cores ceiling (one single-thread encoder
    process per core, rates summed), one encoder with FFmpeg's frame threads, and vmatte's pool."""
    from vmatte.io.encoding import prores_4444
    from vmatte.io.frames import SourceInfo
    from vmatte.io.video_writer import VideoWriter

    h, w = rgba[0].shape[:2]
    procs = os.cpu_count() or 1
    row: dict = {"size": f"{w}x{h}", "encoder": "prores_aw", "cores": procs}
    with tempfile.TemporaryDirectory() as d:
        npy = f"{d}/frame.npz"
        np.savez(npy, *rgba)
        with mp.get_context("spawn").Pool(procs) as pool:
            rates = pool.map(_encode_worker, [(npy, n)] * procs)
        row["ceiling_fps"] = round(sum(rates), 1)
        print(f"  all-cores ceiling ({procs} single-thread processes): {row['ceiling_fps']} fps")
        info = SourceInfo(Path("x"), w, h, Fraction(30), Fraction(1, 30))
        for label, workers in (("codec_threads_fps", 0), ("pool_fps", procs)):
            frames = n * (1 if workers == 0 else 3)
            writer = VideoWriter(Path(d) / f"w{workers}.mov", prores_4444("aw"), info, audio=False, workers=workers)
            t0 = time.perf_counter()
            for i in range(frames):
                writer.write(rgba, i)
            writer.close()
            row[label] = round(frames / (time.perf_counter() - t0), 1)
            print(f"  VideoWriter, {'one encoder, frame threads' if workers == 0 else f'pool of {workers}'}: "
                  f"{row[label]} fps")
    return row


def end_to_end(dev, w, h, frames, frame) -> dict:
    import vmatte
    from samples.make_sample import write_clip

    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "in.mp4"
        write_clip(clip, portrait_like(frame, w, h, frames), fps=Fraction(30), audio=False, timecode=None)
        t0 = time.perf_counter()
        s = vmatte.convert(clip, rgba=Path(d) / "out.mov", device=str(dev), progress=False)
        wall = time.perf_counter() - t0
    row = {"size": f"{w}x{h}", "frames": s.frames, "fps": round(s.fps, 1), "whole_call_fps": round(s.frames / wall, 1),
           "busy_ms_per_frame": {k: round(v / s.frames * 1000, 2) for k, v in vars(s.stages).items()}}
    print(f"  vmatte convert {w}x{h} H.264 -> ProRes 4444: {row['fps']} fps in the pipeline, "
          f"{row['whole_call_fps']} fps for the whole call (model load, graph capture, settling); "
          f"busy ms/frame {row['busy_ms_per_frame']}")
    return row


def e2e_variants(dev, w, h, frames, frame) -> list[dict]:
    """Where the end-to-end time goes on this host: decode alone, then convert with the encoder pool
    at all cores and 4 fewer, with one encoder, and with a 1 ms GIL switch interval (default 5 ms)."""
    import sys

    import vmatte
    import vmatte.io.video_writer as vw
    from samples.make_sample import write_clip
    from vmatte.io.video_source import VideoFileSource

    encoder_default = vw.default_workers

    rows = []
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "in.mp4"
        write_clip(clip, portrait_like(frame, w, h, frames), fps=Fraction(30), audio=False, timecode=None)
        t0 = time.perf_counter()
        n = sum(1 for _ in VideoFileSource(clip).frames())
        rows.append({"variant": "decode alone (VideoFileSource)", "fps": round(n / (time.perf_counter() - t0), 1)})
        print(f"  {rows[-1]}")
        cores = os.cpu_count() or 1
        fewer = max(1, cores - 4)
        for label, workers, switch in ((f"pool {cores}", cores, None), (f"pool {fewer}", fewer, None),
                                       ("one encoder, FFmpeg frame threads", 0, None),
                                       (f"pool {cores}, switch interval 1 ms", cores, 0.001)):
            vw.default_workers = lambda n=workers: n  # the pool's size (0: one encoder), as a worker sets it
            old = sys.getswitchinterval()
            if switch:
                sys.setswitchinterval(switch)
            try:
                s = vmatte.convert(clip, rgba=Path(d) / "out.mov", device=str(dev), progress=False)
            finally:
                sys.setswitchinterval(old)
                vw.default_workers = encoder_default
            rows.append({"variant": label, "fps": round(s.fps, 1),
                         "busy_ms_per_frame": {k: round(v / s.frames * 1000, 2) for k, v in vars(s.stages).items()}})
            print(f"  {rows[-1]}")
    return rows


def portrait_like(frame, w, h, n) -> list[np.ndarray]:

    return portrait_frames(n, w, h) if frame.real else [frame(w, h)] * n


def live_figures(dev, w, h, seconds, frame) -> list[dict]:
    """A 30 fps clip played in real time through live mode into a file sink; latency to hand-off."""
    from samples.make_sample import write_clip
    from vmatte import live

    rows = []
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "live.mp4"
        write_clip(clip, portrait_like(frame, w, h, round(30 * seconds)), fps=Fraction(30), audio=False,
                   timecode=None)
        for bg in ("blur:20", "green"):
            s = live(str(clip), str(Path(d) / "out.mp4"), background=bg, realtime=True, device=str(dev),
                     downsample_ratio=0.25, quiet=True)
            row = {"size": f"{w}x{h}", "background": bg, "fps": round(s.fps, 1), "frames_in": s.frames_in,
                   "frames_out": s.frames_out, "dropped": s.frames_dropped, "latency_ms": s.latency_ms,
                   "sink_ms": s.sink_ms, "stage_ms_p50": s.stage_ms_p50, "first_second_ms": s.first_second_ms}
            rows.append(row)
            print(f"  live {w}x{h}@30 {bg}: {row['fps']} fps, in {s.frames_in} out {s.frames_out} "
                  f"dropped {s.frames_dropped}, latency ms {s.latency_ms}, sink ms {s.sink_ms}, "
                  f"stages p50 ms {s.stage_ms_p50}")
    return rows


def nvdec_figures(dev, w, h, frames, frame) -> list[dict]:
    """Decode alone, 1080p H.264 to [1,3,H,W] RGB tensors on the device: NVDEC with the planes converted
    on the GPU, against the CPU decoder with swscale's rgb24 and an upload; fps and the CPU seconds the
    process spent per frame (what decoding leaves free for encoders)."""
    from samples.make_sample import write_clip
    from vmatte.io.video_source import VideoFileSource
    from vmatte.pixels import to_tensor

    rows = []
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "in.mp4"
        write_clip(clip, portrait_like(frame, w, h, frames), fps=Fraction(30), audio=False, timecode=None)
        for label, device in (("nvdec_planes", dev), ("cpu_swscale", None)):
            src = VideoFileSource(clip, device=device)
            sync(dev)
            t0, c0, n = time.perf_counter(), time.process_time(), 0
            for f in src.frames():
                to_tensor(f.image, dev, torch.float16)
                n += 1
            sync(dev)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            nvdec = src.nvdec is not None and not src.nvdec.said
            src.close()
            row = {"path": label, "size": f"{w}x{h}", "frames": n, "fps": round(n / wall, 1),
                   "cpu_ms_per_frame": round(cpu / n * 1000, 2), "nvdec_used": nvdec}
            rows.append(row)
            print(f"  {label}: {row['fps']} fps, CPU {row['cpu_ms_per_frame']} ms per frame (NVDEC used: {nvdec})")
    return rows


def step_breakdown(dev, dtype, w, h, n, frame) -> dict:
    """One live step at w x h taken apart, default backend: each part's host ms with a synchronisation
    after it (median over n frames), and the whole step as the live loop runs it (one synchronisation,
    at the end). The parts: the frame's planes to RGB on the device (NVDEC's, or the CPU decoder's
    uploaded from pinned memory), the cut detector, the network step, the blur composite, and its H.264
    planes made and downloaded (which the sink's thread does). Also the network with transfers as the
    goal counts them: planes in, the matte's YUVA planes out."""
    import vmatte
    from samples.make_sample import write_clip
    from vmatte.compose import BlurBackground, render
    from vmatte.engine import Matte, Matter
    from vmatte.io.encoding import PLANAR
    from vmatte.io.video_source import VideoFileSource
    from vmatte.pixels import to_planes, to_tensor
    from vmatte.scenecut import CutDetector

    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "in.mp4"
        write_clip(clip, portrait_like(frame, w, h, n), fps=Fraction(30), audio=False, timecode=None)
        src = VideoFileSource(clip, device=dev, planes=True)
        images = [f.image for f in src.frames()]
        nvdec = src.nvdec is not None and not src.nvdec.said
        src.close()
    m = Matter(vmatte.load_model(device=str(dev), precision=precision_of(dtype)), 0.25, "auto")
    m.prepare(w, h)
    bg, det = BlurBackground(20.0), CutDetector()
    parts: dict[str, list[float]] = {k: [] for k in ("planes_to_rgb", "cut_detector", "network", "composite",
                                                     "h264_planes_down", "whole_step_one_sync", "net_with_transfers")}
    spec, rgba = PLANAR["yuv420p"], PLANAR["yuva444p10le"]

    def timed(key, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        sync(dev)
        parts[key].append(time.perf_counter() - t0)
        return out

    def whole(img, i):
        x = to_tensor(img, dev, dtype)
        det(img)
        f, a = m._stepper(x)(x)
        return render("composite", Matte(x, f, a), bg, i)

    def transfers(img):
        x = to_tensor(img, dev, dtype)
        f, a = m._stepper(x)(x)
        return to_planes(torch.cat([f, a], 1), rgba)

    with torch.inference_mode():
        for i, img in enumerate(images * 2):
            t = timed("planes_to_rgb", to_tensor, img, dev, dtype)
            timed("cut_detector", det, img)
            fgr, pha = timed("network", m._stepper(t), t)
            pic = timed("composite", render, "composite", Matte(t, fgr, pha), bg, i)
            timed("h264_planes_down", to_planes, pic, spec)
            timed("whole_step_one_sync", whole, img, i)
            timed("net_with_transfers", transfers, img)
    row = {"size": f"{w}x{h}", "precision": precision_of(dtype), "backend": m.backend, "nvdec": nvdec,
           "frames": len(parts["network"]),
           "host_ms_p50": {k: round(float(np.median(v[len(v) // 2:])) * 1000, 2) for k, v in parts.items()}}
    print(f"  {row['size']} {row['precision']} {row['backend']}, NVDEC {nvdec}: host ms p50 {row['host_ms_p50']}")
    return row


def compile_figure(dev, dtype, n, frame) -> dict:
    """The opt-in torch-compile backend at 1080p: compile time, the same timings as network_figures,
    and its alpha against the plain CUDA graph, both stepped in lockstep from a reset."""
    import vmatte
    from vmatte.engine import Matter, make_stepper

    img = frame(1920, 1080)
    net = vmatte.load_model(device=str(dev), precision=precision_of(dtype))
    ref, comp = Matter(net, 0.25, "cuda-graph" if dev.type == "cuda" else "torch"), Matter(net, 0.25, "torch-compile")
    t0 = time.perf_counter()
    comp.prepare(1920, 1080)
    first = time.perf_counter() - t0
    ref.reset()
    comp.reset()
    d = max(float((ref(img).pha - comp(img).pha).abs().max()) for _ in range(5))
    step = make_stepper(net, 0.25, (1, 3, 1080, 1920), "torch-compile")
    t_net, t_all = step_timings(step, img, dev, dtype, n)
    row = {"size": "1080p", "compile_s": round(first, 1), "network_ms": round(t_net * 1000, 3),
           "with_transfers_ms": round(t_all * 1000, 3), "max_abs_alpha_vs_graph": round(d, 6)}
    print(f"  torch-compile 1080p: compiling {row['compile_s']} s, then network {row['network_ms']} ms, "
          f"+ transfers/conversions {row['with_transfers_ms']} ms; max |alpha - graph| {d:.2e} over 5 frames")
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--budget", type=float, default=420, help="seconds; later sections are skipped past it")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the script, not the GPU")
    ap.add_argument("--only", help="comma-separated sections to run (default all): network, batched, precision, "
                    "encode, nvdec, end_to_end, steps, live, torch_compile")
    ap.add_argument("--tag", default="", help="added to the JSON's file name")
    a = ap.parse_args()
    t_start = time.perf_counter()
    dry = a.dry_run
    dev = torch.device("cpu" if dry else "cuda")
    card = "cpu-dry-run" if dry else torch.cuda.get_device_name()

    def frame(w, h):
        from samples.make_sample import camera_move, portrait_photo

        return next(iter(camera_move(portrait_photo(), 1, w, h))) if frame.real else \
            (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)

    frame.real = not dry
    sizes = [("tiny", 320, 180, 0.5)] if dry else SIZES
    n = 3 if dry else a.iters
    half = torch.float32 if dry else torch.float16
    print(f"device: {card}; torch {torch.__version__}; {os.cpu_count()} CPU cores; {platform.python_version()}")
    result = {"card": card, "torch": torch.__version__, "cpu_cores": os.cpu_count(),
              "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu-{card.replace(' ', '_')}-{result['when'][:10]}{a.tag}.json"
    only = set(a.only.split(",")) if a.only else None

    def section(key: str, title: str, fn, needs_s: float = 0) -> None:
        """Run one section unless the budget is spent; save the JSON after each, so a cut-off run keeps its figures."""
        left = a.budget - (time.perf_counter() - t_start)
        if only is not None and key not in only:
            return
        if left < needs_s:
            print(f"{title}: skipped, {left:.0f} s of the budget left")
            result.setdefault("skipped", []).append(key)
        else:
            print(f"{title}:")
            t0 = time.perf_counter()
            try:
                result[key] = fn()
            except Exception as e:  # a broken section must not lose the others' figures
                print(f"  FAILED: {type(e).__name__}: {e}")
                result[key] = {"error": f"{type(e).__name__}: {e}"}
            print(f"  ({time.perf_counter() - t0:.0f} s)")
        path.write_text(json.dumps(result, indent=2) + "\n")

    w, h = (320, 180) if dry else (1920, 1080)
    section("network", "network, batch 1 (ms per frame)",
            lambda: network_figures(dev, sizes, n, [torch.float32] if dry else [torch.float32, torch.float16],
                                    ["torch"] if dry else ["torch", "cuda-graph"], frame))
    section("batched", "batched streams",
            lambda: batched_figures(dev, half, ["torch"] if dry else ["cuda-graph", "torch-compile"], max(1, n // 4),
                                    frame))
    if not dry:
        section("precision", "precision", lambda: precision_figure(dev, frame))
    section("encode", "ProRes 4444 encode (one real 16-bit RGBA frame)",
            lambda: encode_figures(rgba_frame(dev, half, w, h, frame), 5 if dry else 40), 60)

    def e2e():
        row = end_to_end(dev, w, h, 10 if dry else 450, frame)
        ceiling = result.get("encode", {}).get("ceiling_fps")
        if ceiling:
            row["of_ceiling"] = round(row["fps"] / ceiling, 3)
            print(f"  end to end = {row['of_ceiling']:.2f} of the all-cores encode ceiling")
        return row

    section("nvdec", "decode alone to device tensors: NVDEC against CPU decode",
            lambda: nvdec_figures(dev, w, h, 10 if dry else 300, frame), 30)
    section("end_to_end", "end to end", e2e, 40)
    if only is not None and "e2e_variants" in only:
        section("e2e_variants", "end to end, variants", lambda: e2e_variants(dev, w, h, 10 if dry else 300, frame))
    section("steps", "one live step taken apart (host ms, synchronised after each part)",
            lambda: step_breakdown(dev, half, w, h, 10 if dry else 120, frame), 30)
    section("live", "live, real-time file source into a file sink",
            lambda: live_figures(dev, w, h, 1 if dry else 10, frame), 40)
    if not dry:
        section("torch_compile", "torch.compile (opt-in backend)", lambda: compile_figure(dev, half, n, frame), 150)
    print(f"wrote {path} ({time.perf_counter() - t_start:.0f} s in all)")


if __name__ == "__main__":
    main()
