"""The README's picture: one frame of `make demo`'s outputs, side by side (source, alpha, composite).

    python samples/make_picture.py OUT_DIR docs/img/demo.jpg [--frame 45] [--width 960]

OUT_DIR holds what `make demo` wrote: sample.mov (the source), sample_rgba.mov (ProRes 4444 with
alpha) and sample_blur.mp4 (the composite over a blurred background). Frames are read back with PyAV,
so the picture shows what an editor's tools get from the files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from PIL import Image


def frame(path: Path, index: int, fmt: str) -> np.ndarray:
    """Frame `index` of the file's first video stream, as an HxWxC uint8 array in `fmt` (rgb24, rgba)."""
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format=fmt)
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("picture", type=Path)
    ap.add_argument("--frame", type=int, default=45)
    ap.add_argument("--width", type=int, default=960, help="the picture's width in pixels")
    a = ap.parse_args()
    src = frame(a.out_dir / "sample.mov", a.frame, "rgb24")
    alpha = frame(a.out_dir / "sample_rgba.mov", a.frame, "rgba")[..., 3]
    comp = frame(a.out_dir / "sample_blur.mp4", a.frame, "rgb24")
    gap = np.full((src.shape[0], 8, 3), 255, np.uint8)
    row = np.concatenate([src, gap, np.repeat(alpha[..., None], 3, 2), gap, comp], axis=1)
    img = Image.fromarray(row)
    img = img.resize((a.width, round(img.height * a.width / img.width)), Image.LANCZOS)
    a.picture.parent.mkdir(parents=True, exist_ok=True)
    img.save(a.picture, quality=85, optimize=True)
    print(f"wrote {a.picture} ({a.picture.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
