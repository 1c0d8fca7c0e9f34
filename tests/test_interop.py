"""Our outputs as other people's software reads them: ffprobe and ffmpeg (FFmpeg's command-line tools, not
PyAV), GStreamer, libtiff and ImageMagick, and a UDP receiver that joins a live stream late.

Each reader is a Debian package that `.ci/run` installs. Outside CI a missing reader skips its test, saying
which package brings it; in CI (CI=true) a missing reader fails, so the check cannot quietly vanish."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clitools import vmatte as run_cli
from conftest import person_frames
from samples.make_sample import write_clip

FAST = ["--downsample-ratio", "0.5", "--device", "cpu", "--no-progress", "-q"]


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: .ci/run must install Debian's {package}")
        pytest.skip(f"{name} not installed (Debian's {package})")
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("interop") / "talk.mp4"
    write_clip(p, person_frames(6, 160, 96), fps=Fraction(25), timecode=None)
    return p


@pytest.fixture(scope="module")
def outputs(clip, tmp_path_factory) -> dict[str, Path]:
    """Every YUV video output vmatte writes, from one run each (the CLI, as a user runs it)."""
    d = tmp_path_factory.mktemp("outs")
    runs = {"prores4444.mov": ["--rgba"], "prores422.mov": ["--composite"], "h264.mp4": ["--composite"],
            "vp9a.webm": ["--rgba"], "vp9.webm": ["--composite"], "h264.mkv": ["--composite"], "ffv1.mkv": ["--rgba"]}
    for name, (flag,) in runs.items():
        res = run_cli("convert", clip, flag, d / name, *FAST)
        assert res.returncode == 0, res.stderr
    return {name: d / name for name in runs}


def ffprobe(path: Path, *what: str) -> dict:
    exe = tool("ffprobe", "ffmpeg")
    res = subprocess.run([exe, "-v", "error", "-of", "json", *what, str(path)], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(res.stdout)


@pytest.mark.parametrize("name", ["prores4444.mov", "prores422.mov", "h264.mp4", "vp9a.webm", "vp9.webm",
                                  "h264.mkv", "ffv1.mkv"])
def test_ffprobe_reads_bt709_in_the_stream_and_in_every_frame(outputs, name):
    """What an editor's tools see: the container's tags and each decoded frame's (ProRes's frame header,
    H.264's VUI, VP9's header) agree on BT.709 matrix, primaries and transfer, limited range; FFV1's RGB on
    BT.709 primaries and transfer, no matrix, full range."""
    keys = ("color_space", "color_primaries", "color_transfer", "color_range")
    want = {"color_space": "bt709", "color_primaries": "bt709", "color_transfer": "bt709", "color_range": "tv"}
    if name == "ffv1.mkv":
        want = {**want, "color_space": "gbr", "color_range": "pc"}
    stream = ffprobe(outputs[name], "-select_streams", "v:0", "-show_streams")["streams"][0]
    assert {k: stream.get(k) for k in keys} == want, name
    frames = ffprobe(outputs[name], "-select_streams", "v:0", "-show_frames")["frames"]
    assert len(frames) == 6
    for f in frames:
        assert {k: f.get(k) for k in keys} == want, name


def _opaque_clip(path: Path, encoder: str | None) -> None:
    """Two frames whose alpha is exactly 1.0 over the left half and 0.5 over the right, through vmatte's own
    writer (the sink a convert run opens), so the alpha is known exactly."""
    from vmatte.io.frames import SourceInfo
    from vmatte.io.sinks import open_sink
    from vmatte.pixels import for_sink

    info = SourceInfo("t", 64, 32, Fraction(25), Fraction(1, 25))
    kw = {} if encoder is None else {"prores_encoder": encoder}
    sink = open_sink(path, "rgba", info, audio=False, **kw)
    import torch

    rgba = torch.rand(1, 4, 32, 64)
    rgba[:, 3, :, :32], rgba[:, 3, :, 32:] = 1.0, 0.5
    for i in range(2):
        sink.write(for_sink(rgba, sink), i)
    sink.close()


@pytest.mark.parametrize("encoder", [None, "ks"])
def test_an_opaque_pixel_decodes_as_full_scale_alpha_in_ffmpeg(tmp_path, encoder):
    """ffmpeg's own decode at ProRes's native 12 bits: opaque is 4095, the default encoder included; half is
    half. (ffmpeg's further conversion of 12-bit alpha to 16 bits is a shift, 65520: its quirk, not the file.)"""
    exe = tool("ffmpeg", "ffmpeg")
    path = tmp_path / "a.mov"
    _opaque_clip(path, encoder)
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "yuva444p12le", "-"], capture_output=True, check=True, timeout=60).stdout
    alpha = np.frombuffer(raw, np.uint16).reshape(4, 32, 64)[3]
    assert alpha[:, :32].min() == 4095, alpha[:, :32].min()
    assert abs(int(np.median(alpha[:, 32:])) - 2048) <= 8


def test_the_aw_encoder_says_what_it_does_to_alpha(tmp_path):
    """prores_aw (still offered) tops out below full scale: the help text must not claim otherwise."""
    path = tmp_path / "aw.mov"
    _opaque_clip(path, "aw")
    with av.open(str(path)) as c:
        f = next(c.decode(video=0))
    assert f.format.name == "yuva444p12le"
    assert np.frombuffer(f.planes[3], np.uint16).max() == 4092
    from vmatte.options import OutputOptions

    assert "0.999" in OutputOptions.__dataclass_fields__["prores_encoder"].metadata["spec"].help


def test_gstreamer_decodes_the_prores_file(outputs):
    exe = tool("gst-launch-1.0", "gstreamer1.0-tools, gstreamer1.0-libav, gstreamer1.0-plugins-good")
    for name in ("prores4444.mov", "prores422.mov", "h264.mp4"):
        parse = "" if "prores" in name else "h264parse ! "
        dec = "avdec_prores" if "prores" in name else "avdec_h264"
        res = subprocess.run([exe, "-v", "filesrc", f"location={outputs[name]}", "!", "qtdemux", "!",
                              *parse.split(), dec, "!", "fakesink", "silent=false"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, (name, res.stderr[-2000:])
        assert res.stdout.count("chain") >= 6 or res.stdout.count("last-message") >= 6, (name, res.stdout[-1500:])


def test_a_16_bit_tiff_carries_straight_alpha_for_libtiff_and_imagemagick(tmp_path):
    from PIL import Image

    tiffinfo = tool("tiffinfo", "libtiff-tools")
    identify = tool("identify", "imagemagick")
    src = tmp_path / "p.jpg"
    Image.fromarray(person_frames(1, 96, 64)[0]).save(src, quality=95)
    res = run_cli("convert", src, "-o", tmp_path / "cut.tif", "--still-passes", "1", "--downsample-ratio", "0.5",
                  "--device", "cpu", "-q")
    assert res.returncode == 0, res.stderr
    info = subprocess.run([tiffinfo, str(tmp_path / "cut.tif")], capture_output=True, text=True, timeout=60)
    assert "Extra Samples: 1<unassoc-alpha>" in info.stdout, info.stdout
    assert "Bits/Sample: 16" in info.stdout and "Samples/Pixel: 4" in info.stdout
    assert "doesn't match" not in info.stderr and "Warning" not in info.stderr, info.stderr
    verbose = subprocess.run([identify, "-verbose", str(tmp_path / "cut.tif")], capture_output=True, text=True,
                             timeout=60).stdout
    assert "tiff:alpha: unassociated" in verbose and "Type: TrueColorAlpha" in verbose, verbose[:1500]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join_late(tmp_path: Path, receiver: list[str], frames: int = 100) -> subprocess.CompletedProcess:
    """`vmatte live` plays a generated 10 fps clip in real time to udp://127.0.0.1:PORT; `receiver` (its
    arguments, with {url} and {port} filled in) starts 2 s after the first packet arrived, as a viewer that
    joins late; its result once it ends."""
    src = tmp_path / "talk.mp4"
    write_clip(src, person_frames(frames, 160, 96), fps=Fraction(10), audio=False, timecode=None)
    port = _free_udp_port()
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listen.bind(("127.0.0.1", port))
    listen.settimeout(120)
    sender = subprocess.Popen([sys.executable, "-m", "vmatte", "live", "--source", str(src), "--realtime",
                               "--sink", f"udp://127.0.0.1:{port}", "--downsample-ratio", "0.5", "--device",
                               "cpu", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        listen.recv(2048)  # the stream has begun
        listen.close()
        time.sleep(2.0)
        args = [a.format(url=f"udp://127.0.0.1:{port}", port=port) for a in receiver]
        got = subprocess.run(args, capture_output=True, text=True, timeout=60)
    finally:
        _, err = sender.communicate(timeout=120)
    assert sender.returncode == 0, err
    return got


def test_a_receiver_that_joins_a_live_udp_stream_late_shows_a_picture_within_a_second(tmp_path):
    """An ffprobe that joins 2 s late decodes a frame within 1 s of stream time of the first packet it got
    (one keyframe interval, --keyframe-seconds 1)."""
    exe = tool("ffprobe", "ffmpeg")
    probe = _join_late(tmp_path, [exe, "-v", "error", "-timeout", "3000000", "-i", "{url}", "-show_packets",
                                  "-show_frames", "-select_streams", "v:0", "-of", "json"])
    shown = json.loads(probe.stdout or "{}").get("packets_and_frames", [])  # both asked for: one list, in order
    packets = [float(p["pts_time"]) for p in shown if p.get("type") == "packet" and "pts_time" in p]
    frames = [float(f["pts_time"]) for f in shown if f.get("type") == "frame" and "pts_time" in f]
    assert packets, probe.stderr[-2000:]
    assert frames, "the late receiver decoded no frame: " + probe.stderr[-2000:]
    assert min(packets) > 1.5  # it did join late
    assert min(frames) - min(packets) <= 1.0 + 0.1 + 1e-6, (min(packets), min(frames))


@pytest.fixture()
def plain_http_server(tmp_path):
    """Python's own http.server over a folder: it serves no byte ranges (every request gets the whole file),
    as many simple servers do."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_mp4_with_its_index_at_the_end_from_a_server_without_ranges_is_explained(plain_http_server, tmp_path):
    """FFmpeg reads to the index at the end and cannot seek back: say that, and what to do, not 'damaged'.
    The advice holds: the same clip with its index first (faststart) converts from the same server."""
    served, base = plain_http_server
    rng = np.random.default_rng(0)
    write_clip(served / "late.mp4", (rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(60)),
               fps=Fraction(25), audio=False, timecode=None)
    assert (served / "late.mp4").stat().st_size > 300_000  # well past FFmpeg's read-ahead
    with av.open(str(served / "late.mp4")) as src, av.open(str(served / "first.mp4"), "w",
                                                          options={"movflags": "faststart"}) as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for p in src.demux(src.streams.video[0]):
            if p.dts is not None:
                p.stream = s
                dst.mux(p)
    out = tmp_path / "o"
    out.mkdir()
    res = run_cli("convert", f"{base}/late.mp4", "--composite", out / "c.mp4", *FAST)
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1, err
    assert "byte ranges" in err and "faststart" in err and "damaged" not in err, err
    assert list(out.iterdir()) == []
    res = run_cli("convert", f"{base}/first.mp4", "--composite", out / "c.mp4", *FAST)
    assert res.returncode == 0, res.stderr


def test_the_command_lines_default_prores_keeps_the_networks_opaque_pixels_opaque(outputs):
    """Through `vmatte convert --rgba x.mov` as a user runs it (the default encoder, the real network, whose
    alpha saturates at 1.0 inside the person): ffmpeg's 12-bit decode has full-scale alpha there."""
    exe = tool("ffmpeg", "ffmpeg")
    path = outputs["prores4444.mov"]
    with av.open(str(path)) as c:
        w, h = c.streams.video[0].width, c.streams.video[0].height
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuva444p12le", "-"],
                         capture_output=True, check=True, timeout=60).stdout
    alpha = np.frombuffer(raw, np.uint16).reshape(-1, 4, h, w)[:, 3]
    assert alpha.max() == 4095 and (alpha == 4095).mean() > 0.05, (alpha.max(), (alpha == 4095).mean())


def test_gstreamer_decodes_a_live_udp_stream_it_joins_late(tmp_path):
    """GStreamer (udpsrc, tsdemux, h264parse, avdec_h264), started 2 s into a live udp:// session, decodes
    frames of it: what an OBS or a GStreamer pipeline on the receiving side sees."""
    exe = tool("gst-launch-1.0", "gstreamer1.0-tools, gstreamer1.0-plugins-bad, gstreamer1.0-libav")
    gst = _join_late(tmp_path, [exe, "-v", "udpsrc", "port={port}", "address=127.0.0.1",
                                "caps=video/mpegts,systemstream=(boolean)true", "!", "tsdemux", "!", "h264parse",
                                "!", "avdec_h264", "!", "fakesink", "silent=false", "num-buffers=5"], frames=80)
    assert gst.returncode == 0, gst.stderr[-2000:]
    assert gst.stdout.count("chain") >= 5, gst.stdout[-2000:]
