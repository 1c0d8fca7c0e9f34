"""The live driver: camera (or a file played live) -> engine -> compositor -> one sink, frame-accurate.

Every output frame is composited with the alpha computed from that same frame. A capture thread
feeds a jitter buffer: when the network falls behind a live source, the oldest waiting frame is
dropped (and counted) rather than letting latency grow. Latency runs from capture (or the moment a
file played in real time was due) to the hand-off to the sink, which runs on its own thread.
"""
from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .colour import YuvImage
from .control import Controls, Settings
from .control.look import Look
from .errors import VmatteError, log
from .io.atomic import check_writable, guard_paths, write_atomically
from .io.frames import check_size
from .io.sinks import Sink, VirtualCameraSink, open_sink
from .io.sources import open_source
from .memory import tune_allocator
from .options import LiveOptions, MattingOptions, is_url
from .optionspec import reject_unknown
from .stats import LiveStats, Samples, percentiles
from .threads import END, JitterBuffer, Worker, offer
from .weights import resolve_device

STATUS_EVERY = 5.0  # seconds between status lines on stderr


def live(source: str = "0", sink: str = "virtual", **options: Any) -> LiveStats:
    """Run until the source ends, max_frames are captured, or Ctrl-C (which ends the session normally:
    a recording is kept). Every option of `vmatte.options.MattingOptions` and `LiveOptions` is taken by
    name and checked first; background defaults to blur:20, and 'transparent' needs a .mov/.webm sink."""
    reject_unknown(options, MattingOptions, LiveOptions)
    matting = MattingOptions.pick({"background": "blur:20", **options})
    opts = LiveOptions.pick({**options, "source": source, "sink": sink})
    if matting.effort == "best":
        raise VmatteError("--effort best reads a file's later frames; live is causal: use --effort fast or default")
    if opts.stats_json is not None:
        check_writable(Path(opts.stats_json))
    files = {} if opts.sink in ("virtual", "preview") or ":" in opts.sink.split("/")[0] else {"--sink": opts.sink}
    backdrop = matting.background if matting.background and Path(matting.background).is_file() else None
    guard_paths([None if is_url(opts.source) else opts.source, backdrop],
                {**files, **({"--stats-json": opts.stats_json} if opts.stats_json else {})})
    src = open_source(opts.source, fps=opts.fps, width=opts.width, height=opts.height, realtime=opts.realtime,
                      camera=True, stream=opts.stream, device=resolve_device(matting.device))
    try:
        check_size(src.info, opts.max_pixels)
        transparent = matting.background == "transparent"
        out = open_sink(opts.sink, "rgba" if transparent else "rgb", src.info, live=True,
                        keyframe_seconds=opts.keyframe_seconds)
        server = None
        try:
            controls = Controls(Settings(matting.background, opts.mirror, matting.downsample_ratio), transparent)
            if opts.control is not None:  # bound now: a port in use is said before the model loads
                from .control.server import ControlServer

                host, _, port = opts.control.rpartition(":")
                server = ControlServer(controls, host.strip("[]"), int(port), (src.info.width, src.info.height))
                if not server.loopback:
                    log.warning(f"--control {opts.control}: anyone on the network who has the printed URL can "
                                "watch the camera and change the session; its token is the only key")
            tune_allocator()  # frame-sized blocks stay in the heap (vmatte/memory.py)
            stats = _Session(src, out, matting, opts, controls, server).run()
            out.close()
        except BaseException:
            out.abort()  # a failure, or Ctrl-C before the session started or while closing: nothing is kept
            raise
        finally:
            if server is not None:
                server.close()
    finally:
        src.close()
    if opts.stats_json is not None:
        text = json.dumps(asdict(stats), indent=2) + "\n"
        write_atomically(Path(opts.stats_json), lambda tmp: tmp.write_text(text))
    return stats


REPEAT = object()  # in the hand-off queue: send the last frame again (the camera is away)


def _placeholder(width: int, height: int) -> np.ndarray:
    import cv2

    img = np.full((height, width, 3), 32, np.uint8)
    cv2.putText(img, "camera reconnecting...", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (220, 220, 220), 2)
    return img


class _Session:
    """One live run: the model, the capture and sink threads, the loop, and the figures."""

    def __init__(self, src, sink: Sink, matting: MattingOptions, opts: LiveOptions, controls: Controls,
                 server: Any = None) -> None:
        from .compose import EdgeControls
        from .engine import Matter, resolve_ratio
        from .engine.probe import keep_up_ratio
        from .weights import load_model

        self.src, self.sink, self.opts, self.controls, self.server = src, sink, opts, controls, server
        self.applied = controls.version
        self.look = Look(controls.current(), controls.alpha_sink, matting.background_fit,
                         (src.info.width, src.info.height))
        self.edges = EdgeControls(matting.matte_choke, matting.feather, matting.despill)
        model = load_model(matting.model, matting.weights, matting.device, matting.precision)
        w, h, fps = src.info.width, src.info.height, float(src.info.fps)
        if matting.downsample_ratio == "auto" and src.live:
            weights = Path(matting.weights).stat() if matting.weights else None
            look = {"model": matting.model, "precision": matting.precision, "device": matting.device,
                    "weights": [matting.weights, weights.st_size, weights.st_mtime] if weights else None,
                    "background": matting.background, "fit": matting.background_fit,
                    "edges": [matting.matte_choke, matting.feather, matting.despill], "sink": type(sink).__name__}
            self.matter = keep_up_ratio(model, matting.backend, w, h, fps, matting.subject,
                                         lambda m: self._sink_pixels(self.look.picture(m)), opts.quiet, cache_key=look,
                                         effort=matting.effort)
        else:
            self.matter = Matter(model, resolve_ratio(matting.downsample_ratio, w, h, matting.subject, matting.effort),
                                 matting.backend)
            self.matter.prepare(w, h)
        self.look.start(self.matter)
        # What runs once runs now, before capture, so the first frame costs what the hundredth does: the
        # network at this size (a graph capture, cuDNN's tuning), the edge controls, the compositor (its
        # kernels, a background's first render) and the conversion to the sink's pixels.
        warm = self.matter(np.zeros((h, w, 3), np.uint8))
        self._sink_pixels(self.look.picture(self.edges.apply(warm) if self.edges else warm))
        self.matter.reset()
        self.scene_cuts = matting.scene_cuts == "reset"
        self.stats = LiveStats()
        self.latencies, self.sink_times = Samples(), Samples()
        self.first_capture: float | None = None  # when the first frame handed to the sink was captured
        self.first_second: list[float] = []  # latencies of the frames captured within 1 s of it
        self.stages = {k: Samples() for k in ("buffer", "network", "compose", "handoff")}

    def _sink_pixels(self, t):
        """The picture as the sink's pixels (pixels.for_sink: its encoder's planes, or an RGB array)."""
        import torch

        from .pixels import for_sink

        with torch.inference_mode():
            return for_sink(t, self.sink)

    def _deliver(self, handoff: queue.Queue) -> None:
        """The sink's own thread: the conversion to the sink's pixels and its encoding overlap the next
        frame's network step (sink_ms counts both)."""
        while (item := handoff.get()) is not END:
            if item is REPEAT:  # the camera is away: the last frame again, in its place after every newer one
                info = self.src.info
                self.sink.write(self.last if self.last is not None else _placeholder(info.width, info.height), 0)
                continue
            picture, pts, captured, queued = item
            t0 = time.perf_counter()
            self.latencies.add(t0 - captured)
            if self.first_capture is None:
                self.first_capture = captured
            if captured - self.first_capture < 1.0:
                self.first_second.append(t0 - captured)
            self.stages["handoff"].add(t0 - queued)
            out = self._sink_pixels(picture)
            self.sink.write(out, pts)
            self.sink_times.add(time.perf_counter() - t0)
            self.stats.frames_out += 1
            self.last = out if isinstance(out, np.ndarray) and out.shape[2:] == (3,) else None
            if not self.src.live and hasattr(self.sink, "pace"):
                self.sink.pace()

    def _capture(self, buffer: JitterBuffer, stop: threading.Event) -> None:
        try:
            for f in self.src.frames(stop):
                if self.controls.current().mirror:
                    f.image = f.image.mirrored() if isinstance(f.image, YuvImage) else \
                        np.ascontiguousarray(f.image[:, ::-1])
                self.stats.frames_in += 1
                buffer.put(f, stop)
                if self.opts.max_frames is not None and self.stats.frames_in >= self.opts.max_frames:
                    break
        finally:
            buffer.put(END, stop)

    def _frames(self, buffer: JitterBuffer, stop: threading.Event):
        info = self.src.info
        while not stop.is_set():
            item = buffer.get(timeout=max(0.05, 2.0 / float(info.fps)))
            if item is END:
                return
            if item is None:  # the camera is away: keep the virtual camera fed, through the sink's own thread
                if isinstance(self.sink, VirtualCameraSink):  # (written from here, a repeat could land after
                    with contextlib.suppress(queue.Full):    # a newer frame still in the hand-off queue)
                        self.handoff.put_nowait(REPEAT)
                continue
            self.picked = time.perf_counter()
            version, settings = self.controls.frame_started()
            if version != self.applied:  # a change from the control page: from this frame on
                self.shots.matter = self.look.apply(settings, self.shots.matter)
                self.applied = version
            if settings.paused:  # held: the sink gets the last picture again, in this frame's time
                if self.last_picture is not None:
                    offer(self.handoff, (self.last_picture, item.pts, item.captured, self.picked), stop)
                continue
            self.stages["buffer"].add(self.picked - item.captured)
            yield item

    def _figures(self) -> dict[str, Any]:
        """What the control page shows: frames, fps, recent latency, drops, the process's CPU share (of
        every core), the engine and the ratio in use, the picture size."""
        import os

        now, cpu, m = time.perf_counter(), time.process_time(), self.shots.matter
        t0, c0 = self._cpu_mark
        self._cpu_mark = (now, cpu)
        cores = os.cpu_count() or 1
        return {"frames_out": self.stats.frames_out, "fps": self.stats.frames_out / max(now - self.start, 1e-9),
                "latency_ms": percentiles(list(self.latencies.recent)), "frames_dropped": self.buffer.dropped,
                "cpu_share": (cpu - c0) / max(now - t0, 1e-9) / cores, "cores": cores,
                "engine": f"{m.backend} on {m.device} ({str(m.dtype).replace('torch.', '')})",
                "ratio": f"{m.ratio:g}" + (f" on frames scaled by {m.scale:g}" if m.scale != 1 else ""),
                "width": self.src.info.width, "height": self.src.info.height}

    def run(self) -> LiveStats:
        import torch

        from .compose import render
        from .shots import ShotMatter

        shots = ShotMatter(self.matter, warmup=0, scene_cuts=self.scene_cuts)  # live cannot look ahead
        self.shots, self.last_picture = shots, None
        stop = threading.Event()
        buffer = JitterBuffer(self.src.live)
        handoff: queue.Queue = queue.Queue(maxsize=2)
        self.handoff = handoff
        self.last: np.ndarray | None = None
        grabber = Worker(lambda: self._capture(buffer, stop), "vmatte-capture")
        sender = Worker(lambda: self._deliver(handoff), "vmatte-sink")
        start = time.perf_counter()
        next_status = start + STATUS_EVERY
        if self.server is not None:
            self.buffer, self.start, self._cpu_mark = buffer, start, (start, time.process_time())
            self.server.figures = self._figures
            self.server.start()
            w, h = self.src.info.width, self.src.info.height
            print(f"vmatte live: control page {self.server.url()}\nvmatte live: OBS Browser Source "
                  f"{self.server.url('output')} (width {w}, height {h})", file=sys.stderr, flush=True)
        grabber.start()
        sender.start()
        try:
            with torch.inference_mode():
                for f, m, _ in shots.run(self._frames(buffer, stop)):
                    t_net = time.perf_counter()
                    self.stages["network"].add(t_net - self.picked)
                    m = self.edges.apply(m) if self.edges else m
                    out = self.last_picture = self.look.picture(m, f.index)
                    if self.server is not None:  # only references: the server converts on its own thread
                        self.server.publish(f.index, out, lambda m=m: render("rgba", m, None, 0), f.captured)
                    queued = time.perf_counter()
                    self.stages["compose"].add(queued - t_net)
                    if not offer(handoff, (out, f.pts, f.captured, queued), stop, sender) or \
                            getattr(self.sink, "closed", False):
                        break
                    now = time.perf_counter()
                    if not self.opts.quiet and now >= next_status:
                        self.stats.frames_dropped = buffer.dropped
                        print(self.stats.status(now - start, self.latencies), file=sys.stderr)
                        next_status = now + STATUS_EVERY
        except KeyboardInterrupt:
            self.stats.interrupted = True  # Ctrl-C is how a live session ends: finish below as usual
        finally:
            stop.set()
            grabber.join(timeout=5)
            if sender.is_alive():
                handoff.put(END)
                sender.join()
        for w in (sender, grabber):
            if w.error is not None and not isinstance(w.error, KeyboardInterrupt):
                raise w.error
        elapsed = time.perf_counter() - start
        s = self.stats
        s.frames_dropped = buffer.dropped
        s.fps = s.frames_out / elapsed if elapsed > 0 else 0.0
        if self.latencies:
            s.latency_ms, s.sink_ms = percentiles(self.latencies), percentiles(self.sink_times)
            s.first_second_ms, s.first_second_frames = percentiles(self.first_second), len(self.first_second)
            s.stage_ms_p50 = {k: v.median_ms() for k, v in self.stages.items() if v}
        if self.server is not None and self.server.browser:
            s.browser_ms, s.browser_frames = percentiles(self.server.browser), len(self.server.browser)
        if not self.opts.quiet:
            print(s.status(elapsed, self.latencies), file=sys.stderr)
        return s
