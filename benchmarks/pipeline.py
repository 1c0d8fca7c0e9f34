"""Per-stage and end-to-end speed of `vmatte convert` on CPU, peak memory against clip length, and a
serial baseline (decode -> official export in ONNX Runtime -> ProRes encode, one frame at a time).

All figures come from this one run on this machine. Usage:
    python benchmarks/pipeline.py [--frames 60] [--width 1280 --height 720] [--encoder aw]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from common import ROOT, machine, portrait_frames, save_result


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:7.2f} fps  ({1000 * seconds / n:6.1f} ms/frame)"


def stage_figures(clip: Path, ratio: float, encoder: str, tmp: Path) -> dict:
    """Each stage alone on the clip; returns frames per second by stage."""
    import vmatte
    from vmatte.compose import render
    from vmatte.engine import Matter
    from vmatte.io.encoding import encoding_for
    from vmatte.io.video_source import VideoFileSource
    from vmatte.io.video_writer import VideoWriter
    from vmatte.pixels import to_array, to_planes

    t0 = time.perf_counter()
    with VideoFileSource(clip) as src:
        frames = list(src.frames())
        info = src.info
    n = len(frames)
    fig = {"decode_fps": round(n / (time.perf_counter() - t0), 1)}
    print(f"  decode (H.264 -> RGB)          {rate(n, time.perf_counter() - t0)}")
    net = vmatte.load_model(device="cpu")
    for backend in ("torch", "onnxruntime"):
        matter = Matter(net, ratio, backend)
        matter.prepare(info.width, info.height)
        t0 = time.perf_counter()
        mattes = [matter(f.image) for f in frames]
        fig[f"network_{backend}_fps"] = round(n / (time.perf_counter() - t0), 2)
        print(f"  network {backend:11} ratio {ratio:.3f} {rate(n, time.perf_counter() - t0)}")
    t0 = time.perf_counter()
    arrays = [to_array(render("rgba", m, None, i), 16) for i, m in enumerate(mattes)]
    fig["compose_packed_fps"] = round(n / (time.perf_counter() - t0), 1)
    print(f"  compose rgba -> packed uint16  {rate(n, time.perf_counter() - t0)}   (PNG)")
    spec = encoding_for(Path("x.mov"), "rgba").planes
    t0 = time.perf_counter()
    planes = [to_planes(render("rgba", m, None, i), spec) for i, m in enumerate(mattes)]
    fig["compose_fps"] = round(n / (time.perf_counter() - t0), 1)
    print(f"  compose rgba -> YUVA planes    {rate(n, time.perf_counter() - t0)}   (ProRes)")
    for enc in ("aw", "ks"):
        w = VideoWriter(tmp / f"stage_{enc}.mov", encoding_for(Path("x.mov"), "rgba", prores_encoder=enc), info,
                        audio=False)
        t0 = time.perf_counter()
        for f, a in zip(frames, planes):
            w.write(a, f.pts)
        w.close()
        fig[f"encode_prores_{enc}_fps"] = round(n / (time.perf_counter() - t0), 1)
        print(f"  encode ProRes 4444 ({enc})       {rate(n, time.perf_counter() - t0)}")
    from vmatte.io.sequences import ImageSequenceWriter

    for workers in (1, None):
        w = ImageSequenceWriter(tmp / f"png{workers}" / "f_%04d.png", "rgba", 16, workers)
        t0 = time.perf_counter()
        for f, a in zip(frames, arrays):
            w.write(a, f.pts)
        w.close()
        label = "1 thread " if workers == 1 else f"{w.workers} threads"
        fig[f"png16_{w.workers}_threads_fps"] = round(n / (time.perf_counter() - t0), 1)
        print(f"  write 16-bit RGBA PNGs, {label}  {rate(n, time.perf_counter() - t0)}")
    return fig


def serial_baseline(clip: Path, ratio: float, encoder: str, out: Path) -> float:
    """The loop vmatte replaces: decode, run the export in ONNX Runtime, encode, one frame at a time."""
    import av
    import onnxruntime as ort

    from vmatte.weights import reference_onnx

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(reference_onnx()), so, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    n = 0
    with av.open(str(clip)) as c, av.open(str(out), "w") as o:
        v = c.streams.video[0]
        s = o.add_stream(f"prores_{encoder}", rate=v.average_rate,
                         options={"profile": "4" if encoder == "aw" else "4444"})
        s.width, s.height, s.pix_fmt = v.width, v.height, "yuva444p10le"
        rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
        for f in c.decode(v):
            src = (f.to_ndarray(format="rgb24").astype(np.float32) / 255).transpose(2, 0, 1)[None]
            fgr, pha, *rec = sess.run(None, {"src": src, "r1i": rec[0], "r2i": rec[1], "r3i": rec[2],
                                             "r4i": rec[3], "downsample_ratio": np.array([ratio], np.float32)})
            rgba = (np.concatenate([fgr, pha], 1)[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")):
                o.mux(p)
            n += 1
        for p in s.encode(None):
            o.mux(p)
    return n / (time.perf_counter() - t0)


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the (large) parent process.
CHILD = """
import json, re, sys, time
import vmatte as vc  # the public API: the same in every tree
t0 = time.perf_counter()
s = vc.convert(sys.argv[1], rgba=sys.argv[2], downsample_ratio=float(sys.argv[3]), prores_encoder=sys.argv[4],
               warmup=int(sys.argv[5]), device="cpu", progress=False)
print(json.dumps({"frames": s.frames, "wall": time.perf_counter() - t0, "fps": s.fps,
                  "stages": vars(s.stages),
                  "peak_mb": int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024}))
"""


def convert_in_child(clip: Path, out: Path, ratio: float, encoder: str, warmup: int = 15,
                     tree: Path = ROOT) -> dict:
    """vmatte convert as a whole process, so peak memory (VmHWM) is its own; `tree` is the checkout
    whose vmatte runs (another one gives a before/after comparison in one run)."""
    res = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(out), str(ratio), encoder, str(warmup)],
                         capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(res.stdout.strip().splitlines()[-1])


def compare_on(clip: Path, encoder: str, out: str | None = None) -> None:
    """Only the whole-process comparison, on a given clip, at the ratio `vmatte convert` picks for it."""
    import av

    from vmatte.engine import auto_downsample_ratio

    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        w, h, rate = s.codec_context.width, s.codec_context.height, s.average_rate
    ratio = auto_downsample_ratio(w, h)
    print(f"clip: {clip.name}, {w}x{h} at {float(rate):.3f} fps, ratio {ratio:.3f}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        convert_in_child(clip, tmp / "warm.mov", ratio, encoder, 0)  # caches the ONNX export first
        base = serial_baseline(clip, ratio, encoder, tmp / "serial.mov")
        r = convert_in_child(clip, tmp / "a.mov", ratio, encoder, 15)
        print(f"  serial loop {base:.2f} fps; vmatte convert (default warm-up) {r['fps']:.2f} fps "
              f"= {r['fps'] / base:.2f}x")
    save_result(f"cpu-clip-{clip.stem}", {"clip": f"{clip.name}, {w}x{h}", "frames": r["frames"], "ratio": ratio,
                                          "serial_fps": round(base, 2), "convert_fps": round(r["fps"], 2)}, out)


def before_after(tree: Path, a: argparse.Namespace) -> None:
    """`vmatte convert` of this checkout against another, alternating whole processes on one clip."""
    from samples.make_sample import write_clip
    from vmatte.engine import auto_downsample_ratio

    ratio = auto_downsample_ratio(a.width, a.height)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clip = tmp / "clip.mp4"
        write_clip(clip, portrait_frames(a.frames, a.width, a.height), audio=False, timecode=None)
        print(f"clip: {a.width}x{a.height} H.264, {a.frames} frames, ratio {ratio:.3f}; ProRes 4444 ({a.encoder}), "
              f"default warm-up; baseline tree {tree}")
        runs: dict[str, list[dict]] = {"baseline": [], "this": []}
        for t in (tree, ROOT):  # caches the ONNX export for both first
            convert_in_child(clip, tmp / "warm.mov", ratio, a.encoder, 0, t)
        for i in range(a.repeats):
            for name, t in (("baseline", tree), ("this", ROOT)):
                r = convert_in_child(clip, tmp / f"{name}.mov", ratio, a.encoder, 15, t)
                runs[name].append(r)
                busy = ", ".join(f"{k} {v / r['frames'] * 1000:.0f}" for k, v in r["stages"].items())
                print(f"  run {i + 1} {name:8} {r['fps']:6.2f} fps, peak {r['peak_mb']:.0f} MB; busy ms/frame: {busy}")
        for name, rs in runs.items():
            fps = [r["fps"] for r in rs]
            print(f"  {name:8} fps median {float(np.median(fps)):.2f} (min {min(fps):.2f}, max {max(fps):.2f}), "
                  f"peak memory median {float(np.median([r['peak_mb'] for r in rs])):.0f} MB")
        this, base = (float(np.median([r["fps"] for r in runs[k]])) for k in ("this", "baseline"))
        print(f"  this / baseline: {this / base:.2f}x")
    save_result("cpu-before-after", {"clip": f"{a.width}x{a.height} H.264, {a.frames} frames -> ProRes 4444",
                                     "baseline_tree": str(tree), "repeats": a.repeats, "this_fps": round(this, 2),
                                     "baseline_fps": round(base, 2), "ratio": round(this / base, 3),
                                     "runs": {k: [round(r["fps"], 2) for r in v] for k, v in runs.items()}}, a.out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--encoder", choices=("aw", "ks"), default="aw")
    ap.add_argument("--clip", help="compare on this clip (e.g. one of ../shared/media) instead of the generated one")
    ap.add_argument("--baseline-tree", help="another checkout of vmatte (e.g. a git worktree of the previous "
                    "commit): its convert runs alternately with this one's, whole process against whole process")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs per tree with --baseline-tree")
    ap.add_argument("--memory", help="comma-separated clip lengths in frames: peak memory of convert on each")
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    from samples.make_sample import write_clip
    from vmatte.engine import auto_downsample_ratio

    print(f"machine: {machine()}")
    if a.memory:
        memory([int(n) for n in a.memory.split(",")], a.width, a.height, a.encoder, a.out)
        return
    if a.baseline_tree:
        before_after(Path(a.baseline_tree), a)
        return
    if a.clip:
        compare_on(Path(a.clip), a.encoder, a.out)
        return
    ratio = auto_downsample_ratio(a.width, a.height)
    result: dict = {"clip": f"{a.width}x{a.height} H.264, {a.frames} frames", "ratio": ratio, "encoder": a.encoder}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        short, long = tmp / "short.mp4", tmp / "long.mp4"
        frames = portrait_frames(a.frames, a.width, a.height)
        write_clip(short, frames, audio=False, timecode=None)
        write_clip(long, frames * 3, audio=False, timecode=None)
        print(f"clip: {a.width}x{a.height} H.264, {a.frames} frames, portrait with camera motion, ratio {ratio:.3f}")
        print("per stage, each alone:")
        result["stages"] = stage_figures(short, ratio, a.encoder, tmp)
        print(f"end to end, whole processes, ProRes 4444 ({a.encoder}):")
        convert_in_child(short, tmp / "warm.mov", ratio, a.encoder, 0)  # caches the ONNX export first
        base = serial_baseline(short, ratio, a.encoder, tmp / "serial.mov")
        result["serial_fps"] = round(base, 2)
        print(f"  serial loop: decode -> official export in ONNX Runtime -> encode   {base:7.2f} fps")
        for warm in (0, 15):
            r1 = convert_in_child(short, tmp / "a.mov", ratio, a.encoder, warm)
            result[f"convert_warmup{warm}_fps"] = round(r1["fps"], 2)
            print(f"  vmatte convert --warmup {warm:<2} (overlapped stages)              {r1['fps']:7.2f} fps  "
                  f"= {r1['fps'] / base:.2f}x the serial loop")
            busy = ", ".join(f"{k} {v / r1['frames'] * 1000:.0f}" for k, v in r1["stages"].items())
            print(f"    busy ms/frame inside convert: {busy}")
            result["busy_ms"] = {k: round(v / r1["frames"] * 1000, 1) for k, v in r1["stages"].items()}
        r3 = convert_in_child(long, tmp / "b.mov", ratio, a.encoder)
        result["peak_mb"] = {str(r1["frames"]): round(r1["peak_mb"]), str(r3["frames"]): round(r3["peak_mb"])}
        print(f"peak memory (VmHWM) of vmatte convert: {r1['frames']} frames {r1['peak_mb']:.0f} MB, "
              f"{r3['frames']} frames {r3['peak_mb']:.0f} MB")
    size = "" if (a.width, a.height) == (1280, 720) else f"-{a.width}x{a.height}"
    save_result(f"cpu-pipeline{size}", result, a.out)


def memory(lengths: list[int], width: int, height: int, encoder: str, out: str | None) -> None:
    """Peak memory (VmHWM) of whole `vmatte convert` processes on clips of each length (frames): flat if
    nothing grows with the clip. The clips loop 60 frames of the portrait, written frame by frame."""
    from samples.make_sample import write_clip
    from vmatte.engine import auto_downsample_ratio

    ratio = auto_downsample_ratio(width, height)
    loop = portrait_frames(60, width, height)
    loop += loop[::-1]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in lengths:
            clip = Path(d) / f"{n}.mp4"
            write_clip(clip, (loop[i % len(loop)] for i in range(n)), fps=Fraction(30), audio=False, timecode=None,
                       options={"preset": "veryfast"})
            r = convert_in_child(clip, Path(d) / "o.mov", ratio, encoder)
            clip.unlink()
            rows.append({"frames": r["frames"], "peak_mb": round(r["peak_mb"]), "fps": round(r["fps"], 2)})
            print(f"  {r['frames']:6d} frames: peak {r['peak_mb']:.0f} MB ({r['fps']:.2f} fps)")
    save_result("cpu-memory", {"clip": f"{width}x{height} H.264 -> ProRes 4444 ({encoder})", "rows": rows}, out)

if __name__ == "__main__":
    main()
