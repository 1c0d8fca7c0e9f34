"""The live driver: camera (or a file played live) -> engine -> compositor -> one sink, frame-accurate.

Every output frame is composited with the alpha computed from that same frame. A capture thread
feeds a one-frame slot: when the network falls behind a live source, the older waiting frame is
dropped (and counted) rather than letting latency grow. Latency runs from capture (or the source
timestamp) to the hand-off to the sink.
"""
from __future__ import annotations

import json
import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .batch import precision_dtype, resolve_ratio
from .compose import EdgeControls, parse_background, render
from .engine import Matter, auto_downsample_ratio
from .errors import VmatteError
from .io.atomic import temp_path_for, write_atomically
from .io.frames import SourceInfo
from .io.live_sinks import FileSink, PreviewSink, UdpSink, VirtualCameraSink
from .io.live_sources import LiveFrame, open_live_source
from .pipeline import Worker, offer
from .pixels import to_array
from .shots import ShotMatter
from .weights import DEFAULT_MODEL, load_model, resolve_device


@dataclass
class LiveStats:
    """frames_in captured, frames_out handed to the sink, frames_dropped, fps out; latency_ms from capture
    to the hand-off to the sink, sink_ms the sink's own time per frame (its encode or copy), both in ms.
    stage_ms_p50 splits the latency: the wait in the buffer, the network step, compositing and download,
    and the wait for the sink thread."""

    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    fps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=lambda: {"p50": 0.0, "p95": 0.0, "max": 0.0})
    sink_ms: dict[str, float] = field(default_factory=lambda: {"p50": 0.0, "p95": 0.0, "max": 0.0})
    stage_ms_p50: dict[str, float] = field(default_factory=dict)


class _Slot:
    """Hands frames from the capture thread to the loop. Live: holds at most `depth` frames (a
    one-frame jitter buffer by default) and drops the oldest, counted, when a newer one arrives.
    Not live: blocks, so no frame is ever lost."""

    def __init__(self, live: bool, depth: int = 2) -> None:
        self.live, self.depth = live, depth
        self.cond = threading.Condition()
        self.items: list[LiveFrame | None] = []  # None marks the end of the source
        self.dropped = 0

    def put(self, item: LiveFrame | None, stop: threading.Event) -> None:
        with self.cond:
            if self.live and len(self.items) >= self.depth and self.items[0] is not None and item is not None:
                self.items.pop(0)
                self.dropped += 1
            while not self.live and len(self.items) >= 2 and not stop.is_set():
                self.cond.wait(0.1)
            self.items.append(item)
            self.cond.notify_all()

    def get(self, timeout: float) -> LiveFrame | None | bool:
        """The next frame, None at the end, False on timeout."""
        with self.cond:
            if not self.items:
                self.cond.wait(timeout)
            if not self.items:
                return False
            item = self.items.pop(0)
            self.cond.notify_all()
            return item


def open_sink(spec: str, width: int, height: int, fps: float, time_base: Fraction, alpha: bool,
              vcam_backend: str | None = None):
    """'virtual', 'udp://HOST:PORT', 'preview', or a file path."""
    if spec == "virtual" or spec.startswith("virtual:"):
        device = spec.split(":", 1)[1] if ":" in spec else None
        return VirtualCameraSink(width, height, fps, device, vcam_backend)
    if spec.startswith("udp://"):
        return UdpSink(spec, width, height, fps, time_base)
    if spec == "preview":
        return PreviewSink()
    info = SourceInfo(Path(spec), width, height, Fraction(fps).limit_denominator(1001), time_base)
    return FileSink(spec, info, alpha)


def live(source: str, sink: str, background: str | None = "blur:20", realtime: bool = False,
         width: int | None = None, height: int | None = None, fps: float | None = None, mirror: bool = False,
         stats_json: str | Path | None = None, max_frames: int | None = None, device: str = "auto",
         downsample_ratio: str | float = "auto", subject: str = "portrait", precision: str = "auto",
         weights: str | Path | None = None, model: str = DEFAULT_MODEL, scene_cuts: str = "reset",
         matte_choke: float = 0.0, feather: float = 0.0, despill: float = 0.0, backend: str = "auto",
         background_fit: str = "fill", status_every: float = 5.0,
         quiet: bool = False, vcam_backend: str | None = None, camera_opener=None) -> LiveStats:
    """Run the live loop until the source ends, max_frames are captured, or Ctrl-C. Sizes in pixels, fps in
    frames per second. background: blur[:sigma], colour, image, video, or 'transparent' (alpha sinks)."""
    if camera_opener is not None:  # a stand-in capture device (tests)
        from .io.live_sources import CameraSource, parse_camera

        src = CameraSource(parse_camera(source), width, height, fps, opener=camera_opener)
    else:
        src = open_live_source(source, width, height, fps, realtime)
    try:
        return _run(src, sink, background, mirror, stats_json, max_frames, device, downsample_ratio, subject,
                    precision, weights, model, scene_cuts, EdgeControls(matte_choke, feather, despill),
                    backend, background_fit, status_every, quiet, vcam_backend)
    finally:
        src.close()


def _run(src, sink_spec, background, mirror, stats_json, max_frames, device, downsample_ratio, subject,
         precision, weights, model_name, scene_cuts, edges, backend, background_fit, status_every, quiet,
         vcam_backend) -> LiveStats:
    if stats_json is not None:
        temp_path_for(Path(stats_json)).unlink()  # fail now if it cannot be written
    dev = resolve_device(device)
    transparent = background == "transparent"
    bg = None if transparent else parse_background(background or "blur:20", background_fit)
    role = "rgba" if transparent else "composite"
    sink = open_sink(sink_spec, src.width, src.height, src.fps, src.time_base, transparent, vcam_backend)
    if transparent and not getattr(sink, "alpha", False):
        sink.close()
        raise VmatteError("a transparent background needs a sink that carries alpha: a .mov or .webm file")
    net = load_model(model_name, weights, device=str(dev), dtype=precision_dtype(precision, dev))
    info = SourceInfo(Path("live"), src.width, src.height, Fraction(src.fps).limit_denominator(1001), src.time_base)
    if downsample_ratio in ("auto", None) and src.live:
        matter = keep_up_ratio(net, backend, src.width, src.height, src.fps, subject,
                               lambda m: to_array(render(role, m, bg, 0), 8), quiet)
    else:
        matter = Matter(net, resolve_ratio(downsample_ratio, info, subject), backend)
        matter.prepare(src.width, src.height)
    shots = ShotMatter(matter, warmup=0, scene_cuts=scene_cuts == "reset", lookahead=False)
    stop = threading.Event()
    slot = _Slot(src.live)
    stats = LiveStats()
    latencies: list[float] = []
    sink_times: list[float] = []
    stage_times: dict[str, list[float]] = {"buffer": [], "network": [], "compose": [], "handoff": []}
    picked = 0.0
    last: np.ndarray | None = None
    handoff: queue.Queue = queue.Queue(maxsize=2)

    def deliver() -> None:
        """The sink's own thread, so encoding overlaps the next frame's network step."""
        nonlocal last
        while (item := handoff.get()) is not None:
            out, pts, captured, queued = item
            t0 = time.perf_counter()
            latencies.append(t0 - captured)
            stage_times["handoff"].append(t0 - queued)
            sink.send(out, pts)
            sink_times.append(time.perf_counter() - t0)
            stats.frames_out += 1
            last = out if out.shape[2] == 3 else None
            if not src.live and hasattr(sink, "pace"):
                sink.pace()

    def capture() -> None:
        try:
            for f in src.frames(stop):
                if mirror:
                    f.image = np.ascontiguousarray(f.image[:, ::-1])
                stats.frames_in += 1
                slot.put(f, stop)
                if max_frames is not None and stats.frames_in >= max_frames:
                    break
        finally:
            slot.put(None, stop)

    def frames():
        nonlocal picked
        while not stop.is_set():
            item = slot.get(timeout=max(0.05, 2.0 / src.fps))
            if item is None:
                return
            if item is False:  # the camera is away: keep the virtual camera fed
                if isinstance(sink, VirtualCameraSink):
                    sink.send(last if last is not None else _placeholder(src.width, src.height), 0)
                continue
            picked = time.perf_counter()
            stage_times["buffer"].append(picked - item.captured)
            yield item

    grabber = threading.Thread(target=capture, name="vmatte-capture", daemon=True)
    sender = Worker(deliver, "vmatte-sink")
    start = time.perf_counter()
    next_status = start + status_every
    grabber.start()
    sender.start()
    try:
        with torch.inference_mode():
            for f, m, _ in shots.run(frames()):
                t_net = time.perf_counter()
                stage_times["network"].append(t_net - picked)
                if edges:
                    m = edges.apply(m)
                out = to_array(render(role, m, bg, f.index), 8)
                if out.shape[:2] != (src.height, src.width):  # the source changed size mid-stream
                    import cv2

                    out = cv2.resize(out, (src.width, src.height), interpolation=cv2.INTER_AREA)
                queued = time.perf_counter()
                stage_times["compose"].append(queued - t_net)
                if not offer(handoff, (out, f.pts, f.captured, queued), stop, sender) or getattr(sink, "closed", False):
                    break
                now = time.perf_counter()
                if not quiet and now >= next_status:
                    _status(stats, slot, latencies, now - start)
                    next_status = now + status_every
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live session ends: close everything below as usual
    finally:
        stop.set()
        grabber.join(timeout=5)
        if sender.is_alive():
            handoff.put(None)
            sender.join()
        sink.close()
    if sender.error is not None:
        raise sender.error
    elapsed = time.perf_counter() - start
    stats.frames_dropped = slot.dropped
    stats.fps = stats.frames_out / elapsed if elapsed > 0 else 0.0
    if latencies:
        stats.latency_ms, stats.sink_ms = _percentiles(latencies), _percentiles(sink_times)
        stats.stage_ms_p50 = {k: round(float(np.median(v)) * 1000, 2) for k, v in stage_times.items() if v}
    if stats_json is not None:
        text = json.dumps(asdict(stats), indent=2) + "\n"
        write_atomically(Path(stats_json), lambda tmp: tmp.write_text(text))
    if not quiet:
        _status(stats, slot, latencies, elapsed)
    return stats


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "max": round(float(ms.max()), 2)}


def keep_up_ratio(net, backend: str, width: int, height: int, fps: float, subject: str, finish,
                  quiet: bool = False, headroom: float = 0.6, min_side: int = 96) -> Matter:
    """A Matter at the best quality whose step (network + `finish`, the compositing) takes at most
    `headroom` of the frame interval on this machine, measured now on a test picture.

    It tries downsample ratios from RVM's guidance down to an internal short side of `min_side`
    pixels; then the same at half the frame size (Matter's `scale`), where the full-size refiner is
    what does not keep up."""
    y, x = np.mgrid[:height, :width]
    probe = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x ^ y) & 255], -1)
    probe = probe.astype(np.uint8)
    budget = headroom / fps
    guide = auto_downsample_ratio(width, height, subject)
    tries = []
    for scale in (1.0, 0.5):
        side = min(width, height) * scale
        floor = min(1.0, min_side / side)
        top = min(1.0, guide / scale)
        tries += [(scale, r) for r in sorted({top, floor} | {r for r in (0.5, 0.375, 0.25, 0.2) if floor < r < top},
                                             reverse=True)]
    fastest: tuple[float, float, float, Matter] | None = None
    for scale, r in tries:
        matter = Matter(net, r, backend, scale)
        matter.prepare(width, height)
        times = []
        for _ in range(6):
            t0 = time.perf_counter()
            finish(matter(probe))
            times.append(time.perf_counter() - t0)
        step = float(np.median(times[1:]))
        if fastest is None or step < fastest[0]:
            fastest = (step, scale, r, matter)
        if step <= budget:
            break
    step, scale, r, matter = fastest
    if not quiet and (scale, r) != tries[0]:
        keeps = "keeps up with" if step <= budget else "is the fastest found; it may not keep up with"
        at = "" if scale == 1.0 else f" on frames scaled by {scale:g}"
        print(f"vmatte live: downsample ratio {r:.3g}{at} ({step * 1000:.0f} ms a frame) {keeps} "
              f"{fps:.3g} fps here (RVM's guidance: {guide:.3g}); pass --downsample-ratio to choose",
              file=sys.stderr)
    matter.reset()
    return matter


def _placeholder(width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 32, np.uint8)
    import cv2

    cv2.putText(img, "camera reconnecting...", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (220, 220, 220), 2)
    return img


def _status(stats: LiveStats, slot: _Slot, latencies: list[float], elapsed: float) -> None:
    recent = _percentiles(latencies[-100:] or [0.0])
    print(f"vmatte live: {stats.frames_out} frames, {stats.frames_out / max(elapsed, 1e-9):.1f} fps, "
          f"{slot.dropped} dropped, latency p50 {recent['p50']:.0f} ms "
          f"p95 {recent['p95']:.0f} ms", file=sys.stderr)
