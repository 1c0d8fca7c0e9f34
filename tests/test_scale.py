"""Scale-out (vmatte.scale): a clip split into segments on local worker processes and on a real local Ray,
a folder of clips, a killed worker, a killed driver resumed, Ctrl-C. Every output is read back and
compared with the single-process output of the same input: frame count, timestamps, audio packets,
timecode and alpha. The issue's bar is identical alpha where a segment starts at a hard cut and, on each
other segment's first frame, mean |d alpha| <= 1e-3 and max <= 0.02; since each segment starts from the
recurrent state one process has there, every frame is held to identity on the CPU."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vmatte as vm
from clitools import sigint_default, vmatte
from conftest import person_frames
from vmatte.errors import VmatteError

FPS = Fraction(30000, 1001)
CUT = 90  # the clip's hard cut: a new scene from here
FRAMES = 150
SEGMENT = dict(segment_seconds=1)  # 30 frames: segments 0-30, 30-60, 60-90, 90-120 (at the cut), 120-150


def _scene(n: int, seed: int, flip: bool) -> list[np.ndarray]:
    frames = person_frames(n, 320, 240, seed=seed)
    return [np.ascontiguousarray(255 - f[:, ::-1]) for f in frames] if flip else frames


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """150 frames with audio and a timecode, a hard cut at frame 90; and its single-process outputs."""
    from samples.make_sample import write_clip

    d = tmp_path_factory.mktemp("scale")
    clip = d / "long.mp4"
    write_clip(clip, _scene(CUT, 0, False) + _scene(FRAMES - CUT, 3, True), fps=FPS)
    ref = d / "ref"
    ref.mkdir()
    s = vm.convert(clip, rgba=str(ref / "a.mov"), matte=str(ref / "m.mkv"), progress=False)
    assert s.frames == FRAMES and s.cuts == [CUT]
    return clip, ref


def _read(path: Path) -> dict:
    """Video pts, timecode, audio packets (pts and bytes) and 16-bit alpha of every frame."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        tc = v.metadata.get("timecode") or c.metadata.get("timecode")
        pts = [p.pts for p in c.demux(v) if p.size]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    with av.open(str(path)) as c:
        fmt = "rgba64le" if path.suffix == ".mov" else "gray16le"
        alpha = [f.to_ndarray(format=fmt) for f in c.decode(video=0)]
    alpha = [(a[..., 3] if a.ndim == 3 else a).astype(np.float64) / 65535 for a in alpha]
    return {"pts": pts, "timecode": tc, "audio": audio, "alpha": alpha}


def _png_alpha(folder: Path, pattern: str) -> list[np.ndarray]:
    import cv2

    names = sorted(folder.glob(pattern.replace("%06d", "*")))
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.float64) / 65535 for p in names]


def _assert_alpha_matches(got: list[np.ndarray], want: list[np.ndarray], starts: list[int], at_cut: set[int]) -> dict:
    """The segment rules; returns the first-frame differences measured (for the docs' figures)."""
    assert len(got) == len(want) == FRAMES
    seen = {}
    for s in starts:
        d = np.abs(got[s] - want[s])
        seen[s] = (float(d.mean()), float(d.max()))
        if s in at_cut:
            assert d.max() == 0, f"segment at the cut, frame {s}: alpha differs (max {d.max()})"
        else:
            assert d.mean() <= 1e-3 and d.max() <= 0.02, f"segment start {s}: mean {d.mean():.2e}, max {d.max():.3f}"
    for i in range(FRAMES):  # each segment continues from one process's own state: every frame is equal
        assert np.array_equal(got[i], want[i]), f"frame {i} differs from one process's"
    return seen


def _assert_same_file(got: Path, want: Path) -> None:
    a, b = _read(got), _read(want)
    assert a["pts"] == b["pts"] and len(a["pts"]) == FRAMES
    assert a["timecode"] == b["timecode"]
    assert a["audio"] == b["audio"] and (b["audio"] or got.suffix == ".mkv")
    _assert_alpha_matches(a["alpha"], b["alpha"], [0, 30, 60, 90, 120], {CUT})


def _no_leftovers(folder: Path) -> None:
    left = [p.name for p in folder.rglob(".*")]
    assert not left, f"left behind: {left}"


def test_split_clip_on_two_worker_processes_equals_one_process(long_clip, tmp_path):
    clip, ref = long_clip
    out = tmp_path / "o"
    out.mkdir()
    s = vm.convert(clip, rgba=str(out / "a.mov"), matte=str(out / "m_%06d.png"), progress=False, workers=2,
                   **SEGMENT)
    assert s.frames == FRAMES and s.cuts == [CUT]
    _assert_same_file(out / "a.mov", ref / "a.mov")
    want = _read(ref / "m.mkv")["alpha"]
    _assert_alpha_matches(_png_alpha(out, "m_%06d.png"), want, [0, 30, 60, 90, 120], {CUT})
    _no_leftovers(tmp_path)


def _kill_when_working(out: Path, kill, done: threading.Event) -> None:
    """Kill one worker once a segment is being written (its temporary exists in the work folder)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not done.is_set():
        parts = [p for p in out.rglob("*.part")] if out.exists() else []
        if parts and kill():
            return
        time.sleep(0.05)


def test_a_killed_worker_process_is_retried(long_clip, tmp_path):
    clip, ref = long_clip
    out = tmp_path / "o"
    out.mkdir()
    killed = []

    def kill() -> bool:
        kids = multiprocessing.active_children()
        if kids:
            os.kill(kids[0].pid, signal.SIGKILL)
            killed.append(kids[0].pid)
        return bool(kids)

    done = threading.Event()
    t = threading.Thread(target=_kill_when_working, args=(out, kill, done))
    t.start()
    try:
        vm.convert(clip, rgba=str(out / "a.mov"), progress=False, workers=2, **SEGMENT)
    finally:
        done.set()
        t.join()
    assert killed, "no worker was killed: the test did not test anything"
    _assert_same_file(out / "a.mov", ref / "a.mov")
    _no_leftovers(tmp_path)


def test_ray_local_with_a_killed_actor_equals_one_process(long_clip, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra")
    clip, ref = long_clip
    out = tmp_path / "o"
    out.mkdir()
    killed = []

    def kill() -> bool:
        if not ray.is_initialized():
            return False
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if a["name"].startswith("vmatte-worker-")]
        if names:
            ray.kill(ray.get_actor(names[0]), no_restart=False)
            killed.append(names[0])
        return bool(names)

    done = threading.Event()
    t = threading.Thread(target=_kill_when_working, args=(out, kill, done))
    t.start()
    try:
        s = vm.convert(clip, matte=str(out / "m.mkv"), progress=False, ray="local", workers=2, **SEGMENT)
    finally:
        done.set()
        t.join()
    assert not ray.is_initialized(), "a Ray started by vmatte is shut down at the end"
    assert killed, "no actor was killed: the test did not test anything"
    assert s.frames == FRAMES
    _assert_same_file(out / "m.mkv", ref / "m.mkv")
    _no_leftovers(tmp_path)


def test_folder_of_clips_on_workers_equals_one_process(clip, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, audio, tc in (("a.mov", True, "01:00:00:00"), ("b.mp4", False, None), ("c.mkv", False, None)):
        clip(name, n=20, audio=audio, timecode=tc).replace(folder / name)
    one, many = tmp_path / "one", tmp_path / "many"
    r1 = vm.convert(folder, rgba=f"{one}/", progress=False)
    r2 = vm.convert(folder, rgba=f"{many}/", progress=False, workers=2)
    assert sorted(r1.done) == sorted(r2.done) and len(r2.done) == 3 and not r2.failed
    for name in ("a", "b", "c"):
        a, b = _read(many / f"{name}.mov"), _read(one / f"{name}.mov")
        assert a["pts"] == b["pts"] and a["timecode"] == b["timecode"] and a["audio"] == b["audio"]
        assert all(np.array_equal(x, y) for x, y in zip(a["alpha"], b["alpha"]))
    assert _read(many / "a.mov")["audio"] and _read(many / "a.mov")["timecode"] == "01:00:00:00"
    _no_leftovers(tmp_path)


def _start_and_wait_for_a_segment(clip: Path, out: Path, *extra: str) -> subprocess.Popen:
    """A `--workers 2` run in its own session, once its first segment is complete."""
    args = [sys.executable, "-m", "vmatte", "convert", str(clip), "--rgba", str(out / "a.mov"), "--workers", "2",
            "--segment-seconds", "1", "--no-progress", *extra]
    p = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = out / ".a.mov.vmatte-work"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None and not list(work.glob("*.done")):
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before a segment was done"
    return p


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def test_a_killed_driver_resumes_from_complete_segments(long_clip, tmp_path):
    clip, ref = long_clip
    out = tmp_path / "o"
    out.mkdir()
    p = _start_and_wait_for_a_segment(clip, out)
    work = out / ".a.mov.vmatte-work"
    os.killpg(p.pid, signal.SIGKILL)  # the driver and its workers, as a crash or power loss would
    p.wait()
    done = len(list(work.glob("*.done")))
    assert done >= 1 and not (out / "a.mov").exists()
    res = vmatte("convert", clip, "--rgba", out / "a.mov", "--workers", "2", "--segment-seconds", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr and "segments done" in res.stderr
    _assert_same_file(out / "a.mov", ref / "a.mov")
    _no_leftovers(tmp_path)


def test_ctrl_c_stops_every_worker_and_leaves_nothing(long_clip, tmp_path):
    clip, _ = long_clip
    out = tmp_path / "o"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "vmatte", "convert", str(clip), "--rgba", str(out / "a.mov"),
                          "--workers", "2", "--segment-seconds", "1", "--no-progress"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None and not list(out.rglob("*.part")):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130, err
    assert list(out.iterdir()) == [], f"left behind: {list(out.rglob('*'))}"


@pytest.mark.parametrize("args, hint", [
    (["--workers", "0"], "--workers"),
    (["--workers", "two"], "--workers"),
    (["--ray", "not an address"], "--ray"),
    (["--segment-seconds", "0"], "--segment-seconds"),
    (["--gpus-per-worker", "-1"], "--gpus-per-worker"),
])
def test_bad_scale_options_are_one_line_exit_2(clip, out, args, hint):
    src = clip("in.mp4", n=4)
    res = vmatte("convert", src, "--rgba", out / "a.mov", *args)
    assert res.returncode == 2 and hint in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert list(out.iterdir()) == []


def test_ray_not_installed_says_how_to_install(clip, out, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the 'cluster' extra were not installed
    with pytest.raises(VmatteError, match=r"pip install 'vmatte\[cluster\]'"):
        vm.convert(clip("in.mp4", n=4), rgba=str(out / "a.mov"), ray="local")
    assert list(out.iterdir()) == []


def test_a_truncated_clip_on_workers_is_one_line_and_leaves_nothing(tmp_path, out):
    """The planner reads the clip while workers already matte its first segments: a clip cut off at its
    end fails the whole job, and what the workers wrote is removed."""
    from samples.make_sample import write_clip

    src = tmp_path / "cut.mkv"
    write_clip(src, _scene(FRAMES, 0, False), fps=FPS, audio=False, timecode=None)
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * 0.7)])
    res = vmatte("convert", src, "--rgba", out / "a.mov", "--workers", "2", "--segment-seconds", "1")
    assert res.returncode == 2, res.stderr
    assert "truncated" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert list(out.iterdir()) == [], f"left behind: {list(out.rglob('*'))}"


def test_an_image_sequence_on_workers_is_matted_whole(tmp_path, out):
    import cv2

    seq = tmp_path / "seq"
    seq.mkdir()
    for i, f in enumerate(person_frames(6)):
        cv2.imwrite(str(seq / f"f_{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    s = vm.convert(seq / "f_%04d.png", rgba=str(out / "a.mov"), progress=False, workers=2, fps=25)
    assert s.frames == 6 and len(_read(out / "a.mov")["pts"]) == 6


@pytest.mark.media
def test_a_real_clip_split_on_workers_is_identical_to_one_process(tmp_path):
    from conftest import media

    src = media("videos/intel_asl_walk.mkv")
    one = vm.convert(src, rgba=str(tmp_path / "one.mov"), progress=False)
    two = vm.convert(src, rgba=str(tmp_path / "two.mov"), progress=False, workers=2, segment_seconds=1)
    a, b = _read(tmp_path / "one.mov"), _read(tmp_path / "two.mov")
    assert one.frames == two.frames == len(b["pts"]) == 89 and a["pts"] == b["pts"]
    assert all(np.array_equal(x, y) for x, y in zip(a["alpha"], b["alpha"]))
    _no_leftovers(tmp_path)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process parents from Linux's /proc")
def test_a_killed_driver_takes_its_workers_with_it_and_one_process_clears_its_work(long_clip, tmp_path):
    """kill -9 of the driver alone (not its group): its worker processes end within seconds instead of
    running on unowned. A rerun of the same output in one process succeeds and removes the stale work folder
    (its segments), leaving nothing but the output."""
    from vmatte.io.atomic import process_alive

    clip, ref = long_clip
    out = tmp_path / "o"
    out.mkdir()
    p = _start_and_wait_for_a_segment(clip, out)
    kids = _children(p.pid)
    assert len(kids) >= 2, kids  # the two workers (and the pool's resource tracker)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(process_alive(k) for k in kids):
        time.sleep(0.1)
    left = [k for k in kids if process_alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    assert not left, f"workers still running after their driver was killed: {left}"
    assert (out / ".a.mov.vmatte-work").is_dir()
    res = vmatte("convert", clip, "--rgba", out / "a.mov", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mov"]
    _assert_same_file(out / "a.mov", ref / "a.mov")


def test_a_run_with_other_options_does_not_resume_anothers_segments(long_clip, tmp_path):
    """Segments left by a killed run are for its options only: a rerun with --despill 0.5 starts afresh (no
    'resuming'), and its output is what one process makes with --despill 0.5."""
    clip, _ = long_clip
    out, ref = tmp_path / "o", tmp_path / "ref"
    out.mkdir()
    ref.mkdir()
    p = _start_and_wait_for_a_segment(clip, out)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    res = vmatte("convert", clip, "--rgba", out / "a.mov", "--workers", "2", "--segment-seconds", "1", "--despill",
                 "0.5", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "resuming" not in res.stderr, res.stderr
    vm.convert(clip, rgba=str(ref / "a.mov"), despill=0.5, progress=False)
    _assert_same_file(out / "a.mov", ref / "a.mov")
    _no_leftovers(tmp_path)


def test_a_task_whose_worker_keeps_dying_is_run_again_exactly_retries_times():
    """As documented: a task is run again up to RETRIES (3) times; its 4th death is the error, naming it."""
    from collections import Counter

    from vmatte.options import MattingOptions, OutputOptions
    from vmatte.scale.executors import RETRIES, give_up
    from vmatte.scale.worker import Task

    assert RETRIES == 3
    task, tries = Task("clip.mp4", {}, MattingOptions(), OutputOptions()), Counter()
    for _ in range(RETRIES):
        assert give_up(task, tries, "killed") is None  # run it again
    err = give_up(task, tries, "killed")
    assert isinstance(err, VmatteError) and "died 4 times (killed)" in str(err)


def _ray_processes() -> list[str]:
    res = subprocess.run(["pgrep", "-fa", "raylet|gcs_server|ray::"], capture_output=True, text=True)
    return [line for line in res.stdout.splitlines() if "pgrep" not in line]


def test_sigterm_to_a_ray_driver_exits_130_with_nothing_left_and_ray_stopped(long_clip, tmp_path):
    """Ray's core puts its own SIGTERM handler in (it logged a stack and exited 1): vmatte puts its own back,
    so a stopped --ray run ends as a stopped local run does, and the Ray it started is gone."""
    pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra")
    clip, _ = long_clip
    assert not _ray_processes(), "a Ray from elsewhere is running: this test cannot tell whose it is"
    out = tmp_path / "o"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "vmatte", "convert", str(clip), "--rgba", str(out / "a.mov"),
                          "--ray", "--workers", "2", "--segment-seconds", "1", "--no-progress"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None and not list(out.rglob("*.part")):
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before it wrote anything"
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130, err
    assert "SIGTERM received" not in err, err
    assert list(out.iterdir()) == [], f"left behind: {list(out.rglob('*'))}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _ray_processes():
        time.sleep(0.5)
    assert not _ray_processes(), _ray_processes()


def test_best_on_workers_is_split_only_at_cuts_and_equals_one_process(long_clip, tmp_path, caplog):
    """--effort best: a segment starts where every stream starts afresh (a hard cut), so the clip is two
    segments, 0-90 and 90-150, whatever --segment-seconds says, and each frame equals one process's."""
    import logging

    clip, _ = long_clip
    one = vm.convert(clip, matte=str(tmp_path / "one.mkv"), rgba=str(tmp_path / "one.mov"), progress=False,
                     effort="best")
    with caplog.at_level(logging.INFO, logger="vmatte"):
        two = vm.convert(clip, matte=str(tmp_path / "two.mkv"), rgba=str(tmp_path / "two.mov"), progress=False,
                         effort="best", workers=2, **SEGMENT)
    assert "long.mp4: 2 segments" in caplog.text
    assert one.cuts == two.cuts == [CUT] and two.frames == FRAMES
    a, b = _read(tmp_path / "two.mkv"), _read(tmp_path / "one.mkv")
    assert a["pts"] == b["pts"]
    _assert_alpha_matches(a["alpha"], b["alpha"], [0, CUT], {0, CUT})
    _assert_same_file(tmp_path / "two.mov", tmp_path / "one.mov")
    _no_leftovers(tmp_path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vmatte"):  # no cut is a shot start then: one worker, whole
        vm.convert(clip, matte=str(tmp_path / "ignore.mkv"), progress=False, effort="best", scene_cuts="ignore",
                   workers=2, **SEGMENT)
    assert "one worker, whole (--effort best with --scene-cuts ignore" in caplog.text
