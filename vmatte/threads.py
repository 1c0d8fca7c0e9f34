"""Thread plumbing the drivers share: a worker that hands its error back, bounded hand-offs, and the
live jitter buffer that drops the oldest frame rather than letting latency grow."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable

END = object()  # marks the end of a stream of items


class Worker(threading.Thread):
    """A daemon thread running `target`; an exception it raises is kept in `error` for the caller."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as e:  # handed to the main thread, which re-raises it
            self.error = e


def offer(q: queue.Queue, item: object, stop: threading.Event, consumer: Worker | None = None) -> bool:
    """Put `item` on a bounded queue, waiting while it is full; False if `stop` is set or the
    `consumer` thread has died first (then nothing would ever take it)."""
    while not stop.is_set() and (consumer is None or consumer.is_alive()):
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def take(q: queue.Queue, stop: threading.Event, producer: Worker | None = None) -> object:
    """The next item, or END once `stop` is set or the `producer` has died with the queue empty."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set() or (producer is not None and not producer.is_alive() and q.empty()):
                return END


class JitterBuffer:
    """Hands frames from a capture thread to the loop. Live: holds at most `depth` frames and drops the
    oldest, counted in `dropped`, when a newer one arrives. Not live: blocks, so no frame is lost."""

    def __init__(self, live: bool, depth: int = 2) -> None:
        self.live, self.depth = live, depth
        self.cond = threading.Condition()
        self.items: list[object] = []  # END marks the end of the source
        self.dropped = 0

    def put(self, item: object, stop: threading.Event) -> None:
        with self.cond:
            if self.live and len(self.items) >= self.depth and self.items[0] is not END and item is not END:
                self.items.pop(0)
                self.dropped += 1
            while not self.live and len(self.items) >= self.depth and not stop.is_set():
                self.cond.wait(0.1)
            self.items.append(item)
            self.cond.notify_all()

    def get(self, timeout: float) -> object | None:
        """The next frame, END at the end, None on timeout (seconds)."""
        with self.cond:
            if not self.items:
                self.cond.wait(timeout)
            if not self.items:
                return None
            item = self.items.pop(0)
            self.cond.notify_all()
            return item
