"""Live mode, driven by files played as live sources; the virtual camera through a recording backend."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clitools import sigint_default
from conftest import person_frames
from readback import decode
from samples.make_sample import write_clip
from vmatte import live
from vmatte.engine import Matter


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("live") / "cam.mov"
    write_clip(p, person_frames(24, 160, 120), fps=Fraction(30000, 1001), audio=False, timecode=None)
    return p


class Recorder:
    """A pyvirtualcam backend that keeps what it is sent (no v4l2loopback can exist on these machines)."""

    frames: list[np.ndarray] = []
    senders: set[str] = set()  # the threads that sent: one, or frames can land out of order
    opened: dict = {}

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        Recorder.frames, Recorder.senders = [], set()
        Recorder.opened = dict(width=width, height=height, fps=fps, fourcc=fourcc)

    def send(self, frame):
        Recorder.frames.append(frame.copy())
        Recorder.senders.add(threading.current_thread().name)

    def close(self):
        Recorder.opened["closed"] = True

    def device(self):
        return "recorder"

    def native_fourcc(self):
        return None


@pytest.fixture
def recorder(monkeypatch):
    import pyvirtualcam

    pyvirtualcam.register_backend("vmatte-test", Recorder)
    monkeypatch.setenv("VMATTE_VIRTUAL_CAMERA_BACKEND", "vmatte-test")
    return Recorder


def test_file_sink_gets_every_frame_frame_accurate(clip, tmp_path, model):
    out, stats_path = tmp_path / "rec.mp4", tmp_path / "stats.json"
    s = live(str(clip), str(out), background="#0000ff", stats_json=stats_path, downsample_ratio=0.5,
             device="cpu", quiet=True)
    assert s.frames_in == s.frames_out == 24 and s.frames_dropped == 0
    stats = json.loads(stats_path.read_text())
    assert set(stats) == {"frames_in", "frames_out", "frames_dropped", "fps", "latency_ms", "sink_ms", "stage_ms_p50",
                          "first_second_ms", "first_second_frames", "interrupted", "browser_ms", "browser_frames"}
    assert 0 < stats["first_second_ms"]["max"] <= stats["latency_ms"]["max"]
    assert stats["interrupted"] is False
    assert set(stats["latency_ms"]) == {"p50", "p95", "max"} and stats["latency_ms"]["max"] > 0
    assert set(stats["sink_ms"]) == {"p50", "p95", "max"} and stats["sink_ms"]["max"] > 0
    got = decode(out, "rgb24")
    assert len(got) == 24
    m = Matter(model, 0.5)
    with av.open(str(clip)) as c:
        src = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    blue = np.array([0, 0, 1.0])
    errs, prev_pha = [], None
    for img, g in zip(src, got):
        r = m(img)
        fgr, pha = r.fgr[0].permute(1, 2, 0).numpy(), r.pha[0, 0].numpy()[..., None]
        want = fgr * pha + blue * (1 - pha)
        errs.append(np.abs(g / 255 - want).mean())
        if prev_pha is not None:  # the alpha of the previous frame would not do: the matte is not lagging
            lag = fgr * prev_pha + blue * (1 - prev_pha)
            assert np.abs(g / 255 - lag).mean() > errs[-1]
        prev_pha = pha
    assert max(errs) < 3 / 255


def test_realtime_source_paces_and_counts(clip, tmp_path):
    s = live(str(clip), str(tmp_path / "rt.mp4"), realtime=True, downsample_ratio=0.25, device="cpu", quiet=True,
             background="green")
    assert s.frames_in == 24 and s.frames_out + s.frames_dropped == 24
    assert 0 < s.latency_ms["p50"] <= s.latency_ms["p95"] <= s.latency_ms["max"]
    assert s.fps <= 30000 / 1001 * 1.1  # paced to the clip, not faster


def test_transparent_background_needs_alpha_sink(clip, tmp_path):
    s = live(str(clip), str(tmp_path / "a.mov"), background="transparent", downsample_ratio=0.5, device="cpu",
             quiet=True, max_frames=6)
    assert s.frames_out == 6
    assert decode(tmp_path / "a.mov", "rgba64le")[0].shape == (120, 160, 4)
    from vmatte.errors import VmatteError

    with pytest.raises(VmatteError, match="cannot hold|carries alpha"):
        live(str(clip), str(tmp_path / "b.mp4"), background="transparent", device="cpu", quiet=True)
    assert not (tmp_path / "b.mp4").exists()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_stream_on_loopback(clip):
    port = free_udp_port()
    received: list[np.ndarray] = []
    ready = threading.Event()

    def receive():
        with av.open(f"udp://127.0.0.1:{port}?timeout=8000000&fifo_size=1000000&overrun_nonfatal=1",
                     format="mpegts", options={"probesize": "32768", "analyzeduration": "0"}) as c:
            for f in c.decode(video=0):
                received.append(f.to_ndarray(format="rgb24"))
                if len(received) >= 24:
                    return

    t = threading.Thread(target=lambda: (ready.set(), receive()), daemon=True)
    t.start()
    ready.wait()
    import time

    time.sleep(0.5)
    s = live(str(clip), f"udp://127.0.0.1:{port}", background="green", downsample_ratio=0.5, device="cpu",
             quiet=True)
    t.join(timeout=20)
    assert s.frames_out == 24
    assert len(received) >= 20  # MPEG-TS over UDP: the receiver may miss the very first packets
    assert received[-1].shape == (120, 160, 3)
    assert received[-1][..., 1].mean() > received[-1][..., 0].mean()  # green background arrived


def test_virtual_camera_boundary(clip, recorder):
    s = live(str(clip), "virtual", background="blur:5", downsample_ratio=0.5, device="cpu", quiet=True)
    assert recorder.opened["width"] == 160 and recorder.opened["height"] == 120 and recorder.opened["closed"]
    assert len(recorder.frames) == s.frames_out == 24
    assert recorder.frames[0].size == 160 * 120 * 3  # RGB, as asked for


def test_missing_v4l2loopback_is_one_line():
    res = subprocess.run([sys.executable, "-m", "vmatte", "live", "--source", "/nonexistent.mp4", "--sink",
                          "virtual"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "does not exist" in res.stderr
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src = f"{d}/c.mov"
        write_clip(src, person_frames(3, 64, 48), audio=False, timecode=None)
        res = subprocess.run([sys.executable, "-m", "vmatte", "live", "--source", src, "--sink", "virtual"],
                             capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "modprobe v4l2loopback" in res.stderr


# A figure that moves 6 px right each frame: every frame is told apart from the others by its matte.
MOVING = [np.roll(person_frames(1, 96, 64)[0], 6 * i, axis=1) for i in range(12)]


class FlakyCamera:
    """Stands in for cv2.VideoCapture: delivers frames, loses the device for a while, comes back."""

    opens = 0
    frames: list[np.ndarray] = []

    def __init__(self, device, script):
        FlakyCamera.opens += 1
        self.script = script  # shared list of booleans: True = a frame, False = a failed read

    def isOpened(self):
        return True

    def set(self, *a):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        if not self.script:
            raise KeyboardInterrupt  # end of the scripted session: the user presses Ctrl-C
        ok = self.script.pop(0)
        if not ok:
            return False, None
        img = MOVING[len(FlakyCamera.frames)]  # a figure that moves from frame to frame
        FlakyCamera.frames.append(img)
        return True, img[..., ::-1].copy()

    def release(self):
        pass


def test_camera_loss_is_retried_and_virtual_camera_kept_fed(recorder, monkeypatch, model):
    """The camera delivers 5 frames, fails, is reopened after the backoff and delivers 5 more. The virtual
    camera gets the composite of each frame matted, and while the camera is away it keeps getting the
    last frame (never nothing, never black).

    A live buffer may drop frames when the network lags (which ones depends on timing), and the recurrent
    state follows the frames actually matted. So each output is matched, in order, to the first captured
    frame after the last one matched whose exact composite it is, the network's state carried from the
    frames matched before (a fresh matte cannot tell them apart: after the camera's gap the carried state
    pulls frame 5's matte towards frame 4's)."""
    script = [True] * 5 + [False] + [True] * 5
    FlakyCamera.opens, FlakyCamera.frames = 0, []
    monkeypatch.setattr("vmatte.io.camera.open_capture", lambda dev: FlakyCamera(dev, script))
    s = live("0", "virtual", background="green", downsample_ratio=0.5, device="cpu", quiet=True,
             scene_cuts="ignore")
    assert FlakyCamera.opens == 2  # reopened after the loss
    assert s.frames_in == 10 and s.frames_out + s.frames_dropped == 10
    # Everything reaches the camera from the sink's one thread, repeats too: a repeat sent from another
    # thread could land after a newer frame still in the hand-off queue (the test once saw [3, 4, 8, 8, 9]).
    assert recorder.senders == {"vmatte-sink"}, recorder.senders
    green = np.array([0, 177, 64]) / 255

    def composite(m, img):
        r = m(img)
        fgr, pha = r.fgr[0].permute(1, 2, 0).numpy(), r.pha[0, 0].numpy()[..., None]
        return (fgr * pha + green * (1 - pha)) * 255

    outputs, fillers = [], 0
    for i, got in enumerate(recorder.frames):
        if i and np.array_equal(got, recorder.frames[i - 1]):
            fillers += 1  # the last frame again: the camera was away
            continue
        outputs.append(got.astype(float))
    assert len(outputs) == s.frames_out
    m, order = Matter(model, 0.5), []
    for got in outputs:
        state, errs = m.get_state(), []
        for j in range(order[-1] + 1 if order else 0, len(FlakyCamera.frames)):
            e = composite(m, FlakyCamera.frames[j])
            errs.append(np.abs(got.reshape(e.shape) - e).mean())
            if errs[-1] < 1:
                order.append(j)
                break
            if state is None:  # back to the state before this output's trial
                m.reset()
            else:
                m.set_state(state, FlakyCamera.frames[j])
        else:
            raise AssertionError(f"output {len(order)} is no later frame's composite (mean errors {errs})")
    assert fillers >= 2  # the camera was away for >= 0.5 s of backoff: the virtual camera kept receiving


def test_resolution_change_resets_state(model):
    m = Matter(model, 0.5)
    a, b = person_frames(2, 96, 64), person_frames(2, 128, 96)
    m(a[0])
    m(a[1])
    r = m(b[0])
    fresh = Matter(model, 0.5)(b[0])
    assert r.pha.shape == (1, 1, 96, 128)
    assert np.abs(r.pha.numpy() - fresh.pha.numpy()).max() < 1e-6


def test_config_preset(tmp_path, clip):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("background: green\ndownsample_ratio: 0.5\nmax_frames: 4\ndevice: cpu\n")
    out = tmp_path / "o.mp4"
    res = subprocess.run([sys.executable, "-m", "vmatte", "live", "--config", str(cfg), "--source", str(clip),
                          "--sink", str(out), "-q"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert len(decode(out, "rgb24")) == 4
    cfg.write_text("no_such_option: 1\n")
    res = subprocess.run([sys.executable, "-m", "vmatte", "live", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 2 and "unknown option" in res.stderr


def test_image_background_fill_and_fit(clip, tmp_path):
    import cv2

    bg = tmp_path / "bg.png"
    img = np.zeros((40, 160, 3), np.uint8)
    img[:] = (0, 0, 255)  # a wide red image (BGR)
    cv2.imwrite(str(bg), img)
    for fit in ("fill", "fit"):
        out = tmp_path / f"{fit}.mp4"
        live(str(clip), str(out), background=str(bg), background_fit=fit, downsample_ratio=0.5, device="cpu",
             quiet=True, max_frames=2)
        corner = decode(out, "rgb24")[0][2:8, 2:8].mean(axis=(0, 1))
        if fit == "fill":
            assert corner[0] > 180 and corner[2] < 60  # covered: red reaches the corner
        else:
            assert corner.max() < 40  # fitted: black bars above and below the wide image


def test_live_resets_at_a_hard_cut(tmp_path, model):
    """Two shots in one file, through live mode into ProRes 4444 (its alpha is lossless): the first frame
    after the cut has the alpha of a fresh start, not of the state carried from the other shot."""
    a = person_frames(8, 160, 120, seed=0)
    b = [255 - f[::-1].copy() for f in person_frames(8, 160, 120, seed=1)]  # another shot: flipped, inverted
    clip = tmp_path / "cut.mkv"
    write_clip(clip, a + b, fps=Fraction(30), codec="ffv1", pix_fmt="bgr0", audio=False, timecode=None)
    out = tmp_path / "o.mov"
    s = live(str(clip), str(out), background="transparent", downsample_ratio=0.5, device="cpu", quiet=True)
    assert s.frames_out == 16
    got = [f[..., 3] / 65535 for f in decode(out, "rgba64le")]
    carried, fresh = Matter(model, 0.5), Matter(model, 0.5)
    for img in a:
        carried(img)
    want_carried = carried(b[0]).pha[0, 0].numpy()
    want_fresh = fresh(b[0]).pha[0, 0].numpy()
    assert np.abs(want_carried - want_fresh).mean() > 5e-3  # the state matters on this frame
    assert np.abs(got[8] - want_fresh).mean() < 1e-3
    assert np.abs(got[8] - want_carried).mean() > np.abs(got[8] - want_fresh).mean() * 5


RECORDING_RUNNER = """
import json, os, sys
import pyvirtualcam
from vmatte.cli import main

class Recorder:
    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.n = 0
    def send(self, frame):
        self.n += 1
        if self.n == 1:
            open(sys.argv[1] + ".started", "w").close()
    def close(self):
        open(sys.argv[1], "w").write(json.dumps({"frames": self.n, "closed": True}))
    def device(self):
        return "recorder"
    def native_fourcc(self):
        return None

pyvirtualcam.register_backend("vmatte-test", Recorder)
os.environ["VMATTE_VIRTUAL_CAMERA_BACKEND"] = "vmatte-test"
sys.exit(main(sys.argv[2:]))
"""


def test_ctrl_c_ends_a_virtual_camera_session_cleanly(tmp_path):
    """A real SIGINT to a live process feeding the virtual camera: the camera is closed, exit 130."""
    import signal
    import time

    clip = tmp_path / "long.mkv"
    loop = person_frames(60, 96, 64)  # a minute: still running when the signal comes, however loaded the machine
    write_clip(clip, (loop[i % 60] for i in range(1800)), fps=Fraction(30), audio=False, timecode=None)
    done = tmp_path / "recorder.json"
    proc = subprocess.Popen([sys.executable, "-c", RECORDING_RUNNER, str(done), "live", "--source", str(clip),
                             "--realtime", "--sink", "virtual", "--device", "cpu", "--downsample-ratio", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    deadline = time.time() + 120
    while not Path(f"{done}.started").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)  # the session is running: frames reach the virtual camera
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted" in err
    rec = json.loads(done.read_text())
    assert rec["closed"] and 0 < rec["frames"] < 1800


def test_live_timings_stay_bounded_however_long_the_session():
    """A day at 30 fps is 2.6 million frames: the timings kept for the percentiles stop growing, the
    maximum stays exact and the percentiles stay close."""
    from vmatte.stats import Samples, percentiles

    rng = np.random.default_rng(0)
    data = rng.gamma(4, 0.005, 200_000)
    s = Samples(keep=5_000)
    for v in data:
        s.add(float(v))
    assert len(s.values) == 5_000 and len(s) == 200_000 and len(s.recent) == 100
    got, want = percentiles(s), percentiles(list(data))
    assert got["max"] == want["max"]
    assert abs(got["p95"] - want["p95"]) < 0.05 * want["p95"] and abs(got["p50"] - want["p50"]) < 0.05 * want["p50"]


def test_first_second_counts_the_frames_captured_in_the_first_second(tmp_path, model):
    """A 60 fps clip played in real time for 3 s: the first-second figure covers the frames captured in the
    session's first second (at most 61), not the first `fps` frames handed out, whenever those were captured."""
    from samples.make_sample import write_clip

    clip = tmp_path / "fast.mp4"
    write_clip(clip, person_frames(180, 96, 64), fps=Fraction(60), audio=False, timecode=None)
    s = live(str(clip), str(tmp_path / "o.mp4"), realtime=True, background="#0000ff", downsample_ratio=0.5,
             device="cpu", quiet=True)
    assert s.frames_out > 61
    assert 1 <= s.first_second_frames <= 61
    assert s.first_second_ms["max"] <= s.latency_ms["max"]


def test_the_automatic_ratio_probe_says_what_it_is_doing_before_it_starts(model, caplog):
    """The probe can take tens of seconds on a loaded machine: it says so first (on the `vmatte.live`
    logger, which the command line prints as `vmatte live: ...`), not silently."""
    import logging

    from vmatte.engine.probe import keep_up_ratio

    caplog.set_level(logging.INFO, logger="vmatte")
    keep_up_ratio(model, "auto", 96, 64, 1000.0, 1.0, lambda m: m.pha, quiet=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "vmatte.live" and r.levelno >= logging.WARNING]
    assert lines and "measuring which downsample ratio keeps up with 1e+03 fps at 96x64" in lines[0], lines
    caplog.clear()
    keep_up_ratio(model, "auto", 96, 64, 1000.0, 1.0, lambda m: m.pha, quiet=True)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_unknown_virtual_camera_backend_is_one_line(tmp_path, monkeypatch):
    """VMATTE_VIRTUAL_CAMERA_BACKEND naming no backend pyvirtualcam has: one line naming the variable and
    the backends there are, exit 2, no traceback (pyvirtualcam itself raises a KeyError)."""
    from clitools import assert_clean_failure
    from clitools import vmatte as run_cli

    clip = tmp_path / "in.mkv"
    write_clip(clip, person_frames(3, 64, 48), fps=Fraction(30), audio=False, timecode=None)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("VMATTE_VIRTUAL_CAMERA_BACKEND", "no-such-backend")
    res = run_cli("live", "--source", clip, "--sink", "virtual")
    assert_clean_failure(res, out, "VMATTE_VIRTUAL_CAMERA_BACKEND='no-such-backend'")
    assert "v4l2loopback" in res.stderr or "none" in res.stderr
