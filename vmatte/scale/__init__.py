"""Scale-out: one job (a file, or a folder of them) across worker processes or Ray actors.

Long clips whose outputs are intra-only (ProRes, FFV1, PNG) are split into segments (plan.py), matted
by the workers (worker.py, executors.py) into a hidden work folder beside the first output, and joined
without re-encoding (join.py). Other files go to one worker each, whole. Planning runs on a thread of
its own, so workers start on the first segment while the rest of the clip is still being read. A
rerun after a crash resumes from the segments already complete; Ctrl-C or an error removes the work
folder.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import threading
import time
from pathlib import Path

from ..errors import VmatteError, log
from ..io.atomic import remove_stale
from ..io.sinks import is_image_target
from ..io.video_source import seek_index
from ..options import MattingOptions, OutputOptions, ScaleOptions
from ..pipeline import Summary, progress_bar
from ..recipe import Recipe
from ..roles import work_folder
from .executors import Feed, LocalWorkers, RayWorkers, import_ray
from .join import done_path, join, segment_path
from .plan import FilePlan, Segment, identity, segments, why_whole
from .worker import Task


def check(scale: ScaleOptions) -> None:
    """Refuse now, before anything is read, what cannot run: Ray asked for but not installed."""
    if scale.ray is not None:
        import_ray()


def _work_folder(plan: FilePlan) -> Path:
    return work_folder(Path(next(iter(plan.outputs.values()))))


class _Planner:
    """Plans every job on a thread and feeds the tasks; records each input's plan, work folder and error."""

    def __init__(self, jobs, matting: MattingOptions, out: OutputOptions, scale: ScaleOptions) -> None:
        self.jobs, self.matting, self.out, self.scale = jobs, matting, out, scale
        self.recipe = Recipe(matting)  # the planner's own network loads when a clip is first split
        self.worker_out = dataclasses.replace(out, progress=False)
        self.feed, self.stop = Feed(), threading.Event()
        self.plans: list[FilePlan] = []
        self.works: dict[str, Path] = {}
        self.errors: dict[str, Exception] = {}
        self.total, self.done_before = 0, 0
        self.ready = threading.Event()  # every input probed: `total` is known
        self.thread = threading.Thread(target=self._run, name="vmatte-plan", daemon=True)

    def _run(self) -> None:
        try:
            probed = [self._probe(i, o) for i, o in self.jobs]
            self.ready.set()
            probed.sort(key=lambda pf: pf[0] is not None and pf[0].split)  # whole files first: they need no reading
            for plan, fps in probed:
                if plan is None or self.stop.is_set():
                    continue
                try:
                    self._plan(plan, fps)
                except Exception as e:  # noqa: BLE001 - recorded for this input; the others go on
                    self.errors[plan.input] = e
        finally:
            self.ready.set()
            self.feed.close()

    def _probe(self, input: str, outputs: dict) -> tuple[FilePlan | None, float]:
        plan = FilePlan(str(input), {r: str(p) for r, p in outputs.items()})
        try:
            plan.whole_because = why_whole(plan.input, plan.outputs, self.out.report is not None)
            if self.recipe.split_rule() == "whole":
                plan.whole_because = "--effort best with --scene-cuts ignore: the clip is one shot"
            fps = 0.0
            if plan.whole_because is None:
                plan.frames, fps, plan.whole_because = seek_index(plan.input, self.out.stream)
                if plan.whole_because is None and plan.frames <= 1.5 * self.scale.segment_seconds * fps:
                    plan.whole_because = "shorter than one and a half segments"
        except VmatteError as e:
            self.errors[plan.input] = e
            return None, 0.0
        self.total += plan.frames or 0
        self.plans.append(plan)
        return plan, fps

    def _plan(self, plan: FilePlan, fps: float) -> None:
        if not plan.split:
            log.info(f"{Path(plan.input).name}: one worker, whole ({plan.whole_because})")
            self.feed.put(Task(plan.input, plan.outputs, self.matting, self.worker_out))
            return
        work = self.works[plan.input] = _work_folder(plan)
        complete = self._prepare(plan, work)
        from ..weights import resolve_device

        cuts_only = self.recipe.split_rule() == "cuts"  # segments start at cuts, where every stream starts afresh
        for seg in segments(plan, self.out.stream, fps, self.scale.segment_seconds, self.scale.preroll, self.stop,
                            None if cuts_only else self._shots, resolve_device(self.matting.device),
                            cuts_only=cuts_only):
            plan.segments.append(dataclasses.replace(seg, state=None))  # the task carries it
            if complete.get(seg.number) == (seg.start, seg.end) and all(
                    segment_path(work, seg.number, r, f).exists() for r, f in plan.outputs.items()):
                self.done_before += seg.end - seg.start
                continue
            outputs = {r: str(segment_path(work, seg.number, r, f)) for r, f in plan.outputs.items()}
            for p in outputs.values():
                Path(p).parent.mkdir(parents=True, exist_ok=True)
            self.feed.put(Task(plan.input, outputs, self.matting, self.worker_out, seg, self.scale.preroll,
                               str(done_path(work, seg.number))))
        log.info(f"{Path(plan.input).name}: {len(plan.segments)} segments")

    def _shots(self, source):
        """The network as one process runs it on this source (loaded once): the planner keeps its state at
        each segment start."""
        return self.recipe.shots(source, self.out)

    def _prepare(self, plan: FilePlan, work: Path) -> dict[int, tuple[int, int]]:
        """Keep the work folder (a resume) when it was made for this very input, outputs and options;
        returns its complete segments, number -> (start, end)."""
        key = identity(plan, {"matting": dataclasses.asdict(self.matting), "out": dataclasses.asdict(self.out),
                              "segment_seconds": self.scale.segment_seconds, "preroll": self.scale.preroll})
        stamp = work / "plan.sha256"
        if work.is_dir() and stamp.is_file() and stamp.read_text() == key:
            complete = {}
            for marker in work.glob("seg_*.done"):
                with contextlib.suppress(ValueError, OSError):
                    d = json.loads(marker.read_text())
                    complete[int(marker.stem[4:])] = (d["start"], d["end"])
            if complete:
                log.warning(f"{Path(plan.input).name}: resuming, {len(complete)} segments done")
            return complete
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.mkdir(parents=True)
            stamp.write_text(key)
        except OSError as e:
            raise VmatteError(f"cannot create the work folder {work}: {e.strerror}; "
                              "pick a writable output folder") from None
        return {}


def convert_jobs(jobs: list[tuple[str, dict[str, Path]]], matting: MattingOptions, out: OutputOptions,
                 scale: ScaleOptions) -> dict[str, Summary | Exception]:
    """Matte every (input, {role: final output path}) job on the workers; returns each input's Summary,
    or the error that stopped it (the other inputs go on)."""
    check(scale)
    planner = _Planner(jobs, matting, out, scale)
    outcome: dict[str, list] = {str(i): [] for i, _ in jobs}
    counted: dict[str, int] = {}
    started, executor, bar = time.perf_counter(), None, None
    try:
        planner.thread.start()
        executor = (RayWorkers(scale.ray, scale.workers if scale.workers > 1 else None, matting,
                               scale.gpus_per_worker) if scale.ray else LocalWorkers(scale.workers, matting))
        planner.ready.wait()
        bar = progress_bar(planner.total or None, out.progress and not out.quiet)

        def progress(label: str, n: int) -> None:
            n = -counted.pop(label, 0) if n < 0 else n  # n < 0: the task starts again
            counted[label] = counted.get(label, 0) + max(n, 0)
            if bar is not None:
                bar.update(n)

        executor.run(planner.feed, progress, lambda task, result: outcome[task.input].append(result))
        planner.thread.join()
        if bar is not None:
            bar.update(planner.done_before)
            bar.close()
        results: dict[str, Summary | Exception] = dict(planner.errors)
        for plan in planner.plans:
            errors = [r for r in outcome[plan.input] if isinstance(r, Exception)]
            if plan.input in results or errors:
                results.setdefault(plan.input, errors[0] if errors else VmatteError("failed"))
                continue
            if plan.split:
                join(plan, planner.works[plan.input], out, out.stream)
            runs = outcome[plan.input]
            frames = plan.frames if plan.split else sum(r["frames"] for r in runs)
            seconds = time.perf_counter() - started
            cuts = sorted({c for r in runs for c in r["cuts"]})
            results[plan.input] = Summary(frames, seconds, frames / seconds if seconds else 0.0, cuts=cuts)
        return results
    except BaseException:  # Ctrl-C or a driver error: stop every worker now
        planner.stop.set()
        if executor is not None:
            with contextlib.suppress(Exception):
                executor.cancel()
            executor = None
        raise
    finally:
        planner.stop.set()
        if executor is not None:
            with contextlib.suppress(Exception):
                executor.close()
        planner.thread.join(timeout=30)
        _remove_temporaries(planner.plans)
        for work in planner.works.values():
            shutil.rmtree(work, ignore_errors=True)


def _remove_temporaries(plans: list[FilePlan], patience: float = 5.0) -> None:
    """Remove what killed workers left beside the outputs; a worker just killed may take a moment to go."""
    deadline = time.monotonic() + patience
    for plan in plans:
        for f in plan.outputs.values():
            p = Path(f)
            name = None if is_image_target(p) else p.name
            while True:
                remove_stale(p.parent, name)
                left = list(p.parent.glob(f".{name or ''}*.part")) if p.parent.is_dir() else []
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.2)


__all__ = ["Segment", "check", "convert_jobs"]
