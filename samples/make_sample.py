"""Make the demo clip: a public-domain portrait with camera motion, 29.97 fps, AAC audio, a timecode.

The photo is NASA's astronaut portrait (public domain) as shipped in scikit-image's wheel; it is
fetched with `pip download` and checked by sha256, never committed. Usage:

    python samples/make_sample.py OUT.mov [--seconds 3] [--width 1280 --height 720]
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

PHOTO_WHEEL = "scikit-image==0.26.0"
PHOTO_MEMBER = "skimage/data/astronaut.png"
PHOTO_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
NTSC = Fraction(30000, 1001)


def portrait_photo() -> np.ndarray:
    """The astronaut portrait as HxWx3 RGB uint8 (512x512), cached under $VMATTE_HOME/samples."""
    cache = Path(os.environ.get("VMATTE_HOME") or Path.home() / ".cache" / "vmatte") / "samples" / "astronaut.png"
    if not cache.exists() or hashlib.sha256(cache.read_bytes()).hexdigest() != PHOTO_SHA256:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "--disable-pip-version-check", "-d", tmp, PHOTO_WHEEL], check=True)
            wheel = next(Path(tmp).glob("*.whl"))
            data = zipfile.ZipFile(wheel).read(PHOTO_MEMBER)
        if hashlib.sha256(data).hexdigest() != PHOTO_SHA256:
            raise SystemExit(f"{PHOTO_MEMBER} in {PHOTO_WHEEL} has an unexpected sha256; refusing it")
        cache.write_bytes(data)
    return cv2.cvtColor(cv2.imread(str(cache)), cv2.COLOR_BGR2RGB)


def camera_move(photo: np.ndarray, n: int, width: int, height: int) -> Iterable[np.ndarray]:
    """n frames of a slow push-in and pan across `photo`, each width x height pixels."""
    ph, pw = photo.shape[:2]
    for i in range(n):
        t = i / max(1, n - 1)
        zoom = 1.0 + 0.25 * t
        ch = ph / zoom
        cw = min(pw, ch * width / height)
        ch = cw * height / width
        cx = pw / 2 + (pw - cw) / 2 * 0.6 * np.sin(2 * np.pi * t)
        cy = ph / 2 - (ph - ch) / 2 * 0.3 * t
        m = np.array([[width / cw, 0, -(cx - cw / 2) * width / cw],
                      [0, height / ch, -(cy - ch / 2) * height / ch]], np.float32)
        yield cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def write_clip(path: str | Path, frames: Iterable[np.ndarray], fps: Fraction = NTSC, audio: bool = True,
               timecode: str | None = "01:00:00:00", codec: str = "libx264", pix_fmt: str = "yuv420p",
               audio_codec: str = "aac", pts: Iterable[int] | None = None,
               time_base: Fraction | None = None, options: dict[str, str] | None = None,
               container: str | None = None) -> None:
    """Encode RGB uint8 frames (and a 440 Hz tone as long as the video) with PyAV. `frames` may be a
    generator: a long clip is written without holding it in memory. `options` go to the video codec;
    `container` names the format where the extension does not (e.g. 'h264', a raw stream)."""
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    fmt = container or {".webm": "webm", ".mkv": "matroska"}.get(Path(path).suffix, None)
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(codec, rate=fps, options=dict(options or {}))
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        tb = time_base or 1 / fps
        v.codec_context.time_base = tb
        v.time_base = tb
        if timecode:
            v.metadata["timecode"] = timecode
            out.metadata["timecode"] = timecode
        a = None
        if audio:
            a = out.add_stream(audio_codec, rate=48000, layout="stereo")
        stamps: list[int] = []
        for img, p in zip(itertools.chain([first], frames), pts if pts is not None else itertools.count()):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = p, tb
            stamps = [*stamps[-1:], p]  # the last two, for the audio's length
            for pkt in v.encode(f):
                out.mux(pkt)
        for pkt in v.encode(None):
            out.mux(pkt)
        if a is not None:
            seconds = float((stamps[-1] + (stamps[-1] - stamps[-2] if len(stamps) > 1 else 1)) * tb)
            n = int(48000 * seconds)
            t = np.arange(n) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            sig = np.stack([tone, tone])
            for s in range(0, n, 1024):
                chunk = np.ascontiguousarray(sig[:, s:s + 1024])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, s, Fraction(1, 48000)
                for pkt in a.encode(af):
                    out.mux(pkt)
            for pkt in a.encode(None):
                out.mux(pkt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    a = ap.parse_args()
    n = round(a.seconds * float(NTSC))
    write_clip(a.out, camera_move(portrait_photo(), n, a.width, a.height))
    print(f"wrote {a.out}: {n} frames at 29.97 fps, {a.width}x{a.height}, AAC audio, timecode 01:00:00:00")


if __name__ == "__main__":
    main()
