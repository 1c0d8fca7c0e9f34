"""Where tasks run: local worker processes (the standard library's process pool) or Ray actors. Same
tasks, same results. Each worker loads the engine once and keeps it for every task it gets. A worker
that dies mid-task (killed, out of memory, a lost node) has its task run again, up to RETRIES times.

`run(feed, progress, done)` runs the tasks the feed gives until it is closed and empty; it calls
progress(label, frames) as workers report (frames < 0: that task starts again), and done(task, result or
exception) once for every task.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import VmatteError, log
from ..options import MattingOptions
from . import worker
from .worker import Task

RETRIES = 3
Progress = Callable[[str, int], None]
Done = Callable[[Task, object], None]


def give_up(task: Task, tries: Counter, why: str) -> VmatteError | None:
    """None to run the task again, or the error once it has died RETRIES + 1 times."""
    tries[task.label] += 1
    if tries[task.label] > RETRIES:
        return VmatteError(f"{task.label}: its worker died {tries[task.label]} times ({why}); check memory and logs")
    log.info(f"{task.label}: its worker died ({why}); running it again")
    return None


class Feed:
    """Tasks as the planner makes them: put() and close() on its side, take() on the executor's."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.closed = threading.Event()

    def put(self, task: Task) -> None:
        self.queue.put(task)

    def close(self) -> None:
        self.closed.set()

    def take(self) -> list[Task]:
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out

    @property
    def exhausted(self) -> bool:
        return self.closed.is_set() and self.queue.empty()


class LocalWorkers:
    """`workers` processes on this machine (spawned, so CUDA works in them), sharing its CPU and GPU."""

    def __init__(self, workers: int, matting: MattingOptions) -> None:
        self.workers, self.matting = workers, matting
        self.ctx = mp.get_context("spawn")
        self.queue = self.ctx.Queue()
        self.pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        self.pool = ProcessPoolExecutor(self.workers, mp_context=self.ctx, initializer=worker.init,
                                        initargs=(self.matting, self.queue, self.workers, worker.driver_identity()))
        return self.pool

    def run(self, feed: Feed, progress: Progress, done: Done) -> None:
        pool, futures, redo, tries = self._new_pool(), {}, [], Counter()
        while True:
            for t in redo + feed.take():
                futures[pool.submit(worker.run_task, t)] = t
            redo = []
            if not futures:
                if feed.exhausted:
                    break
                feed.closed.wait(0.1)
                continue
            finished, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            self._drain(progress)
            again = [self._settle(fut, futures.pop(fut), tries, progress, done) for fut in finished]
            if any(a is not None for a in again):  # a worker died: every task of the pool is run again
                again += [self._settle(fut, task, tries, progress, done) for fut, task in futures.items()]
                redo, futures = [t for a in again if a for t in a], {}
                pool.shutdown(wait=True)
                pool = self._new_pool()
        self._drain(progress)

    @staticmethod
    def _settle(fut, task: Task, tries: Counter, progress: Progress, done: Done) -> list[Task] | None:
        """Hand a finished task's result or error to done(). None; or, where its worker died, the tasks
        to run again (it, unless its retries are spent)."""
        try:
            done(task, fut.result())
        except BrokenProcessPool:
            progress(task.label, -1)
            err = give_up(task, tries, "the process ended")
            if err is None:
                return [task]
            done(task, err)
            return []
        except Exception as e:
            done(task, e)
        return None

    def _drain(self, progress: Progress) -> None:
        while True:
            try:
                label, n = self.queue.get_nowait()
            except (queue.Empty, OSError, EOFError):
                return
            progress(label, n)

    def cancel(self) -> None:
        """Stop now: kill the worker processes (their partial files are removed by the caller)."""
        if self.pool is not None:
            procs = list((getattr(self.pool, "_processes", None) or {}).values())
            for p in procs:
                p.kill()
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # reaped, so their temporaries count as a dead process's
                p.join(5)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


class _RayWorker:
    """A Ray actor: one engine, task after task."""

    def __init__(self, matting: MattingOptions, progress, workers: int, driver: tuple[str, int]) -> None:
        worker.init(matting, progress, workers, driver)

    def run(self, task: Task) -> dict:
        return worker.run_task(task)


def import_ray():
    try:
        import ray
    except ImportError:
        raise VmatteError("--ray needs Ray on this machine (and every node): pip install 'vmatte[cluster]'") from None
    return ray


class RayWorkers:
    """Ray actors: on a Ray started here (address 'local'), or on a running cluster ('auto', HOST:PORT).
    Every node needs vmatte installed and the input and output folders at the same path."""

    def __init__(self, address: str, workers: int | None, matting: MattingOptions,
                 gpus_per_worker: float | None) -> None:
        ray = self.ray = import_ray()
        self.started = False
        if not ray.is_initialized():
            opts = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
            # Ray's core installs its own SIGTERM handler (it logs and exits 1): the command line's (exit 130,
            # partial files removed, Ray stopped) is put back once Ray has started.
            handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
            if address == "local":
                ray.init(num_cpus=os.cpu_count(), **opts)
                self.started = True
            else:
                try:
                    ray.init(address=address, **opts)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise VmatteError(f"--ray {address}: no Ray cluster there ({e}); start one with "
                                      "'ray start --head' or give --ray alone for a local Ray") from None
            if threading.current_thread() is threading.main_thread():
                for s, h in handlers.items():
                    if h is not None:
                        signal.signal(s, h)
        self.actors: list = []
        try:
            res = ray.cluster_resources()
            gpus = float(res.get("GPU", 0))
            n = workers or (int(gpus) if gpus else max(1, int(res.get("CPU", 1)) // 2))
            share = gpus_per_worker if gpus_per_worker else (gpus / n if gpus else 0)
            from ray.util.queue import Queue

            self.queue = Queue(actor_options={"num_cpus": 0})
            actor = ray.remote(_RayWorker)
            self.make = lambda i: actor.options(
                name=f"vmatte-worker-{os.getpid()}-{i}", num_cpus=1, num_gpus=share, max_restarts=RETRIES,
                max_task_retries=RETRIES).remote(matting, self.queue, n, worker.driver_identity())
            self.actors = [self.make(i) for i in range(n)]
            self.count = n
        except BaseException:
            self.cancel()
            raise

    def run(self, feed: Feed, progress: Progress, done: Done) -> None:
        ray = self.ray
        free, pending, running, tries = list(self.actors), deque(), {}, Counter()
        while True:
            pending.extend(feed.take())
            while free and pending:
                a, t = free.pop(), pending.popleft()
                running[a.run.remote(t)] = (a, t)
            if not running:
                if feed.exhausted and not pending:
                    break
                feed.closed.wait(0.1)
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            self._drain(progress)
            for ref in ready:
                a, task = running.pop(ref)
                try:
                    done(task, ray.get(ref))
                    free.append(a)
                except ray.exceptions.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    done(task, cause if isinstance(cause, Exception) else VmatteError(str(e).splitlines()[0]))
                    free.append(a)
                except ray.exceptions.RayActorError as e:  # restarts and task retries are used up
                    self.count += 1
                    self.actors.append(self.make(self.count))
                    free.append(self.actors[-1])
                    progress(task.label, -1)
                    err = give_up(task, tries, type(e).__name__)
                    if err is None:
                        pending.append(task)
                    else:
                        done(task, err)
        self._drain(progress)

    def _drain(self, progress: Progress) -> None:
        n = self.queue.size()
        if n:
            for label, k in self.queue.get_nowait_batch(n):
                progress(label, k)

    def cancel(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # already gone
                pass
        if self.started:
            self.ray.shutdown()

    close = cancel
