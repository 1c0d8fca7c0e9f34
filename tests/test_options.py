"""One validated set of options: every bad value, preset or spec gets one line and exit 2, before any
model loads, from the command line and from the Python API alike; URL sources; live leaves nothing."""
from __future__ import annotations

import functools
import http.server
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest

import vmatte
from clitools import PROBE, assert_clean_failure, sigint_default
from clitools import vmatte as run
from conftest import person_frames
from readback import decode
from samples.make_sample import write_clip
from vmatte.errors import VmatteError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("opts") / "clip.mov"
    write_clip(p, person_frames(10, 160, 120), audio=False, timecode=None)
    return p


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    import cv2

    d = tmp_path_factory.mktemp("seq")
    for i, f in enumerate(person_frames(3, 64, 48)):
        cv2.imwrite(str(d / f"f_{i:03d}.png"), f[..., ::-1])
    return d


# (command line after the subcommand's source, what the error line must say)
CONVERT_BAD = [
    (["--downsample-ratio", "abc"], "--downsample-ratio: 'abc' is not a number > 0 and <= 1"),
    (["--downsample-ratio", "0"], "--downsample-ratio"),
    (["--matte-choke", "nan"], "--matte-choke: 'nan' is not a number"),
    (["--matte-choke", "100000"], "--matte-choke: '100000' is out of range; give a number >= -64 and <= 64"),
    (["--despill", "2"], "--despill: '2' is out of range"),
    (["--feather", "-1"], "--feather: '-1' is out of range"),
    (["--background", "blur:nan"], "--background blur:SIGMA: 'nan' is not a number"),
    (["--background", "blur:-5"], "--background blur:SIGMA: '-5' is out of range"),
    (["--background", "nosuchcolour"], "--background: 'nosuchcolour' is not a colour"),
    (["--device", "mps"], "--device: 'mps' is not auto, cpu, cuda or cuda:N"),
    (["--subject", "foo"], "invalid choice: 'foo'"),
    (["--crf", "99"], "--crf: '99' is out of range; give a whole number >= 0 and <= 63"),
    (["--crf", "1.5"], "--crf: '1.5' is not a whole number"),
    (["--warmup", "-1"], "--warmup"),
    (["--weights", "/nonexistent/w.pth"], "--weights: /nonexistent/w.pth does not exist"),
]


@pytest.mark.parametrize("args,hint", CONVERT_BAD, ids=[" ".join(a) for a, _ in CONVERT_BAD])
def test_bad_convert_option_is_one_line_before_the_model(clip, out, args, hint):
    res = run("convert", clip, "--rgba", out / "o.mov", *args)
    assert_clean_failure(res, out, hint, model_free=True)


def test_image_sequence_rate_is_checked(frames_dir, out):
    for fps, hint in (("nan", "--fps: 'nan' is not a number"), ("0", "--fps: '0' is out of range"),
                      ("-5", "--fps: '-5' is out of range")):
        res = run("convert", frames_dir, "--rgba", out / "o_%03d.png", "--fps", fps)
        assert_clean_failure(res, out, hint, model_free=True)


def test_codec_range_names_the_option(clip, out):
    """The option model allows crf up to 63 (VP9); H.264 stops at 51, and that is said per output."""
    res = run("convert", clip, "--composite", out / "c.mp4", "--crf", "60")
    assert_clean_failure(res, out, "--crf: 60 is out of range for libx264")


LIVE_BAD = [
    (["--subject", "foo"], "invalid choice: 'foo'"),
    (["--matte-choke", "nan"], "--matte-choke: 'nan' is not a number"),
    (["--background", "blur:nan"], "--background blur:SIGMA"),
    (["--device", "mps"], "--device: 'mps'"),
    (["--sink", "udp://127.0.0.1"], "needs a host and a port from 1 to 65535"),
    (["--sink", "udp://127.0.0.1:99999"], "needs a host and a port from 1 to 65535"),
    (["--sink", "out.gif"], "--sink: 'out.gif' is not virtual, preview"),
    (["--fps", "nan"], "--fps: 'nan' is not a number"),
    (["--fps", "0"], "--fps: '0' is out of range"),
    (["--max-frames", "0"], "--max-frames: '0' is out of range; give a whole number >= 1"),
    (["--width", "abc"], "--width: 'abc' is not a whole number"),
]


@pytest.mark.parametrize("args,hint", LIVE_BAD, ids=[" ".join(a) for a, _ in LIVE_BAD])
def test_bad_live_option_is_one_line_before_the_model(clip, out, args, hint):
    sink = [] if "--sink" in args else ["--sink", str(out / "rec.mp4")]
    res = run("live", "--source", clip, *sink, *args, cwd=out)
    assert_clean_failure(res, out, hint, model_free=True)


def test_api_raises_the_same_error():
    with pytest.raises(VmatteError, match="--downsample-ratio: 'abc' is not a number > 0 and <= 1"):
        vmatte.convert("whatever.mp4", rgba="o.mov", downsample_ratio="abc")
    with pytest.raises(VmatteError, match="--despill: 2 is out of range"):
        vmatte.MattingOptions(despill=2)
    with pytest.raises(VmatteError, match="unknown option"):
        vmatte.convert("whatever.mp4", rgba="o.mov", no_such_option=1)
    from vmatte import live

    with pytest.raises(VmatteError, match="needs a host and a port"):
        live("0", "udp://127.0.0.1")


PRESETS = [
    (b"\x00\x01\xff\xfe binary \x89PNG", "is not a YAML text file"),
    (b"sink: [a, b]\n", "sink: --sink: expected text, got list"),
    (b"background: 0x00ff00\n", "background: --background: expected text, got int 65280; quote it"),
    (b"downsample_ratio: abc\n", "downsample_ratio: --downsample-ratio: 'abc'"),
    (b"no_such_option: 1\n", "unknown option 'no_such_option'"),
    (b"- just\n- a list\n", "must be a mapping"),
    (b"mirror: maybe\n", "mirror: --mirror: 'maybe' is not true or false"),
]


@pytest.mark.parametrize("text,hint", PRESETS, ids=[h for _, h in PRESETS])
def test_bad_preset_names_key_and_file(out, clip, text, hint):
    cfg = out.parent / "preset.yaml"
    cfg.write_bytes(text)
    res = run("live", "--config", cfg, "--source", clip, "--sink", out / "o.mp4")
    assert_clean_failure(res, out, hint, model_free=True)
    assert str(cfg) in res.stderr


def test_preset_camera_index_may_be_unquoted(out):
    """`source: 0` in YAML is the number 0: it means camera 0 (none exists here)."""
    cfg = out.parent / "cam.yaml"
    cfg.write_text("source: 0\nsink: " + str(out / "o.mp4") + "\n")
    res = run("live", "--config", cfg, "--device", "cpu")
    assert_clean_failure(res, out, "camera 0 could not be opened")


def test_convert_takes_presets_too(clip, out):
    cfg = out.parent / "c.yaml"
    cfg.write_text("downsample_ratio: 0.5\ndevice: cpu\nwarmup: 0\n")
    res = run("convert", clip, "-o", out / "o.mov", "--config", cfg, "-q")
    assert res.returncode == 0, res.stderr
    assert len(decode(out / "o.mov", "rgba64le")) == 10


@pytest.mark.parametrize("args,hint", [
    (["--precision", "fp16"], "--precision fp16 needs a CUDA device"),
    (["--weights", "{bad}"], "is not a readable .pth checkpoint"),
])
def test_live_failure_after_its_file_sink_opened_leaves_nothing(clip, out, args, hint):
    bad = out.parent / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    args = [a.replace("{bad}", str(bad)) for a in args]
    res = run("live", "--source", clip, "--sink", out / "rec.mp4", "--device", "cpu", *args)
    assert_clean_failure(res, out, hint)


def test_live_ctrl_c_soon_after_start_leaves_nothing_partial(tmp_path, out):
    """SIGINT 1.5 s in, to a session on a minute-long clip: either before the session started (nothing kept)
    or during it (the recording closed and complete); exit 130 either way. Never a hidden temporary."""
    clip = tmp_path / "minute.mkv"
    loop = person_frames(30, 160, 120)
    write_clip(clip, (loop[i % 30] for i in range(1800)), fps=Fraction(30), audio=False, timecode=None)
    proc = subprocess.Popen([sys.executable, "-c", PROBE, "live", "--source", str(clip), "--realtime", "--sink",
                             str(out / "rec.mp4"), "--device", "cpu", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    assert proc.returncode == 130, err
    names = sorted(p.name for p in out.iterdir())
    assert names in ([], ["rec.mp4"]), names
    if names:
        assert 1 <= len(decode(out / "rec.mp4", "rgb24")) < 1800
    else:
        assert "no partial output was kept" in err


@pytest.fixture
def served(clip):
    """The clip's folder served over HTTP on 127.0.0.1 (an ephemeral port), for as long as the test runs."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    server.shutdown()
    server.server_close()


def test_url_source_for_convert_and_live(served, out):
    res = run("convert", served, "-o", out / "o.mov", "--downsample-ratio", "0.5", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert len(decode(out / "o.mov", "rgba64le")) == 10
    res = run("convert", served, "--rgba", f"{out}/batch/", "--downsample-ratio", "0.5", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert [p.name for p in (out / "batch").iterdir()] == ["clip.mov"]
    res = run("live", "--source", served, "--sink", out / "live.mp4", "--downsample-ratio", "0.5", "--device",
              "cpu", "-q")
    assert res.returncode == 0, res.stderr
    assert len(decode(out / "live.mp4", "rgb24")) == 10


def test_missing_url_is_one_line(out):
    res = run("convert", "http://127.0.0.1:9/nothing.mp4", "-o", out / "o.mov")
    assert_clean_failure(res, out, "cannot open http://127.0.0.1:9/nothing.mp4")


@pytest.mark.parametrize("command", ["convert", "report", "live", "export", "models", "cache"])
def test_help_lists_every_option_without_torch(command):
    res = run(command, "--help")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "usage: vmatte" in res.stdout and not res.torch_imported
    if command == "convert":
        for flag in ("--downsample-ratio", "--max-pixels", "--stream", "--matte-choke", "--prores-encoder", "-q"):
            assert flag in res.stdout


@pytest.mark.parametrize("bad", [["talk.mp4"], 3, None, b"talk.mp4", "  "], ids=["list", "int", "None", "bytes",
                                                                                 "blank"])
def test_api_input_of_another_type_is_a_vmatte_error(bad):
    """Python callers get the one error type, naming what was given, not a bare TypeError."""
    with pytest.raises(VmatteError, match="input: give a file, folder or URL"):
        vmatte.convert(bad, rgba="o.mov")


def _bounded():
    from dataclasses import fields

    from vmatte.options import LiveOptions, MattingOptions, OutputOptions, ScaleOptions
    from vmatte.optionspec import spec_of

    for cls in (MattingOptions, OutputOptions, ScaleOptions, LiveOptions):
        for f in fields(cls):
            spec = spec_of(f)
            if spec.kind in (int, float) and spec.choices is None and (spec.low is not None or spec.high is not None):
                yield pytest.param(cls, f.name, spec, id=f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize("cls, name, spec", list(_bounded()))
def test_every_range_takes_its_ends_and_refuses_beyond(cls, name, spec):
    """Both ends of each declared range are accepted (--despill 1, --downsample-ratio 1, --quality 100), except
    an open low end; one step beyond is refused."""
    step = 1 if spec.kind is int else 1e-3
    if spec.high is not None:
        assert getattr(cls.pick({name: spec.high}), name) == spec.high
        with pytest.raises(VmatteError, match="out of range"):
            cls.pick({name: spec.high + step})
    if spec.low is not None:
        if spec.open_low:
            with pytest.raises(VmatteError):
                cls.pick({name: spec.low})
            assert getattr(cls.pick({name: spec.low + step}), name) == spec.low + step
        else:
            assert getattr(cls.pick({name: spec.low}), name) == spec.low
            with pytest.raises(VmatteError, match="out of range"):
                cls.pick({name: spec.low - step})


def test_downsample_ratio_takes_one_and_refuses_beyond():
    from vmatte.options import MattingOptions

    assert MattingOptions.pick({"downsample_ratio": "1"}).downsample_ratio == 1.0
    assert MattingOptions.pick({"downsample_ratio": 1}).downsample_ratio == 1.0
    for bad in (1.001, 0, -0.5):
        with pytest.raises(VmatteError, match="--downsample-ratio"):
            MattingOptions.pick({"downsample_ratio": bad})
