"""The pixel conversions at either end of the pipeline, old way against new, in one run on this machine.

Decode: a frame to the engine's [1,3,H,W] float tensor, through swscale's rgb24 (what a CPU engine
does) against its YUV planes converted by vmatte.colour (what a CUDA engine does, here on the CPU).
Encode: a [1,C,H,W] float picture to the frame an encoder takes, packed 16-bit or 8-bit RGB(A) and
swscale (before issue 13) against the encoder's own planes from pixels.to_planes (now), for ProRes
4444 and for H.264. Median ms over repeated calls.

    python benchmarks/colour_paths.py [--sizes 640x360,1280x720,1920x1080] [--repeats 30]
"""
from __future__ import annotations

import argparse
import time
from fractions import Fraction

import numpy as np
import torch

from common import machine, portrait_frames, save_result


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1000, 2)


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
    return {"size": size,
            "decode_swscale_rgb24_ms": median_ms(
                lambda: to_tensor(frame.to_ndarray(format="rgb24"), cpu, torch.float32), repeats),
            "decode_planes_colour_ms": median_ms(lambda: to_tensor(image, cpu, torch.float32), repeats),
            "prores_packed_swscale_ms": median_ms(lambda: to_frame(to_array(rgba, 16), prores, 0, tb), repeats),
            "prores_planes_ms": median_ms(lambda: to_frame(to_planes(rgba, prores.planes), prores, 0, tb), repeats),
            "h264_packed_swscale_ms": median_ms(lambda: to_frame(to_array(picture, 8), h264, 0, tb), repeats),
            "h264_planes_ms": median_ms(lambda: to_frame(to_planes(picture, h264.planes), h264, 0, tb), repeats)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}")
    rows = []
    for size in a.sizes.split(","):
        row = measure(size, a.repeats)
        rows.append(row)
        print(f"  {size}: decode to a float tensor: swscale rgb24 {row['decode_swscale_rgb24_ms']} ms, planes "
              f"{row['decode_planes_colour_ms']} ms | to ProRes 4444's frame: packed + swscale "
              f"{row['prores_packed_swscale_ms']} ms, planes {row['prores_planes_ms']} ms | to H.264's frame: "
              f"packed + swscale {row['h264_packed_swscale_ms']} ms, planes {row['h264_planes_ms']} ms")
    save_result("colour-paths-cpu", {"repeats": a.repeats, "rows": rows}, a.out)


if __name__ == "__main__":
    main()
