"""CPU frames per second of the network: vmatte's torch model against the official export in ONNX Runtime.

Both run in this process, one after the other, on the same frames with the recurrent state carried.
ONNX Runtime's spinning threads are turned off so they do not steal time from the torch runs.
Usage: python benchmarks/model_cpu.py [--frames 15]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import machine, portrait_frames, save_result

CASES = [("720p", 1280, 720, 0.375), ("1080p", 1920, 1080, 0.25)]


def bench_torch(model, frames, ratio: float, channels_last: bool = False) -> float:
    state = [None] * 4
    xs = [torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        xs = [x.contiguous(memory_format=torch.channels_last) for x in xs]
    with torch.inference_mode():
        for x in xs[:3]:
            model(x, *state, downsample_ratio=ratio)
        t0 = time.perf_counter()
        for x in xs:
            _, _, *state = model(x, *state, downsample_ratio=ratio)
        dt = time.perf_counter() - t0
    model.to(memory_format=torch.contiguous_format)
    return len(xs) / dt


def bench_ort(sess, frames, ratio: float) -> float:
    rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    xs = [(f.astype(np.float32) / 255).transpose(2, 0, 1)[None].copy() for f in frames]
    r = np.array([ratio], np.float32)

    def step(x, rec):
        return sess.run(None, {"src": x, "r1i": rec[0], "r2i": rec[1], "r3i": rec[2], "r4i": rec[3],
                               "downsample_ratio": r})[2:]

    for x in xs[:3]:
        step(x, rec)
    t0 = time.perf_counter()
    for x in xs:
        rec = step(x, rec)
    return len(xs) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    import onnxruntime as ort

    import vmatte
    from vmatte.weights import reference_onnx

    model = vmatte.load_model(device="cpu").network
    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(reference_onnx()), so, providers=["CPUExecutionProvider"])
    print(f"machine: {machine()}")
    print(f"{'input':8} {'ratio':>6} {'vmatte torch':>13} {'torch ch_last':>14} {'onnxruntime':>12} {'torch/ort':>10}")
    rows = []
    for name, w, h, ratio in CASES:
        frames = portrait_frames(a.frames, w, h)
        t = bench_torch(model, frames, ratio)
        tc = bench_torch(model, frames, ratio, channels_last=True)
        o = bench_ort(sess, frames, ratio)
        print(f"{name:8} {ratio:6.3f} {t:9.2f} fps {tc:10.2f} fps {o:8.2f} fps {max(t, tc) / o:9.2f}x")
        rows.append({"size": name, "ratio": ratio, "torch_fps": round(t, 2), "torch_channels_last_fps": round(tc, 2),
                     "onnxruntime_fps": round(o, 2)})
    save_result("cpu-model", {"frames": a.frames, "rows": rows}, a.out)


if __name__ == "__main__":
    main()
