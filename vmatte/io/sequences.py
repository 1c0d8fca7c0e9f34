"""Image sequences: a folder of images or a printf pattern such as name_%06d.png."""
from __future__ import annotations

import errno
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import VmatteError
from .atomic import temp_path_for, write_error
from .frames import Closing, Frame, SourceInfo, frames_in_flight

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr"}
PATTERN = re.compile(r"%0?(\d*)d")


def is_pattern(path: str | Path) -> bool:
    """True for printf-style sequence paths (name_%06d.png)."""
    return bool(PATTERN.search(Path(path).name))


def _files(spec: Path) -> list[Path]:
    if spec.is_dir():
        files = sorted(p for p in spec.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))
    else:
        rx = re.compile("^" + PATTERN.sub(r"(\\d+)", re.escape(spec.name)) + "$")
        parent = spec.parent if spec.parent.exists() else None
        if parent is None:
            return []
        found = sorted((int(m.group(1)), p) for p in parent.iterdir() if (m := rx.match(p.name)))
        missing = sorted(set(range(found[0][0], found[-1][0] + 1)) - {n for n, _ in found}) if found else []
        if missing:  # later frames would move earlier, silently
            shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise VmatteError(f"{spec}: frame numbers {shown} are missing between {found[0][0]} and "
                              f"{found[-1][0]}; fill the gap, or give a folder to take the images in name order")
        files = [p for _, p in found]
    return files


def read_image(path: Path) -> np.ndarray:
    """Any image -> HxWx3 RGB, uint8 or uint16 (alpha dropped, gray expanded)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VmatteError(f"{path} is not an image OpenCV can read; check the file")
    if img.dtype not in (np.uint8, np.uint16):
        img = (np.clip(img, 0, 1) * 65535).astype(np.uint16)
    if img.ndim == 2:
        img = img[:, :, None].repeat(3, 2)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def _depth_like(img: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An 8-bit image in a 16-bit sequence (or the other way round), at the sequence's depth."""
    if img.dtype == dtype:
        return img
    if dtype == np.uint16:
        return img.astype(np.uint16) * 257
    return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)


class ImageSequenceSource(Closing):
    """Frames from a folder (sorted by name) or a %0Nd pattern, at `fps` frames per second."""

    live = False

    def __init__(self, spec: str | Path, fps: float | Fraction = 25) -> None:
        self.path = Path(spec)
        self.files = _files(self.path)
        if not self.files:
            raise VmatteError(f"{self.path}: no images found; give a folder of images or a pattern like name_%06d.png")
        first = read_image(self.files[0])
        self._first = first
        rate = Fraction(fps).limit_denominator(1001000)
        bits = 16 if first.dtype == np.uint16 else 8
        self.info = SourceInfo(self.path.name, first.shape[1], first.shape[0], rate, 1 / rate, len(self.files),
                               bits)

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        size = self._first.shape
        for i, f in enumerate(self.files):
            if stop is not None and stop.is_set():
                return
            img = self._first if i == 0 else read_image(f)
            if img.shape[:2] != size[:2]:  # a video is one size: never stretch a frame into another
                raise VmatteError(f"{f.name} is {img.shape[1]}x{img.shape[0]}, but this image sequence is "
                                  f"{size[1]}x{size[0]} ({self.files[0].name}); every frame must be one size")
            yield Frame(_depth_like(img, self._first.dtype), i, self.info.time_base, i, time.perf_counter())


class ImageSequenceWriter:
    """Writes numbered PNGs (from 0) into a hidden folder; `close()` moves them into place.

    `path` is a pattern (out/name_%06d.png) or a folder (out/ -> out/frame_%06d.png). PNG compression
    runs on a pool of threads (OpenCV releases the GIL), at most two frames per core in flight.
    """

    def __init__(self, path: str | Path, layout: str, bits: int = 8, workers: int | None = None,
                 start: int = 0) -> None:
        """start: the number of the first frame written (a segment of a longer sequence)."""
        path = Path(path)
        if not is_pattern(path):
            path = path / "frame_%06d.png"
        if path.suffix.lower() != ".png":
            raise VmatteError(f"{path}: image sequences are written as PNG; use a name like name_%06d.png")
        self.pattern, self.layout, self.bits = path, layout, bits
        self.folder = path.parent
        if not self.folder.exists():
            try:
                self.folder.mkdir(parents=True)
            except OSError as e:
                raise VmatteError(f"cannot create {self.folder}: {e.strerror}; pick a writable folder") from None
        self.tmp = temp_path_for(self.folder / path.stem.replace("%", "_"), folder=True)
        self.count, self.start = 0, start
        self.workers = workers or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vmatte-png")
        self.inflight: deque[Future] = deque()
        self.most = 2 * self.workers

    def _save(self, image: np.ndarray, file: Path) -> None:
        if self.layout == "rgba":
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
        elif self.layout == "rgb":
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        try:
            if not ok:
                raise OSError(errno.EIO, "PNG encoding failed")
            file.write_bytes(data.tobytes())
        except OSError as e:
            raise write_error(self.pattern, e) from None

    def write(self, image: np.ndarray, pts: int) -> None:
        """Queue one HxWxC array (layout and depth as `self.layout`, `self.bits`) as the next frame."""
        if not self.inflight and self.count == 0:
            h, w = image.shape[:2]
            self.most = frames_in_flight(w, h, image.nbytes // max(1, w * h), self.most)
        while len(self.inflight) >= self.most:
            self.inflight.popleft().result()  # re-raises a failed write here
        self.inflight.append(self.pool.submit(self._save, image,
                                              self.tmp / (self.pattern.name % (self.start + self.count))))
        self.count += 1

    def close(self) -> None:
        """Check every frame is written, move them into place, and remove frames of the same pattern left
        by an earlier, longer run (they would follow the new frames as if they belonged to them)."""
        while self.inflight:
            self.inflight.popleft().result()
        self.pool.shutdown()
        names = {self.pattern.name % i for i in range(self.start, self.start + self.count)}
        if {p.name for p in self.tmp.iterdir()} != names:
            raise VmatteError(f"{self.pattern}: {len(list(self.tmp.iterdir()))} of {self.count} frames were "
                              "written; nothing was moved into place")
        rx = re.compile("^" + PATTERN.sub(r"\\d+", re.escape(self.pattern.name)) + "$")
        stale = [p for p in self.folder.iterdir() if rx.match(p.name) and p.name not in names]
        for name in sorted(names):
            (self.tmp / name).replace(self.folder / name)
        for p in stale:
            p.unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def adopt(self, folder: Path) -> None:
        """Take the frames another writer of this pattern put into `folder` (a segment's), as if written
        here; close() checks that the numbers run on without a gap."""
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):  # a temporary left by a killed attempt
                continue
            p.replace(self.tmp / p.name)
            self.count += 1

    def abort(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
