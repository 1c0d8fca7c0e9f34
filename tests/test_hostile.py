"""A hostile corpus: awkward, broken and dangerous inputs, outputs and paths, made here from generated
media. Every case ends one of two ways: one `vmatte: error:` line, exit 2, no traceback and nothing
new at or beside the output; or a correct output whose frame count and timestamps match the input."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from clitools import sigint_default
from conftest import person_frames
from readback import video_pts
from samples.make_sample import write_clip
from vmatte.cli import main
from vmatte.errors import VmatteError

FPS = Fraction(30)


def run(*args: object, env: dict | None = None) -> tuple[int, str, str]:
    """The command line in this process (fast: no interpreter start); (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return rc, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def refused(folder: Path, hint: str, *args: object, env: dict | None = None) -> str:
    """Runs the command and asserts the error outcome; returns the line."""
    before = snapshot(folder)
    rc, _, err = run(*args, env=env)
    line = err.strip()
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and len(line.splitlines()) == 1, err
    assert line.startswith("vmatte: error:") and hint in line, line
    assert snapshot(folder) == before, sorted(set(snapshot(folder)) ^ set(before))
    return line


def produced(path: Path, frames: int, pts: list[Fraction] | None = None, *args: object, warn: str | None = None):
    """Runs the command and asserts the output outcome: `frames` frames, at `pts` seconds if given."""
    rc, _, err = run(*args, "-q" if warn is None else "--no-progress")
    assert rc == 0, err
    assert "Traceback" not in err
    if warn is not None:
        assert warn in err, err
    times, _ = video_pts(path)
    assert len(times) == frames, (len(times), frames)
    if pts is not None:  # to the millisecond: Matroska, in or out, keeps no finer time
        assert all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(times, pts)), (times, pts)
    return times


def even_pts(n: int, fps: Fraction = FPS) -> list[Fraction]:
    return [Fraction(i) / fps for i in range(n)]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Every input of the corpus, made once."""
    d = tmp_path_factory.mktemp("hostile")
    frames = person_frames(12, 96, 64)
    write_clip(d / "clip.mp4", frames, fps=FPS, audio=True, timecode="01:00:00:00")
    write_clip(d / "odd.mkv", [f[:63, :95].copy() for f in frames], fps=FPS, audio=False, timecode=None,
               codec="ffv1", pix_fmt="yuv444p")
    for w, h in ((1, 1), (2, 2), (16, 16)):
        write_clip(d / f"tiny{w}x{h}.mkv", [f[:h, :w].copy() for f in frames[:4]], fps=FPS, audio=False,
                   timecode=None, codec="ffv1", pix_fmt="yuv444p")
    write_clip(d / "ten422.mov", frames[:6], fps=FPS, audio=False, timecode=None, codec="prores_ks",
               pix_fmt="yuv422p10le")
    write_clip(d / "ten420odd.mkv", [f[:63, :95].copy() for f in frames[:4]], fps=FPS, audio=False, timecode=None,
               codec="ffv1", pix_fmt="yuv420p10le")
    write_clip(d / "alpha.mov", frames[:6], fps=FPS, audio=False, timecode=None, codec="prores_ks",
               pix_fmt="yuva444p10le")
    write_clip(d / "vfr.mkv", frames[:6], fps=FPS, audio=False, timecode=None, pts=[0, 30, 40, 100, 110, 200],
               time_base=Fraction(1, 1000))
    from PIL import Image

    gif = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE) for f in frames[:5]]
    gif[0].save(d / "anim.gif", save_all=True, append_images=gif[1:], duration=100, loop=0)
    (d / "seq16").mkdir()
    for i, f in enumerate(frames[:4]):
        cv2.imwrite(str(d / "seq16" / f"f_{i:03d}.png"), f[..., ::-1].astype(np.uint16) * 257)
    (d / "rgba_seq").mkdir()
    for i, f in enumerate(frames[:4]):
        bgra = np.dstack([f[..., ::-1], np.full(f.shape[:2], 200, np.uint8)])
        cv2.imwrite(str(d / "rgba_seq" / f"f_{i:03d}.png"), bgra)
    (d / "cmyk").mkdir()
    for i in range(3):
        _cmyk_jpeg(d / "cmyk" / f"p_{i:02d}.jpg", frames[i])
    (d / "mixed").mkdir()
    cv2.imwrite(str(d / "mixed" / "a.png"), frames[0])
    cv2.imwrite(str(d / "mixed" / "b.png"), np.ascontiguousarray(frames[1].transpose(1, 0, 2)))  # portrait
    (d / "gap").mkdir()
    for i in (0, 1, 2, 4, 5):
        cv2.imwrite(str(d / "gap" / f"g_{i:04d}.png"), frames[i])
    _two_streams(d / "thumb.mp4", frames)
    _raw_h264(d / "raw.h264", frames)
    _zero_timestamps(d / "clip_noaudio.mkv", d / "zero.mkv", frames)
    write_clip(d / "part.ts", frames, fps=FPS, audio=False, timecode=None)
    (d / "joined.ts").write_bytes((d / "part.ts").read_bytes() * 2)
    write_clip(d / "full60.mkv", person_frames(60, 96, 64), fps=FPS, audio=False, timecode=None)
    _truncate_to_frames(d / "full60.mkv", d / "trunc.mkv", 34)
    _edit_list(d / "trimmed.mp4", person_frames(60, 96, 64))
    data = bytearray((d / "clip.mp4").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 400] = bytes(400)
    (d / "corrupt_middle.mp4").write_bytes(bytes(data))
    shutil.copy(d / "odd.mkv", d / "lying.mp4")  # Matroska named .mp4: FFmpeg reads the content
    (d / "text.mov").write_text("not a video\n" * 50)
    cv2.imwrite(str(d / "still.png"), frames[0])
    shutil.copy(d / "still.png", d / "png_named.mp4")
    (d / "empty.mp4").write_bytes(b"")
    shutil.copy(d / "clip.mp4", d / "-dash.mp4")
    shutil.copy(d / "clip.mp4", d / "clip é 漢字.mp4")
    write_clip(d / "bg.mp4", person_frames(5, 96, 64, seed=3), fps=FPS, audio=False, timecode=None)
    return d


def _cmyk_jpeg(path: Path, rgb: np.ndarray) -> None:
    """A CMYK JPEG, as print workflows make (Pillow writes it; neither OpenCV nor PyAV can)."""
    from PIL import Image

    Image.fromarray(rgb).convert("CMYK").save(path, "JPEG")


def _two_streams(path: Path, frames: list[np.ndarray]) -> None:
    """A one-frame thumbnail stream first, then the real video."""
    with av.open(str(path), "w") as o:
        t = o.add_stream("mjpeg", rate=1)
        t.width, t.height, t.pix_fmt = 48, 32, "yuvj420p"
        v = o.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        thumb = av.VideoFrame.from_ndarray(frames[0][:32, :48].copy(), format="rgb24").reformat(format="yuvj420p")
        thumb.pts = 0
        for p in [*t.encode(thumb), *t.encode(None)]:
            o.mux(p)
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in v.encode(f):
                o.mux(p)
        for p in v.encode(None):
            o.mux(p)


def _raw_h264(path: Path, frames: list[np.ndarray]) -> None:
    write_clip(path, frames, fps=FPS, audio=False, timecode=None, container="h264")


def _zero_timestamps(tmp: Path, path: Path, frames: list[np.ndarray]) -> None:
    write_clip(tmp, frames, fps=FPS, audio=False, timecode=None)
    with av.open(str(tmp)) as i, av.open(str(path), "w") as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.size:
                p.pts = p.dts = 0
                p.stream = s
                o.mux(p)


def _truncate_to_frames(full: Path, out: Path, frames: int) -> None:
    """Cut a Matroska file where its packet number `frames` starts (a download cut short)."""
    with av.open(str(full)) as c:
        pos = [p.pos for p in c.demux(c.streams.video[0]) if p.size][frames]
    out.write_bytes(full.read_bytes()[:pos])


def _edit_list(path: Path, frames: list[np.ndarray]) -> None:
    """60 intra frames whose edit list starts 20 frames in (what a lossless trim writes): plays 40."""
    tmp = path.with_name("intra.mp4")
    write_clip(tmp, frames, fps=FPS, audio=False, timecode=None, options={"g": "1"})
    with av.open(str(tmp)) as i, av.open(str(path), "w") as o:
        src = i.streams.video[0]
        s = o.add_stream_from_template(src)
        shift = 20 * round(1 / (30 * src.time_base))
        for p in i.demux(src):
            if p.size:
                p.pts -= shift
                p.dts -= shift
                p.stream = s
                o.mux(p)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


# ---- media: accepted, output matches the input's frames and timing ----

OK_MEDIA = [  # (input, frames, timestamps or None when the frame rate rebuilds them, warning expected)
    ("odd.mkv", 12, even_pts(12), None),
    ("tiny1x1.mkv", 4, even_pts(4), None),
    ("tiny2x2.mkv", 4, even_pts(4), None),
    ("tiny16x16.mkv", 4, even_pts(4), None),
    ("ten422.mov", 6, even_pts(6), None),
    ("ten420odd.mkv", 4, even_pts(4), None),
    ("alpha.mov", 6, even_pts(6), None),
    ("vfr.mkv", 6, [Fraction(t, 1000) for t in (0, 30, 40, 100, 110, 200)], None),
    ("anim.gif", 5, even_pts(5, Fraction(10)), None),
    ("seq16", 4, even_pts(4, Fraction(25)), None),
    ("rgba_seq", 4, even_pts(4, Fraction(25)), None),
    ("cmyk", 3, even_pts(3, Fraction(25)), None),
    ("thumb.mp4", 12, even_pts(12), "using #1 (96x64), the main one"),
    ("raw.h264", 12, even_pts(12), "rebuilt from its frame rate, 30 fps"),
    ("zero.mkv", 12, None, "from frame 1 on; they are rebuilt"),
    ("joined.ts", 24, None, "from frame 12 on; they are rebuilt"),
    ("trimmed.mp4", 40, None, None),
    ("lying.mp4", 12, even_pts(12), None),
    ("png_named.mp4", 1, [Fraction(0)], None),
    ("clip é 漢字.mp4", 12, None, None),
]


@pytest.mark.parametrize("name,frames,pts,warn", OK_MEDIA, ids=[m[0] for m in OK_MEDIA])
@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_awkward_media_is_matted_whole(media, out, name, frames, pts, warn, ext):
    role = "--rgba" if ext == ".mov" else "--matte"
    times = produced(out / f"o{ext}", frames, pts, "convert", media / name, role, out / f"o{ext}", "--device", "cpu",
                     "--downsample-ratio", "0.5", warn=warn)
    assert all(b > a for a, b in zip(times, times[1:]))  # never two frames at one instant
    assert sorted(p.name for p in out.iterdir()) == [f"o{ext}"]


def test_deep_odd_width_chroma_is_decoded_right(media):
    """10-bit 4:2:0 at an odd width: FFmpeg's direct conversion to 16-bit RGB garbles it (39/255 mean
    error); vmatte's decode stays as close to the 8-bit original as chroma subsampling allows."""
    from vmatte.io.sources import open_source

    want = person_frames(1, 96, 64)[0][:63, :95] / 255
    with open_source(media / "ten420odd.mkv") as s:
        got = next(s.frames()).image / 65535
    assert np.abs(got - want).mean() * 255 < 6  # 4:2:0 at the figure's hard colour edges: ~4.4


def test_corrupted_middle_is_matted_or_refused(media, out):
    rc, _, err = run("convert", media / "corrupt_middle.mp4", "-o", out / "o.mov", "-q")
    assert "Traceback" not in err
    if rc == 0:
        assert len(video_pts(out / "o.mov")[0]) == 12
    else:
        assert rc == 2 and len(err.strip().splitlines()) == 1 and list(out.iterdir()) == []


def test_dash_leading_paths(media, out, monkeypatch):
    """A name starting with '-' is read as an option unless written ./-name or --flag=-name."""
    monkeypatch.chdir(media)
    produced(out / "-o.mov", 12, None, "convert", "./-dash.mp4", "--rgba=" + str(out / "-o.mov"))
    monkeypatch.chdir(out)
    produced(out / "-p.mov", 12, None, "convert", media / "-dash.mp4", "--rgba", "./-p.mov")


# ---- media: refused with one line ----

BAD_MEDIA = [
    ("trunc.mkv", "is truncated"),
    ("text.mov", "is not a video FFmpeg can read"),
    ("empty.mp4", "is empty (0 bytes)"),
    ("mixed", "every frame must be one size"),
    ("gap/g_%04d.png", "frame numbers 3 are missing"),
    ("nonexistent.mp4", "does not exist"),
]


@pytest.mark.parametrize("name,hint", BAD_MEDIA, ids=[m[0] for m in BAD_MEDIA])
@pytest.mark.parametrize("role,ext", [("--rgba", ".mov"), ("--composite", ".mp4"), ("--matte", "_%04d.png")])
def test_bad_media_is_one_line(media, out, name, hint, role, ext):
    refused(out, hint, "convert", media / name, role, out / f"o{ext}", "--device", "cpu")


def test_device_is_not_a_video(out):
    refused(out, "is a device, not a video file", "convert", "/dev/zero", "-o", out / "o.mov")


# ---- outputs and paths that would lose data ----

def test_output_on_the_input_is_refused(media, tmp_path):
    d = tmp_path / "w"
    d.mkdir()
    shutil.copy(media / "clip.mp4", d / "s.mp4")
    shutil.copy(media / "bg.mp4", d / "bg.mp4")
    (d / "link.mp4").symlink_to(d / "s.mp4")
    for args, hint in ((["-o", d / "s.mp4"], "is the input"),
                       (["-o", d / "link.mp4"], "is the input"),
                       (["-o", f"{d}/./../w/s.mp4"], "is the input"),
                       (["--composite", d / "bg.mp4", "--background", d / "bg.mp4"], "is the input"),
                       (["--rgba", d / "x.mkv", "-o", d / "x.mkv"], "both write"),
                       (["--rgba", d / "x.mov", "--composite", d / "x.mov"], "both write"),
                       (["-o", d / "x.mov", "--report", d / "x.mov"], "both write"),
                       (["--composite", f"{d}/o/", "--foreground", f"{d}/o/"], "both write")):
        refused(d, hint, "convert", d / "s.mp4", *args)
    assert (d / "s.mp4").read_bytes() == (media / "clip.mp4").read_bytes()


def test_output_inside_the_folder_being_read_is_refused(media, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(media / "clip.mp4", d / "a.mp4")
    refused(d, "is inside", "convert", d, "--rgba", f"{d}/")
    refused(d, "is inside", "convert", d, "--rgba", f"{d}/sub/")
    seq = tmp_path / "seq"
    shutil.copytree(media / "seq16", seq)
    refused(seq, "is inside", "convert", seq, "--rgba", seq / "f_%03d.png")


def test_same_stem_in_a_folder_gives_two_outputs(media, tmp_path):
    src, dst = tmp_path / "in", tmp_path / "dst"
    src.mkdir()
    shutil.copy(media / "clip.mp4", src / "a.mp4")
    shutil.copy(media / "odd.mkv", src / "a.mkv")
    rc, _, err = run("convert", src, "--rgba", f"{dst}/", "-q", "--downsample-ratio", "0.5")
    assert rc == 0, err
    assert sorted(p.name for p in dst.iterdir()) == ["a.mkv.mov", "a.mp4.mov"]
    assert abs(video_pts(dst / "a.mkv.mov")[1] - FPS) < Fraction(1, 10)


def test_shorter_png_run_leaves_no_stale_frames(media, out):
    pattern = out / "p_%04d.png"
    run("convert", media / "full60.mkv", "--rgba", pattern, "-q", "--downsample-ratio", "0.5")
    assert len(list(out.glob("p_*.png"))) == 60
    run("convert", media / "odd.mkv", "--rgba", pattern, "-q", "--downsample-ratio", "0.5")
    assert sorted(p.name for p in out.iterdir()) == [f"p_{i:04d}.png" for i in range(12)]
    assert cv2.imread(str(out / "p_0011.png"), cv2.IMREAD_UNCHANGED).shape[:2] == (63, 95)


def test_replacing_an_output_keeps_its_permissions(media, out):
    target = out / "o.mov"
    run("convert", media / "odd.mkv", "-o", target, "-q")
    target.chmod(0o600)
    run("convert", media / "odd.mkv", "-o", target, "-q")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("flag", ["--report", "--stats-json"])
def test_report_or_stats_naming_a_folder_fails_before_the_first_frame(media, out, flag):
    (out / "taken").mkdir()
    cmd = ["convert", media / "clip.mp4", "-o", out / "o.mov"] if flag == "--report" else \
        ["live", "--source", media / "clip.mp4", "--sink", out / "o.mp4"]
    refused(out, "is a folder", *cmd, flag, out / "taken")


def test_unwritable_and_missing_places(media, out):
    refused(out, "does not exist", "convert", media / "clip.mp4", "-o", out / "no" / "o.mov")
    refused(out, "cannot write", "convert", media / "clip.mp4", "-o", "/proc/vmatte.mov")
    refused(out, "unknown output type", "convert", media / "clip.mp4", "-o", out / "o.avi")
    refused(out, "cannot hold this output", "convert", media / "clip.mp4", "--matte", out / "o.mp4")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 kB filesystem (tmpfs, as root), so a write runs out of space for real."""
    d = tmp_path / "tiny"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(d)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk case is not run")
    yield d
    subprocess.run(["umount", str(d)], check=False)


def test_full_disk_is_one_line_and_leaves_nothing(media, tiny_disk):
    refused(tiny_disk, "no space left on the device", "convert", media / "full60.mkv", "--rgba",
            tiny_disk / "o.mov", "--device", "cpu", "--downsample-ratio", "0.5")
    refused(tiny_disk, "no space left on the device", "convert", media / "full60.mkv", "--rgba",
            tiny_disk / "p_%04d.png", "--device", "cpu", "--downsample-ratio", "0.5")


# ---- the cache ----

def test_broken_cache_entries_are_named_or_rebuilt(media, tmp_path, out):
    from vmatte.cache import cache_dir

    home_file = tmp_path / "home-file"
    home_file.write_text("x")
    refused(out, "is a file; point it at a folder", "convert", media / "clip.mp4", "-o", out / "o.mov",
            env={"VMATTE_HOME": str(home_file)})
    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    real = cache_dir() / "weights"
    shutil.copy(real / "rvm-mobilenetv3.onnx", home / "weights")
    (home / "weights" / "rvm-mobilenetv3.safetensors").mkdir()
    refused(out, "is a folder where vmatte keeps", "convert", media / "clip.mp4", "-o", out / "o.mov",
            env={"VMATTE_HOME": str(home)})
    (home / "weights" / "rvm-mobilenetv3.safetensors").rmdir()
    shutil.copy(real / "rvm-mobilenetv3.safetensors", home / "weights")
    (home / "weights" / "rvm-mobilenetv3.sha256").mkdir()
    refused(out, "rvm-mobilenetv3.sha256 is a folder where vmatte keeps", "convert", media / "clip.mp4", "-o",
            out / "o.mov", env={"VMATTE_HOME": str(home)})


@pytest.fixture
def own_cache(tmp_path) -> dict:
    """A cache of this test's own (the weights linked in), so no other test's files are in it."""
    from vmatte.cache import cache_dir

    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    for p in (cache_dir() / "weights").iterdir():
        (home / "weights" / p.name).symlink_to(p)
    return {"VMATTE_HOME": str(home)}


def test_zero_byte_or_tampered_settle_graph_is_rebuilt(media, out, own_cache):
    from vmatte.cache import sidecar

    rc, _, err = run("convert", media / "clip.mp4", "-o", out / "a.mov", "-q", "--downsample-ratio", "0.5",
                     env=own_cache)
    assert rc == 0, err
    graphs = list((Path(own_cache["VMATTE_HOME"]) / "engines").glob("*-state.onnx"))
    assert len(graphs) == 1, graphs  # the settle graph of the registry's export
    g = graphs[0]
    good = g.read_bytes()
    g.write_bytes(b"")
    rc, _, err = run("convert", media / "clip.mp4", "-o", out / "b.mov", "-q", "--downsample-ratio", "0.5",
                     env=own_cache)
    assert rc == 0, err
    assert g.read_bytes() == good and sidecar(g).read_text().strip()


# ---- processes: signals, and the next run's clean-up ----

def _start(args: list) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vmatte", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)


def _wait_for_temporary(folder: Path, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if any(p.name.startswith(".") for p in folder.iterdir()) or proc.poll() is not None:
            return
        import time

        time.sleep(0.05)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("long") / "long.mkv"
    write_clip(p, person_frames(300, 160, 120), fps=FPS, audio=False, timecode=None)
    return p


@pytest.fixture(scope="module")
def minute_clip(tmp_path_factory) -> Path:
    """A minute at 30 fps: a live session on it is still running whenever a test signals it, however slow
    or loaded the machine."""
    p = tmp_path_factory.mktemp("minute") / "minute.mkv"
    loop = person_frames(60, 160, 120)
    write_clip(p, (loop[i % 60] for i in range(1800)), fps=FPS, audio=False, timecode=None)
    return p


@pytest.mark.parametrize("delay", [0.0, 0.7, 1.5])
def test_sigkill_then_rerun_cleans_up_and_completes(long_clip, out, delay):
    import time

    proc = _start(["convert", long_clip, "--rgba", out / "o.mov", "--matte", out / "m_%04d.png",
                   "--downsample-ratio", "0.5", "--device", "cpu"])
    _wait_for_temporary(out, proc)
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=30)
    assert not (out / "o.mov").exists()  # never a final name for a file that is not complete
    rc, _, err = run("convert", long_clip, "--rgba", out / "o.mov", "--matte", out / "m_%04d.png",
                     "--downsample-ratio", "0.5", "--device", "cpu", "-q")
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"m_{i:04d}.png" for i in range(300)] + ["o.mov"], names[:5]  # the dead run's temporaries went
    assert len(video_pts(out / "o.mov")[0]) == 300


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 130)])
def test_live_interrupted_keeps_the_recording_and_says_so(minute_clip, out, sig, code):
    import signal
    import time

    proc = _start(["live", "--source", minute_clip, "--realtime", "--sink", out / "rec.mp4", "--device", "cpu",
                   "--downsample-ratio", "0.5"])
    for _ in range(1200):  # until frames reach the recording: the session is running
        if proc.poll() is not None or any(p.name.startswith(".") and p.stat().st_size > 2000 for p in out.iterdir()):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["rec.mp4"]
    assert 0 < len(video_pts(out / "rec.mp4")[0]) < 1800


def test_max_pixels_refuses_with_the_memory_it_needs(media, out):
    line = refused(out, "above --max-pixels 5000; matting it needs about", "convert", media / "clip.mp4", "-o",
                   out / "o.mov", "--max-pixels", "5000")
    assert "Pass --max-pixels 6144 to go ahead" in line


def test_exports_are_reused_across_processes_and_bounded(media, out, tmp_path):
    """A clip at ratio 1 runs our own export: the second run, a new process, finds it in the cache."""
    from vmatte.cache import cache_dir

    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    for p in (cache_dir() / "weights").iterdir():
        (home / "weights" / p.name).symlink_to(p)
    env = {**os.environ, "VMATTE_HOME": str(home)}
    cmd = [sys.executable, "-m", "vmatte", "convert", str(media / "clip.mp4"), "-o", str(out / "o.mov"), "-q"]
    for _ in range(2):
        assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
        assert len(list((home / "engines").glob("*.onnx"))) == 2  # the export and its settle graph, once
    res = subprocess.run([sys.executable, "-m", "vmatte", "cache", "list"], env=env, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.count("derived") == 2
    from vmatte import cache

    os.environ["VMATTE_HOME"], old = str(home), os.environ.get("VMATTE_HOME")
    try:
        assert len(cache.prune(limit_mb=0)) == 2 and not list((home / "engines").glob("*.onnx"))
    finally:
        os.environ.pop("VMATTE_HOME") if old is None else os.environ.__setitem__("VMATTE_HOME", old)
    res = subprocess.run([sys.executable, "-m", "vmatte", "cache", "clear"], env=env, capture_output=True, text=True)
    assert res.returncode == 0 and "freed" in res.stdout


def test_tampered_settle_graph_is_rebuilt_not_used(media, out, own_cache):
    from vmatte.cache import sha256_of, sidecar

    rc, _, err = run("convert", media / "clip.mp4", "-o", out / "a.mov", "-q", env=own_cache)
    assert rc == 0, err
    newest = max((Path(own_cache["VMATTE_HOME"]) / "engines").glob("*-state.onnx"),
                 key=lambda p: p.stat().st_mtime)  # the settle graph
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    rc, _, err = run("convert", media / "clip.mp4", "-o", out / "b.mov", "-q", env=own_cache)
    assert rc == 0, err
    assert newest.read_bytes() != bytes(data) and sidecar(newest).read_text().strip() == sha256_of(newest)


def test_folder_batch_goes_on_past_a_bad_file(media, tmp_path):
    src, dst = tmp_path / "in", tmp_path / "dst"
    src.mkdir()
    for name in ("joined.ts", "trunc.mkv", "clip.mp4"):
        shutil.copy(media / name, src / name)
    rc, stdout, err = run("convert", src, "--rgba", f"{dst}/", "--downsample-ratio", "0.5", "--no-progress")
    assert rc == 1 and "Traceback" not in err
    assert sorted(p.name for p in dst.iterdir()) == ["clip.mov", "joined.mov"]
    assert "trunc.mkv" in err and "is truncated" in err


# ---- photo folders, profiles and animated images (issue 26) ----

PHOTO = ["--still-passes", "1", "--downsample-ratio", "0.5", "-q"]
GS_ICC = Path("/usr/share/color/icc/ghostscript")  # Debian's libgs-common, which .ci/run installs


def _icc(name: str) -> bytes:
    path = GS_ICC / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: .ci/run must install Debian's libgs-common")
        pytest.skip(f"{path} not installed (Debian's libgs-common)")
    return path.read_bytes()


def _save(path: Path, seed: int = 0, **kw) -> np.ndarray:
    from PIL import Image

    rgb = person_frames(1, 96, 64, seed=seed)[0]
    Image.fromarray(rgb).save(path, **kw)
    return rgb


def test_photos_whose_names_collide_get_an_output_each(tmp_path):
    """a.jpg and a.png (and B.jpeg, b.webp: a case-insensitive disk would merge them) are four outputs, named
    by the whole name; a rerun finds all four complete."""
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i, name in enumerate(("a.jpg", "a.png", "B.jpeg", "b.webp")):
        _save(src / name, seed=i)
    rc, out, err = run("convert", src, "--rgba", f"{dst}/", *PHOTO)
    assert rc == 0, err
    assert sorted(p.name for p in dst.iterdir()) == ["B.jpeg.png", "a.jpg.png", "a.png.png", "b.webp.png"]
    rc, out, err = run("convert", src, "--rgba", f"{dst}/", "--still-passes", "1", "--downsample-ratio", "0.5")
    assert rc == 0 and out.count("outputs already complete") == 4, out


def test_a_photo_folder_says_what_it_passes_over(tmp_path):
    """Every still Pillow reads is matted (GIF, AVIF where this Pillow reads it); a video, an animated image
    and a text file are named with why they were passed over, never dropped in silence or cut to a frame."""
    from PIL import Image, features

    src, dst = tmp_path / "what is in", tmp_path / "out"  # " is " in the path, as in the reasons' wording
    src.mkdir()
    _save(src / "p.jpg")
    _save(src / "still.gif")
    if features.check("avif"):
        _save(src / "pic.avif")
    write_clip(src / "clip.mp4", person_frames(3, 64, 48), fps=FPS, audio=False, timecode=None)
    frames = [Image.fromarray(f) for f in person_frames(3, 64, 48)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(src / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    (src / "notes.txt").write_text("not a picture")
    rc, out, err = run("convert", src, "--rgba", f"{dst}/", "--still-passes", "1", "--downsample-ratio", "0.5")
    assert rc == 0, err
    matted = {"p.png", "still.png"} | ({"pic.png"} if features.check("avif") else set())
    assert {p.name for p in dst.iterdir()} == matted
    ignored = {line.split(": ", 1)[0].rsplit("/", 1)[-1]: line for line in out.splitlines()
               if line.startswith("ignored")}
    assert set(ignored) == {"clip.mp4", "anim.gif", "anim.webp", "notes.txt"}, out
    assert ": a video" in ignored["clip.mp4"] and ": animated (3 frames)" in ignored["anim.gif"], ignored
    assert "4 ignored" in out


def test_an_animated_image_is_a_clip_or_one_line(tmp_path):
    """An animated GIF given alone is matted frame by frame, as a clip FFmpeg decodes; an animated WebP (which
    FFmpeg cannot decode) is refused in one line, not cut to its first frame."""
    from PIL import Image

    frames = [Image.fromarray(f) for f in person_frames(3, 64, 48)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run("convert", tmp_path / "anim.gif", "-o", out / "anim.mov", "-q", "--downsample-ratio", "0.5")
    assert rc == 0, err
    assert len(video_pts(out / "anim.mov")[0]) == 3
    refused(out, "animated (3 frames)", "convert", tmp_path / "anim.webp", "-o", out / "a.png", *PHOTO)


def _profile_space(path: Path) -> bytes | None:
    from PIL import Image

    with Image.open(path) as im:
        icc = im.info.get("icc_profile")
    return icc[16:20] if icc else None


def test_a_cmyk_photo_is_converted_through_its_profile_and_tagged_srgb(tmp_path):
    """A CMYK JPEG with its CMYK profile: the outputs hold the colours a colour-managed viewer shows (Pillow's
    ImageCms through the same profile), tagged sRGB, never with the CMYK profile."""
    import io as _io

    from PIL import Image, ImageCms

    cmyk_icc = _icc("default_cmyk.icc")
    rgb = Image.fromarray(person_frames(1, 96, 64)[0])
    srgb = ImageCms.createProfile("sRGB")
    cmyk = ImageCms.profileToProfile(rgb, srgb, ImageCms.ImageCmsProfile(_io.BytesIO(cmyk_icc)), outputMode="CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95, icc_profile=cmyk_icc)
    with Image.open(tmp_path / "c.jpg") as im:
        shown = np.asarray(ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(_io.BytesIO(cmyk_icc)), srgb,
                                                     outputMode="RGB")).astype(float)
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run("convert", tmp_path / "c.jpg", "--rgba", out / "c.png", "--composite", out / "c.webp",
                     "--quality", "100", *PHOTO)
    assert rc == 0, err
    for name in ("c.png", "c.webp"):
        assert _profile_space(out / name) == b"RGB ", name
    rgba = cv2.cvtColor(cv2.imread(str(out / "c.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA).astype(float)
    opaque = rgba[..., 3] == 255
    assert opaque.mean() > 0.05
    assert np.abs(rgba[..., :3][opaque] - shown[opaque]).mean() < 6  # the predicted foreground, where opaque


def test_a_profile_that_does_not_describe_rgb_pixels_is_not_copied_onto_them(tmp_path):
    """An RGB JPEG carrying a Lab profile: its outputs carry no Lab profile (they are untagged RGB)."""
    lab = _icc("lab.icc")
    _save(tmp_path / "l.jpg", quality=95, icc_profile=lab)
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run("convert", tmp_path / "l.jpg", "--rgba", out / "l.png", "--composite", out / "l.jpg", *PHOTO)
    assert rc == 0, err
    assert _profile_space(out / "l.png") in (None, b"RGB ") and _profile_space(out / "l.jpg") in (None, b"RGB ")


def test_a_tiff_turned_by_its_orientation_tag_is_read_upright(tmp_path):
    """OpenCV fails on such a TIFF (its error lines silenced); Pillow reads it, and it comes out upright."""
    from PIL import Image

    rgb = person_frames(1, 96, 64)[0]
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to view
    im.save(tmp_path / "t.tif", exif=exif)
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run("convert", tmp_path / "t.tif", "--composite", out / "t.png", *PHOTO)
    assert rc == 0, err
    assert cv2.imread(str(out / "t.png")).shape[:2] == (96, 64)  # upright: taller than wide


def test_red_and_blue_stay_put_in_a_photo_with_alpha(tmp_path):
    """A photo with its own alpha (RGBA PNG): the matte replaces that alpha, and the colours keep their
    channels (a BGR/RGB mix-up would swap a red shirt for a blue one)."""
    from PIL import Image

    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[...] = (30, 60, 200)  # blue backdrop
    rgb[16:, 30:66] = (220, 20, 20)  # a red figure
    Image.fromarray(np.dstack([rgb, np.full((64, 96), 255, np.uint8)]), "RGBA").save(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    rc, _, err = run("convert", tmp_path / "a.png", "--foreground", out / "f.png", *PHOTO)
    assert rc == 0, err
    back = cv2.cvtColor(cv2.imread(str(out / "f.png")), cv2.COLOR_BGR2RGB).astype(int)
    r, g, b = back[40, 48]
    assert r > 150 and b < 100, back[40, 48]
    r, g, b = back[5, 5]
    assert b > 120 and r < 100, back[5, 5]


def test_an_output_folder_whose_name_starts_like_the_input_folders_is_not_inside_it(media, tmp_path):
    """clips/ into clips_out/ is beside the folder being read, not in it (a string-prefix test would refuse)."""
    src = tmp_path / "clips"
    src.mkdir()
    shutil.copy(media / "clip.mp4", src / "a.mp4")
    rc, _, err = run("convert", src, "--rgba", f"{tmp_path / 'clips_out'}/", "-q", "--downsample-ratio", "0.5")
    assert rc == 0, err
    assert [p.name for p in (tmp_path / "clips_out").iterdir()] == ["a.mov"]


def test_stream_numbers_count_every_stream_as_ffprobe_does(tmp_path, out):
    """A file whose audio is stream 0 and video stream 1: --stream 1 is the video, and --stream 0 is refused
    naming the video streams there are (counting among video streams only would pick the wrong one)."""
    path = tmp_path / "audio_first.mkv"
    with av.open(str(path), "w") as c:
        a = c.add_stream("aac", rate=48000)
        v = c.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        for i, f in enumerate(person_frames(6, 96, 64)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode())
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        silence.sample_rate, silence.pts = 48000, 0
        c.mux(a.encode(silence))
        c.mux(a.encode())
    assert [s.index for s in av.open(str(path)).streams.video] == [1]
    produced(out / "o.mov", 6, None, "convert", path, "--stream", "1", "--rgba", out / "o.mov", "--downsample-ratio",
             "0.5")
    refused(out, "no video stream #0; its video streams: #1", "convert", path, "--stream", "0", "--rgba",
            out / "p.mov")


def test_export_never_writes_over_the_weights_it_reads(tmp_path):
    from vmatte.weights import cached_paths

    w = tmp_path / "W.safetensors"
    shutil.copy(cached_paths("rvm-mobilenetv3")[0], w)
    before = w.read_bytes()
    refused(tmp_path, "never overwrites an input", "export", "onnx", "--weights", w, "-o", w, "--size", "64x64",
            "--downsample-ratio", "0.5")
    assert w.read_bytes() == before


@pytest.fixture()
def read_only_home(tmp_path):
    """A cache folder on a real read-only filesystem (root bypasses file permissions): filled, then remounted
    read-only."""
    d = tmp_path / "home"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root): the read-only cache case is not run")
    try:
        from vmatte.cache import DERIVED

        (d / DERIVED).mkdir()
        (d / DERIVED / "x.onnx").write_bytes(b"0" * 1000)
        (d / DERIVED / "x.onnx.sha256").write_text("0" * 64)
        subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_clearing_a_read_only_cache_is_one_line(read_only_home):
    refused(read_only_home, "read-only", "cache", "clear", env={"VMATTE_HOME": str(read_only_home)})


def test_an_output_folder_that_is_a_file_is_one_line(media, tmp_path):
    (tmp_path / "afile").write_text("x")
    photos = tmp_path / "photos"
    photos.mkdir()
    _save(photos / "p.jpg")
    for src in (media / "clip.mp4", photos):
        refused(tmp_path, "is a file, not a folder", "convert", src, "--rgba", f"{tmp_path / 'afile'}/", *PHOTO)
        refused(tmp_path, "which is a file", "convert", src, "--rgba", f"{tmp_path / 'afile' / 'sub'}/", *PHOTO)


def test_a_stream_that_changes_picture_size_is_refused_not_stretched(tmp_path, out):
    """Two MPEG-TS clips of different sizes joined byte for byte (as recorders and `cat` make them): one line
    naming the frame and both sizes, nothing left; and the writer itself refuses a picture of another size
    (an encoder fed one wrote a wrong picture, exit 0)."""
    from vmatte.io.frames import SourceInfo
    from vmatte.io.sinks import open_sink

    write_clip(tmp_path / "a.ts", person_frames(6, 96, 64), fps=FPS, audio=False, timecode=None, container="mpegts")
    write_clip(tmp_path / "b.ts", person_frames(6, 64, 64), fps=FPS, audio=False, timecode=None, container="mpegts")
    (tmp_path / "joined.ts").write_bytes((tmp_path / "a.ts").read_bytes() + (tmp_path / "b.ts").read_bytes())
    refused(out, "changes picture size at frame 6 (96x64 to 64x64)", "convert", tmp_path / "joined.ts", "--rgba",
            out / "o.mov", "--downsample-ratio", "0.5", "-q")  # -q: the rebuilt-timestamps warning aside
    refused(out, "frames cannot be found by seeking; matte it with --effort default", "convert",
            tmp_path / "joined.ts", "--rgba", out / "o.mov", "--effort", "best")  # it reads the file backwards
    sink = open_sink(out / "w.mov", "rgba", SourceInfo("t", 96, 64, FPS, 1 / FPS), audio=False)
    with pytest.raises(VmatteError, match="a 64x64 picture for a 96x64 stream"):
        sink.write([np.zeros((64, 64), np.uint16)] * 4, 0)
    sink.abort()
    assert list(out.iterdir()) == []
