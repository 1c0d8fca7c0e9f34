"""A live session: the capture and sink threads, the network's loop, the control page's hand-over, the
figures. `vmatte.live()` (realtime.py) checks the options and opens what it runs on.

Every output frame is composited with the alpha computed from that same frame. A capture thread
feeds a jitter buffer: when the network falls behind a live source, the oldest waiting frame is
dropped (and counted) rather than letting latency grow. Latency runs from capture (or the moment a
file played in real time was due) to the hand-off to the sink, which runs on its own thread.

Threads: the caller's (the network, compositing, the control page's settings applied between frames),
`vmatte-capture`, `vmatte-sink`, and the control server's. Everything they share is declared in
`LiveSession.__init__`; the running Matter is swapped only under `switch`, the one guarded hand-over.
"""
from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .colour import YuvImage
from .control import Controls, Settings
from .control.look import Look
from .errors import live_log
from .io.sinks import Sink, VirtualCameraSink
from .options import LiveOptions
from .recipe import Recipe
from .stats import LiveStats, Samples, percentiles
from .threads import END, JitterBuffer, Worker, offer

STATUS_EVERY = 5.0  # seconds between status lines on stderr

REPEAT = object()  # in the hand-off queue: send the last frame again (the camera is away)


def _placeholder(width: int, height: int) -> np.ndarray:
    import cv2

    img = np.full((height, width, 3), 32, np.uint8)
    cv2.putText(img, "camera reconnecting...", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (220, 220, 220), 2)
    return img


class LiveSession:
    """One live run of `recipe` from `src` (an opened io.sources source) to `sink`: the network, the
    capture and sink threads, the loop, and the figures. `run()` runs it once."""

    def __init__(self, src, sink: Sink, recipe: Recipe, opts: LiveOptions, controls: Controls,
                 server: Any = None) -> None:
        from .shots import SettledShots

        matting = recipe.matting
        self.src, self.sink, self.opts, self.controls, self.server = src, sink, opts, controls, server
        self.applied = controls.version
        self.look = Look(controls.current(), controls.alpha_sink, matting.background_fit,
                         (src.info.width, src.info.height), recipe.matter)
        self.edges = recipe.edges()
        w, h, fps = src.info.width, src.info.height, float(src.info.fps)
        weights = Path(matting.weights).stat() if matting.weights else None
        look = {"model": matting.model, "precision": matting.precision, "device": matting.device,
                "weights": [matting.weights, weights.st_size, weights.st_mtime] if weights else None,
                "background": recipe.background_spec, "fit": matting.background_fit,
                "edges": [matting.matte_choke, matting.feather, matting.despill], "sink": type(sink).__name__}
        matter = recipe.live_matter(w, h, fps, src.live, lambda m: self._sink_pixels(self.look.picture(m)),
                                    opts.quiet, look)
        self.look.start(matter)
        # What runs once runs now, before capture, so the first frame costs what the hundredth does: the
        # network at this size (a graph capture, cuDNN's tuning), the edge controls, the compositor (its
        # kernels, a background's first render) and the conversion to the sink's pixels.
        warm = matter(np.zeros((h, w, 3), np.uint8))
        self._sink_pixels(self.look.picture(self.edges.apply(warm) if self.edges else warm))
        matter.reset()
        # Live cannot look ahead: no settling, only a reset at a hard cut.
        self.shots = SettledShots(matter, warmup=0, scene_cuts=matting.scene_cuts == "reset")
        self.switching = threading.Lock()  # guards self.shots.matter: swapped by `switch`, read by `figures`
        self.stats = LiveStats()
        self.latencies, self.sink_times = Samples(), Samples()
        self.first_capture: float | None = None  # when the first frame handed to the sink was captured
        self.first_second: list[float] = []  # latencies of the frames captured within 1 s of it
        self.stages = {k: Samples() for k in ("buffer", "network", "compose", "handoff")}
        # Shared between the threads while `run` runs:
        self.stop = threading.Event()  # set: every thread ends
        self.buffer = JitterBuffer(src.live)  # capture -> network; counts the frames it drops
        self.handoff: queue.Queue = queue.Queue(maxsize=2)  # network -> sink thread
        self.picked = 0.0  # when the network's thread took the frame in hand (perf_counter seconds)
        self.last_picture: Any = None  # the last picture made (a pause sends it again)
        self.last: np.ndarray | None = None  # the last RGB frame the sink got (sent again while the camera is away)
        self.start = time.perf_counter()  # reset when the loop starts
        self._cpu_mark = (self.start, time.process_time())

    def switch(self, settings: Settings) -> None:
        """Take new settings from the control page, between two frames: the look changes, and a new
        ratio gives a fresh Matter from this frame on. The one place the running Matter is swapped."""
        with self.switching:
            self.shots.matter = self.look.apply(settings, self.shots.matter)

    def _sink_pixels(self, t):
        """The picture as the sink's pixels (pixels.for_sink: its encoder's planes, or an RGB array)."""
        import torch

        from .pixels import for_sink

        with torch.inference_mode():
            return for_sink(t, self.sink)

    def _deliver(self) -> None:
        """The sink's own thread: the conversion to the sink's pixels and its encoding overlap the next
        frame's network step (sink_ms counts both)."""
        while (item := self.handoff.get()) is not END:
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

    def _capture(self) -> None:
        buffer, stop = self.buffer, self.stop
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

    def _frames(self):
        info, buffer, stop = self.src.info, self.buffer, self.stop
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
                self.switch(settings)
                self.applied = version
            if settings.paused:  # held: the sink gets the last picture again, in this frame's time
                if self.last_picture is not None:
                    offer(self.handoff, (self.last_picture, item.pts, item.captured, self.picked), stop)
                continue
            self.stages["buffer"].add(self.picked - item.captured)
            yield item

    def figures(self) -> dict[str, Any]:
        """What the control page shows: frames, fps, recent latency, drops, the process's CPU share (of
        every core), the engine and the ratio in use, the picture size."""
        with self.switching:
            m = self.shots.matter
        now, cpu = time.perf_counter(), time.process_time()
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

        shots, stop, buffer, handoff = self.shots, self.stop, self.buffer, self.handoff
        grabber = Worker(self._capture, "vmatte-capture")
        sender = Worker(self._deliver, "vmatte-sink")
        start = self.start = time.perf_counter()
        self._cpu_mark = (start, time.process_time())
        next_status = start + STATUS_EVERY
        if self.server is not None:
            self.server.figures = self.figures
            self.server.start()
            w, h = self.src.info.width, self.src.info.height
            # The pages' addresses are the session's output, not a message: shown even with -q.
            print(f"vmatte live: control page {self.server.url()}\nvmatte live: OBS Browser Source "
                  f"{self.server.url('output')} (width {w}, height {h})", file=sys.stderr, flush=True)
        grabber.start()
        sender.start()
        try:
            with torch.inference_mode():
                for f, m, _ in shots.run(self._frames()):
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
                        live_log.warning(self.stats.status(now - start, self.latencies))
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
            live_log.warning(s.status(elapsed, self.latencies))
        return s
