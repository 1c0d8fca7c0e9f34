"""TensorRT for RTX on this machine (no GPU needed): build time and engine size per target, and what fp16
costs in accuracy (our fp16 export against fp32, both in ONNX Runtime, on real frames).

    python benchmarks/tensorrt_build.py [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from common import MEDIA, machine, save_result

SIZES = ((1280, 720, 0.375), (1920, 1080, 0.25))
TARGETS = (("sm86",), ("sm89",), ("sm120",), ("sm86", "sm89", "sm120"))


def build_figures(network) -> list[dict]:
    from vmatte.engine import tensorrt as t
    from vmatte.engine.onnx_export import export_onnx

    lib = t.library()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for w, h, ratio in SIZES:
            for precision in ("fp32", "fp16"):
                net = network.half() if precision == "fp16" else network.float()
                t0 = time.perf_counter()
                onnx_path = export_onnx(net, ratio, (1, 3, h, w), Path(d) / f"{w}-{precision}.onnx",
                                        precision=precision)
                export_s = time.perf_counter() - t0
                for targets in TARGETS:
                    plan = Path(d) / f"{w}-{precision}-{'+'.join(targets)}.plan"
                    t0 = time.perf_counter()
                    t.build_engine(lib, onnx_path, plan, targets)
                    row = {"size": f"{w}x{h}", "ratio": ratio, "precision": precision, "targets": list(targets),
                           "export_s": round(export_s, 2), "build_s": round(time.perf_counter() - t0, 2),
                           "engine_mb": round(plan.stat().st_size / 1e6, 2)}
                    rows.append(row)
                    print(f"  {row['size']} @{ratio} {precision} {'+'.join(targets):16} export {row['export_s']:5.2f} s"
                          f"  build {row['build_s']:5.2f} s  engine {row['engine_mb']:6.2f} MB")
    return rows


def fp16_figures(network, n: int = 30) -> dict:
    """Mean and max |alpha fp16 - alpha fp32| per frame over a real clip, ratio 0.5 at 512x288."""
    import av
    import onnxruntime as ort

    from vmatte.engine.onnx_export import INPUTS, OUTPUTS, export_onnx

    clip = MEDIA / "videos" / "intel_asl_sister.mkv"
    if not clip.exists():
        print(f"  fp16 accuracy: skipped, {clip} not present")
        return {}
    w, h, ratio = 512, 288, 0.5
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="rgb24", width=w, height=h) for _, f in zip(range(n), c.decode(video=0))]
    with tempfile.TemporaryDirectory() as d:
        sessions = {p: ort.InferenceSession(str(export_onnx(network.half() if p == "fp16" else network.float(),
                                                               ratio, (1, 3, h, w), Path(d) / f"{p}.onnx",
                                                               precision=p)), providers=["CPUExecutionProvider"])
                    for p in ("fp32", "fp16")}
        state = {p: [np.zeros(i.shape, np.float16 if p == "fp16" else np.float32) for i in s.get_inputs()[1:]]
                 for p, s in sessions.items()}
        mean, worst = [], []
        for f in frames:
            src = (f.astype(np.float32) / 255).transpose(2, 0, 1)[None]
            pha = {}
            for p, s in sessions.items():
                out = s.run(OUTPUTS, dict(zip(INPUTS, [src.astype(np.float16 if p == "fp16" else np.float32),
                                                      *state[p]])))
                pha[p], state[p] = out[1].astype(np.float32), out[2:]
            diff = np.abs(pha["fp16"] - pha["fp32"])
            mean.append(float(diff.mean()))
            worst.append(float(diff.max()))
    row = {"clip": clip.name, "frames": len(frames), "size": f"{w}x{h}", "ratio": ratio,
           "mean_abs_alpha": float(np.mean(mean)), "max_abs_alpha": max(worst)}
    print(f"  fp16 vs fp32 alpha ({clip.name}, {len(frames)} frames, {w}x{h} @{ratio}, ONNX Runtime CPU): "
          f"mean {row['mean_abs_alpha']:.2e}, max {row['max_abs_alpha']:.4f}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    import vmatte
    from vmatte.engine import tensorrt as t

    lib = t.library()
    print(f"machine: {machine()}; {lib.describe()}")
    network = vmatte.load_model(device="cpu").network
    save_result("tensorrt-build-cpu", {"library": lib.describe(), "builds": build_figures(network),
                                       "fp16": fp16_figures(network)}, a.out)


if __name__ == "__main__":
    main()
