"""--effort fast|default|best (issue 23). `best` on a video file: each shot matted forward, backward
and mirrored, and the three averaged (vmatte.bothways). Its output is checked against that definition
computed here the plain way, whole shots in memory, with the real network; a hard cut keeps the
backward state of the next shot out; memory stays flat on a long clip; workers equal one process
(tests/test_scale.py). What cannot be seen here: its speed on a GPU."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vmatte as vm
from clitools import assert_clean_failure, vmatte
from conftest import person_frames

FPS = Fraction(30, 1)


def _scene(n: int, seed: int, flip: bool = False, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    frames = person_frames(n, *size, seed=seed)
    return [np.ascontiguousarray(255 - f[::-1, ::-1]) for f in frames] if flip else frames


def _write(path: Path, frames: list[np.ndarray], **kw) -> Path:
    from samples.make_sample import write_clip

    write_clip(path, frames, fps=FPS, audio=False, **kw)
    return path


def _decoded(path: Path) -> list[np.ndarray]:
    from vmatte.io.video_source import VideoFileSource

    with VideoFileSource(path) as src:
        return [f.image for f in src.frames()]


def _alpha(path: Path) -> list[np.ndarray]:
    """The 16-bit matte file's alpha, 0..1."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray16le").astype(np.float64) / 65535 for f in c.decode(video=0)]


def _definition(model, frames: list[np.ndarray], cuts: list[int], ratio: float, warmup: int = 15) -> list[np.ndarray]:
    """Best as the issue defines it, each shot whole in memory: a forward, a backward and a mirrored
    stream, each from a fresh state settled on the shot's first `warmup` frames in its own direction,
    averaged."""
    import torch

    from vmatte.engine import Matter
    from vmatte.pixels import to_tensor

    fwd, bwd, mir = (Matter(model, ratio, "auto") for _ in range(3))
    edges = [0, *cuts, len(frames)]
    out = []
    with torch.inference_mode():
        for s, e in zip(edges, edges[1:]):
            shot = frames[s:e]

            def stream(m, seq):
                m.reset()
                for f in seq[:warmup]:
                    m.settle(f)
                return [m(f).pha for f in seq]

            a = stream(fwd, shot)
            b = stream(bwd, shot[::-1])[::-1]
            c = stream(mir, [to_tensor(f, fwd.device, fwd.dtype).flip(-1) for f in shot])
            out += [((x + y + z.flip(-1)) / 3)[0, 0].float().numpy() for x, y, z in zip(a, b, c)]
    return out


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """An H.264 clip (B-frames, a keyframe every 12 frames: seeking lands between keyframes) of two shots,
    40 + 30 frames, the cut at 40; and its decoded frames."""
    d = tmp_path_factory.mktemp("effort")
    clip = _write(d / "two.mp4", _scene(40, 0) + _scene(30, 3, flip=True), options={"g": "12", "bf": "2"})
    return clip, _decoded(clip)


def test_best_is_forward_backward_and_mirror_averaged_per_shot(two_shots, model, tmp_path, monkeypatch):
    """Small memory: several windows of seeking back, and several chunks, per shot. With float32 kept
    states the chunked run is the definition exactly (to the 16-bit file's rounding)."""
    from vmatte import bothways

    clip, frames = two_shots
    monkeypatch.setattr(bothways, "MEMORY", 320 * 240 * 3 * 20)  # 20-frame windows, 8-frame chunks
    monkeypatch.setattr(bothways, "KEEP", np.float32)
    assert bothways.chunk_frames(320, 240) == 8
    s = vm.convert(clip, matte=str(tmp_path / "m.mkv"), progress=False, effort="best")
    assert s.frames == 70 and s.cuts == [40]
    got = _alpha(tmp_path / "m.mkv")
    want = _definition(model, frames, [40], ratio=1.0)  # 2 x 270/240, capped at 1
    assert len(got) == len(want) == 70
    for i, (g, w) in enumerate(zip(got, want)):
        assert np.abs(g - w).max() <= 0.5 / 65535 + 1e-6, f"frame {i}: {np.abs(g - w).max()}"
    vm.convert(clip, matte=str(tmp_path / "d.mkv"), progress=False)
    assert max(np.abs(g - d).max() for g, d in zip(got, _alpha(tmp_path / "d.mkv"))) > 0.05  # not the default's


def test_best_with_half_precision_kept_states_is_the_definition_to_a_few_codes(two_shots, model, tmp_path,
                                                                                monkeypatch):
    from vmatte import bothways

    clip, frames = two_shots
    monkeypatch.setattr(bothways, "MEMORY", 320 * 240 * 3 * 20)
    vm.convert(clip, matte=str(tmp_path / "m.mkv"), progress=False, effort="best")
    got, want = _alpha(tmp_path / "m.mkv"), _definition(model, frames, [40], ratio=1.0)
    worst = max(np.abs(g - w).max() for g, w in zip(got, want))
    mean = np.mean([np.abs(g - w).mean() for g, w in zip(got, want)])
    assert worst < 2 / 255 and mean < 1e-4, (worst, mean)


def test_no_stream_carries_one_shot_into_another_across_a_hard_cut(tmp_path):
    """Clips that share one shot and differ in the other: the shared shot's mattes are identical, whether
    the other shot comes after it (the backward stream would carry it) or before (the forward ones)."""
    shared = _scene(24, 0)
    other = [np.ascontiguousarray(f[:, ::-1] // 2) for f in _scene(40, 3)]  # mirrored and darker: a cut
    lossless = {"qp": "0"}  # the shared shot decodes to the same pictures in every file
    pairs = {"after": ([shared + other[:16], shared + other[20:36]], slice(0, 24), [24]),
             "before": ([other[:16] + shared, other[20:36] + shared], slice(16, 40), [16])}
    for name, (clips, same, cuts) in pairs.items():
        mattes = []
        for k, frames in enumerate(clips):
            clip = _write(tmp_path / f"{name}{k}.mp4", frames, options=lossless)
            s = vm.convert(clip, matte=str(clip.with_suffix(".mkv")), progress=False, effort="best")
            assert s.cuts == cuts
            mattes.append(_alpha(clip.with_suffix(".mkv")))
        ma, mb = mattes
        assert all(np.array_equal(x, y) for x, y in zip(ma[same], mb[same])), name
        differ = [i for i in range(40) if not same.start <= i < same.stop]
        assert max(np.abs(ma[i] - mb[i]).max() for i in differ) > 0.05  # the other shots do differ


def test_default_effort_is_the_default_and_fast_halves_the_internal_scale(two_shots, tmp_path):
    from vmatte import MattingOptions, Recipe

    def ratio(w: int, h: int, kind: str = "clip", **options) -> float:
        return Recipe(MattingOptions(**options), kind).ratio(w, h)

    # RVM's guidance: a 270-pixel internal short side for portraits (1080p: 0.25), 432 for full body
    assert ratio(1920, 1080) == ratio(1920, 1080, effort="default") == 0.25
    assert ratio(1920, 1080, effort="fast") == ratio(1920, 1080, "live", effort="fast") == 0.125
    assert ratio(1920, 1080, effort="best") == 0.5
    assert ratio(1920, 1080, subject="full-body", effort="best") == 0.8
    assert ratio(1920, 1080, downsample_ratio=0.3, effort="best") == 0.3  # a ratio given is used as given
    assert ratio(1920, 1080, "photo", effort="best") == ratio(1920, 1080, "photo") == 512 / 1080  # still mode
    clip, _ = two_shots
    vm.convert(clip, matte=str(tmp_path / "a.mkv"), progress=False)
    vm.convert(clip, matte=str(tmp_path / "b.mkv"), progress=False, effort="default")
    assert all(np.array_equal(x, y) for x, y in zip(_alpha(tmp_path / "a.mkv"), _alpha(tmp_path / "b.mkv")))


def test_best_refuses_what_it_cannot_read_backwards_before_the_model_loads(tmp_path, clip):
    """Each refusal comes before the model loads (a raw stream's is found by demuxing it, the others from
    the path); a bad --effort before torch is even imported."""
    out = tmp_path / "out"
    out.mkdir()
    raw = tmp_path / "raw.h264"
    from samples.make_sample import write_clip

    write_clip(raw, _scene(6, 0), fps=FPS, audio=False, container="h264")
    res = vmatte("convert", raw, "--matte", out / "m.mkv", "--effort", "best")
    assert_clean_failure(res, out, "--effort default")  # found by opening the file
    seq = tmp_path / "seq"
    seq.mkdir()
    import cv2

    for i, f in enumerate(_scene(3, 0)):
        cv2.imwrite(str(seq / f"f_{i:04d}.png"), f[..., ::-1])
    res = vmatte("convert", seq / "f_%04d.png", "--matte", out / "m.mkv", "--effort", "best")
    assert_clean_failure(res, out, "image sequence")
    res = vmatte("convert", "http://127.0.0.1:9/x.mp4", "--matte", out / "m.mkv", "--effort", "best")
    assert_clean_failure(res, out, "a URL")
    res = vmatte("convert", clip(), "--matte", out / "m.mkv", "--effort", "better")
    assert_clean_failure(res, out, "effort", model_free=True)
    res = vmatte("live", "--source", clip(), "--sink", out / "x.mp4", "--effort", "best")
    assert_clean_failure(res, out, "live is causal")


def test_best_memory_stays_flat_on_a_long_clip(tmp_path):
    """Peak memory of whole processes matting one shot of 100 and of 700 frames at 640x360: holding the
    shot's pictures (0.7 MB each) would add 420 MB for the 600 more frames, its float mattes 2.2 GB. Flat
    runs on the 2-core machine differed by 50-220 MB from run to run (the allocators), hence 600 frames."""
    peaks = {}
    for n in (100, 700):
        clip = _write(tmp_path / f"c{n}.mp4", _scene(n, 0, size=(640, 360)))
        code = ("import resource, sys, vmatte\n"
                f"vmatte.convert({str(clip)!r}, matte={str(tmp_path / f'm{n}.mkv')!r}, progress=False, "
                "effort='best', downsample_ratio=0.25)\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr
        peaks[n] = int(res.stdout.split()[-1]) / 1024  # MiB
        assert len(_alpha(tmp_path / f"m{n}.mkv")) == n
    assert peaks[700] - peaks[100] < 300, peaks


def test_live_at_fast_runs_the_network_at_half_rvms_scale(clip, tmp_path):
    """Live takes fast: its recording equals one at half RVM's ratio given by hand (320x240: 270/240 is
    capped at 1, half is 135/240), and differs from the default's."""
    from vmatte import live

    src = clip(n=10)
    runs = {"fast": dict(effort="fast"), "by hand": dict(downsample_ratio=135 / 240), "default": {}}
    got = {}
    for name, opts in runs.items():
        path = tmp_path / f"{name}.mkv"
        live(str(src), str(path), quiet=True, **opts)
        with av.open(str(path)) as c:
            got[name] = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(got["fast"]) == 10
    assert all(np.array_equal(a, b) for a, b in zip(got["fast"], got["by hand"]))
    assert any(not np.array_equal(a, b) for a, b in zip(got["fast"], got["default"]))
