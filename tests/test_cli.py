"""The command line: bad input gets one line, a non-zero exit, no traceback and no output file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from clitools import assert_clean_failure, sigint_default, vmatte
from conftest import person_frames
from samples.make_sample import write_clip


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    p = tmp_path_factory.mktemp("good") / "good.mov"
    write_clip(p, person_frames(8, 160, 128))
    return p


def test_missing_file(out):
    assert_clean_failure(vmatte("convert", out.parent / "nope.mp4", "--rgba", out / "o.mov"), out, "does not exist")


def test_text_file(out):
    p = out.parent / "notes.mp4"
    p.write_text("this is not a video\n" * 100)
    assert_clean_failure(vmatte("convert", p, "--rgba", out / "o.mov"), out, "not a video")


def test_empty_file(out):
    p = out.parent / "empty.mov"
    p.write_bytes(b"")
    assert_clean_failure(vmatte("convert", p, "--rgba", out / "o.mov"), out, "empty")


def test_truncated_mov(good, out):
    p = out.parent / "cut.mov"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert_clean_failure(vmatte("convert", p, "--rgba", out / "o.mov"), out, "complete")


def test_truncated_mkv(out):
    full = out.parent / "full.mkv"
    write_clip(full, person_frames(90, 160, 128), audio=False, timecode=None)
    p = out.parent / "cut.mkv"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with av.open(str(p)) as c:  # the damage is real: half the frames are gone
        assert sum(1 for _ in c.decode(video=0)) < 60
    assert_clean_failure(vmatte("convert", p, "--rgba", out / "o.mov"), out, "truncated")


def test_audio_only(out):
    p = out.parent / "tone.m4a"
    import numpy as np

    with av.open(str(p), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=48000, layout="mono")
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            for pkt in a.encode(f):
                c.mux(pkt)
        for pkt in a.encode(None):
            c.mux(pkt)
    assert_clean_failure(vmatte("convert", p, "--rgba", out / "o.mov"), out, "audio-only")


def test_unknown_output_type(good, out):
    assert_clean_failure(vmatte("convert", good, "--rgba", out / "o.xyz"), out, "unknown output type")
    assert_clean_failure(vmatte("convert", good, "-o", out / "o.gif"), out, "unknown output type")


def test_wrong_container_for_role(good, out):
    assert_clean_failure(vmatte("convert", good, "--rgba", out / "o.mp4"), out, "cannot hold")


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write, root included: a read-only tmpfs as root, mode 0500 otherwise."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True)
        if res.returncode:
            pytest.skip(f"cannot mount a read-only tmpfs here: {res.stderr.decode().strip()}")
        yield d
        subprocess.run(["umount", str(d)], check=False)
    else:
        d.chmod(0o500)
        yield d
        d.chmod(0o700)


def test_unwritable_path(good, out, read_only):
    assert_clean_failure(vmatte("convert", good, "--rgba", out / "missing" / "o.mov"), out, "does not exist")
    for role, name in (("--rgba", "o.mov"), ("--matte", "m_%04d.png"), ("--report", "r.html")):
        extra = ["--rgba", out / "o.mov"] if role == "--report" else []
        res = vmatte("convert", good, role, read_only / name, *extra)
        assert_clean_failure(res, read_only, "pick a writable output path")
        assert list(out.iterdir()) == []


def test_read_only_filesystem_path(good, out):
    """/proc is read-only even for root."""
    res = vmatte("convert", good, "--rgba", "/proc/vmatte-test.mov")
    assert_clean_failure(res, out, "pick a writable output path")


def test_success_prints_summary(good, out):
    res = vmatte("convert", good, "--rgba", out / "o.mov", "--downsample-ratio", "0.5", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert "8 frames" in res.stdout and (out / "o.mov").exists()


def test_models_list_and_path():
    res = vmatte("models", "list")
    assert res.returncode == 0 and "rvm-mobilenetv3" in res.stdout and "rvm-resnet50" in res.stdout
    res = vmatte("models", "path")
    assert res.returncode == 0 and Path(res.stdout.strip()).exists()
    res = vmatte("models", "pull", "no-such-model")
    assert res.returncode == 2 and "unknown model" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_nothing(tmp_path, sig):
    src = tmp_path / "long.mov"
    write_clip(src, person_frames(400, 320, 240), audio=False, timecode=None)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "vmatte", "convert", str(src), "--rgba", str(out / "o.mov"),
                             "--matte", str(out / "m_%04d.png"), "--downsample-ratio", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".") for p in out.iterdir()):
        time.sleep(0.2)
    time.sleep(1.5)  # well into the clip: frames are being written
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []


def test_folder_batch_resumes_and_reports_bad_files(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a.mov", "b.mov"):
        write_clip(src / name, person_frames(5, 160, 128), audio=False, timecode=None)
    (src / "broken.mp4").write_text("not a video")
    res = vmatte("convert", src, "--rgba", f"{dst}/", "--downsample-ratio", "0.5")
    assert res.returncode == 1
    assert sorted(p.name for p in dst.iterdir()) == ["a.mov", "b.mov"]
    assert "broken.mp4" in res.stderr and "Traceback" not in res.stderr
    a_mtime = (dst / "a.mov").stat().st_mtime_ns
    (dst / "b.mov").unlink()
    res = vmatte("convert", src, "--rgba", f"{dst}/", "--downsample-ratio", "0.5")
    assert "skipped" in res.stdout and "1 matted, 1 skipped, 1 failed" in res.stdout
    assert (dst / "a.mov").stat().st_mtime_ns == a_mtime and (dst / "b.mov").exists()
    with av.open(str(dst / "b.mov")) as c:
        assert c.streams.video[0].frames == 5


def test_folder_outputs_stay_inside(tmp_path):
    """A batch never writes outside the output folder, whatever the input names."""
    import vmatte.dispatch as vc

    src, dst = tmp_path / "in", tmp_path / "deep" / "out"
    src.mkdir()
    write_clip(src / "..mov", person_frames(3, 96, 64), audio=False, timecode=None)
    r = vc.convert(src, rgba=f"{dst}/", downsample_ratio=0.5, progress=False)
    written = [p for p in tmp_path.rglob("*.mov") if src not in p.parents]
    assert all(dst in p.parents for p in written), written
    assert len(r.done) + len(r.failed) == 1


def test_the_progress_bar_ends_at_the_frames_written_when_the_header_guessed_wrong(tmp_path):
    """A variable-rate clip whose duration x rate promises 116 frames and holds 89: the bar, drawn on a
    terminal, ends at 89/89 and stays on screen, not at a stale 69/116 that vanishes."""
    import re
    from fractions import Fraction

    from clitools import vmatte_on_a_terminal
    from conftest import person_frames
    from samples.make_sample import write_clip

    pts = [i * 33 if i < 60 else 60 * 33 + (i - 60) * 66 for i in range(89)]
    src = tmp_path / "vfr.mkv"
    write_clip(src, person_frames(89, 96, 64), fps=Fraction(30), audio=False, timecode=None, pts=pts,
               time_base=Fraction(1, 1000))
    rc, screen = vmatte_on_a_terminal("convert", src, "--composite", tmp_path / "o.mp4", "--downsample-ratio",
                                      "0.5", "--device", "cpu")
    assert rc == 0, screen[-2000:]
    shown = re.findall(r"(\d+)/(\d+) \[", screen)
    assert shown, screen[-2000:]  # it drew on the terminal
    last = screen.rstrip().rsplit("\r", 1)[-1]
    assert re.search(r"\b89/89 \[", last), repr(last)


def test_an_unreadable_backdrop_is_refused_before_the_model_loads(tmp_path):
    """A background file that is not an image: refused first. The weights given are not weights either, and
    loading them would fail with its own message, so the backdrop's message proves the order."""
    from clitools import assert_clean_failure
    from clitools import vmatte as run_cli
    from conftest import person_frames
    from samples.make_sample import write_clip

    src = tmp_path / "in.mp4"
    write_clip(src, person_frames(4, 64, 48), audio=False, timecode=None)
    (tmp_path / "bg.png").write_bytes(b"not a picture at all")
    (tmp_path / "w.safetensors").write_bytes(b"not weights either")
    out = tmp_path / "out"
    out.mkdir()
    res = run_cli("convert", src, "--composite", out / "c.mp4", "--background", tmp_path / "bg.png",
                  "--weights", tmp_path / "w.safetensors", "--device", "cpu")
    assert_clean_failure(res, out, "bg.png")


def test_version_answers_at_once():
    """`vmatte --version` names the installed version, without importing torch."""
    import subprocess
    import sys

    from vmatte import __version__

    code = ("import sys\nfrom vmatte.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
            "    print('exit', e.code)\nprint('torch' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.splitlines() == [f"vmatte {__version__}", "exit 0", "False"], res.stdout + res.stderr
