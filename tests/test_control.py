"""`vmatte live --control`: the control page and the OBS output page, in a real headless Chromium, and the
server's refusals (token, Host, Origin), against the real aiohttp server."""
from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest

from browser import Chromium
from conftest import person_frames
from samples.make_sample import write_clip
from vmatte.control import Controls, Settings
from vmatte.control.server import ControlServer
from vmatte.errors import VmatteError

W, H, FPS = 320, 240, Fraction(30, 1)
SHOTS = os.environ.get("VMATTE_SCREENSHOTS")  # a folder: the docs' screenshots are taken there


# ---- the settings a page may change ----

def test_a_change_applies_from_the_next_frame_and_is_checked():
    c = Controls(Settings("blur:20", False, "auto"))
    for _ in range(5):
        c.frame_started()
    assert c.update({"background": "#ff0000"}) == 6
    version, s = c.frame_started()
    assert s.background == "#ff0000" and version == 1
    assert c.update({"mirror": True, "downsample_ratio": 0.25}) == 7
    assert c.current().mirror and c.current().downsample_ratio == 0.25
    for bad, why in [({"background": "/etc/passwd"}, "upload"), ({"background": "transparent"}, "alpha"),
                     ({"downsample_ratio": 2}, "out of range"), ({"mirror": "yes"}, "true or false"),
                     ({"volume": 3}, "unknown"), ([], "JSON object")]:
        with pytest.raises(VmatteError, match=why):
            c.update(bad)
    assert c.current().background == "#ff0000" and c.version == 2  # nothing applied by a refused change


# ---- the server's refusals, with the real server and a real client ----

@pytest.fixture
def server():
    s = ControlServer(Controls(Settings("blur:20", False, "auto")), "127.0.0.1", 0, (W, H))
    s.start()
    yield s
    s.close()


def request(s: ControlServer, path: str, token: str | None = "ok", method: str = "GET", host: str | None = None,
            origin: str | None = None, body: bytes | None = None, ctype: str = "application/json"):
    """(status, body) of one request; token 'ok' is the server's own."""
    import http.client

    token = s.token if token == "ok" else token
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{s.port}", "Content-Type": ctype}
    if origin:
        headers["Origin"] = origin
    query = f"?token={token}" if token is not None else ""
    conn.request(method, path + query, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def test_pages_need_the_token_and_this_servers_name(server):
    port = server.port
    assert request(server, "/output")[0] == 200 and b"<canvas" in request(server, "/output")[1]
    assert request(server, "/")[0] == 200
    assert request(server, "/", token=None)[0] == 403
    assert request(server, "/", token="guess")[0] == 403
    assert request(server, "/api/state", token=None)[0] == 403
    assert request(server, "/", host=f"localhost:{port}")[0] == 200
    for host in (f"attacker.example:{port}", f"127.0.0.1:{port + 1}", f"10.0.0.1:{port}", "127.0.0.1"):
        assert request(server, "/", host=host)[0] == 403, host  # DNS rebinding: a name that is not ours
    status, body = request(server, "/")
    assert status == 200


def test_changes_are_refused_from_another_site_and_checked(server):
    port = server.port
    change = json.dumps({"background": "#00ff00"}).encode()
    assert request(server, "/api/control", method="POST", body=change, origin="http://evil.example")[0] == 403
    assert request(server, "/api/control", method="POST", body=change, token=None)[0] == 403
    status, body = request(server, "/api/control", method="POST", body=change, origin=f"http://127.0.0.1:{port}")
    assert status == 200 and json.loads(body)["settings"]["background"] == "#00ff00"
    status, body = request(server, "/api/control", method="POST", body=b'{"background": "/etc/hostname"}')
    assert status == 400 and "upload" in json.loads(body)["error"]
    assert request(server, "/api/control", method="POST", body=b"not json")[0] == 400
    assert request(server, "/api/background", method="POST", body=b"GIF89a? no", ctype="image/png")[0] == 400
    import cv2

    ok, png = cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))
    status, body = request(server, "/api/background", method="POST", body=png.tobytes(), ctype="image/png")
    assert status == 200 and json.loads(body)["settings"]["background"] == "image"
    saved = Path(server.controls.current().background)
    assert saved.is_file() and saved.parent == server._uploads  # the upload folder, removed at close
    assert server.controls.current().background != "/etc/hostname"


def test_a_socket_from_another_site_is_refused(server):
    async def connect(origin: str, token: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws?kind=output&token={token}",
                                              origin=origin):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    assert asyncio.run(connect("http://evil.example", server.token)) == 403
    assert asyncio.run(connect(f"http://127.0.0.1:{server.port}", "guess")) == 403
    assert asyncio.run(connect(f"http://127.0.0.1:{server.port}", server.token)) == 101


def test_bound_to_every_interface_takes_addresses_not_names():
    s = ControlServer(Controls(Settings("green", False, "auto")), "0.0.0.0", 0, (W, H))
    s.start()
    try:
        assert request(s, "/", host=f"192.168.1.20:{s.port}")[0] == 200
        assert request(s, "/", host=f"camera.example:{s.port}")[0] == 403
    finally:
        s.close()


def test_control_address_refused_before_the_model_loads(tmp_path):
    """A taken port and a bad address are one line and exit 2; nothing is left at the sink."""
    clip, junk = tmp_path / "c.mov", tmp_path / "w.pth"
    write_clip(clip, person_frames(4, 64, 48), audio=False, timecode=None)
    junk.write_text("not a checkpoint")  # passes the option check (a file); loading it would fail
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for spec, why in [(f"127.0.0.1:{port}", "cannot listen"), ("camera.example:80", "IP address")]:
            r = subprocess.run([sys.executable, "-m", "vmatte", "live", "--source", str(clip), "--sink",
                                str(tmp_path / "o.mp4"), "--control", spec, "--weights", str(junk)],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert "w.pth" not in r.stderr  # said before the (bad) weights were loaded
            assert list(tmp_path.glob("o*")) == [] and list(tmp_path.glob(".o*")) == []


# ---- a live session from a file, the pages in Chromium ----

def person_x(frame: np.ndarray) -> float:
    """The mean column of what is not the red background: the astronaut stands left of the middle."""
    far = np.abs(frame.astype(np.int16) - (255, 0, 0)).sum(-1) > 120
    return float(np.nonzero(far)[1].mean())


@pytest.fixture(scope="module")
def portrait():
    """The demo's public-domain portrait with a slow camera move: a real person, whom the network mattes
    as opaque (the suit) against a background it clears (the top right)."""
    from samples.make_sample import camera_move, portrait_photo

    return list(camera_move(portrait_photo(), 450, W, H))


@pytest.fixture(scope="module")
def session(tmp_path_factory, portrait):
    """`vmatte live` on a 15 s clip played in real time into a ProRes file (intra-only: a repeated picture
    decodes the same), with --control; the URLs."""
    tmp = tmp_path_factory.mktemp("control")
    clip = tmp / "cam.mp4"
    write_clip(clip, portrait, fps=FPS, audio=False, timecode=None)
    err = open(tmp / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "vmatte", "live", "--source", str(clip), "--realtime", "--sink",
                             str(tmp / "rec.mov"), "--control", "127.0.0.1:0", "--downsample-ratio", "0.5",
                             "--device", "cpu", "--background", "blur:20", "--stats-json", str(tmp / "stats.json")],
                            stderr=err, stdout=subprocess.DEVNULL)
    end = time.monotonic() + 120
    while not re.search(r"OBS Browser Source (\S+)", (tmp / "stderr.txt").read_text()):
        assert proc.poll() is None and time.monotonic() < end, (tmp / "stderr.txt").read_text()
        time.sleep(0.1)
    text = (tmp / "stderr.txt").read_text()
    urls = {"control": re.search(r"control page (\S+)", text)[1], "output": re.search(r"Browser Source (\S+)", text)[1]}
    browser = Chromium(tmp)
    yield proc, urls, browser, tmp
    browser.close()
    if proc.poll() is None:
        proc.kill()
    err.close()


def test_pages_show_the_person_with_alpha_and_changes_reach_the_recording(session, portrait):
    proc, urls, browser, tmp = session
    out = browser.open(urls["output"])
    out.wait_for("window.vmatte && window.vmatte.drawn > 5")
    sx, sy = round(0.25 * W), round(0.6 * H)  # on the suit
    px = out.evaluate(f"""(() => {{ const c = document.getElementById('out'), x = c.getContext('2d');
        const g = (a, b) => Array.from(x.getImageData(a, b, 1, 1).data);
        return {{w: c.width, h: c.height, frame: window.vmatte.last, corner: g({W - 6}, 6),
                 suit: g({sx}, {sy})}}; }})()""")
    assert (px["w"], px["h"]) == (W, H)
    assert px["corner"][3] <= 8  # far from the person: transparent
    want = portrait[px["frame"]][sy - 1:sy + 2, sx - 1:sx + 2].reshape(-1, 3).mean(0)
    assert px["suit"][3] >= 247 and np.abs(np.array(px["suit"][:3]) - want).max() <= 24, (px, want)  # the person

    ctl = browser.open(urls["control"])
    ctl.wait_for("window.vmatte && window.vmatte.frames > 3 && document.getElementById('fps').textContent !== '-'")
    ctl.wait_for("document.getElementById('browser').textContent !== '-'")  # the output page's latency, shown here
    if SHOTS:
        ctl.screenshot(Path(SHOTS) / "control-page.png")
        out.evaluate("document.body.style.background = "
                     "'repeating-conic-gradient(#bbb 0% 25%, #fff 0% 50%) 0 0 / 24px 24px'")
        time.sleep(0.3)
        out.screenshot(Path(SHOTS) / "output-page.png")
        out.evaluate("document.body.style.background = 'transparent'")

    def act(script: str, n: int) -> int:
        ctl.evaluate(script)
        return ctl.wait_for(f"window.vmatte.changes.length >= {n} && window.vmatte.changes[{n - 1}]")

    red = act("document.getElementById('background').value = 'colour'; const c = document.getElementById('colour');"
              "c.value = '#ff0000'; c.dispatchEvent(new Event('input'));", 1)
    time.sleep(2)
    mirror = act("document.getElementById('mirror').click()", 2)
    time.sleep(2)
    blur = act("const s = document.getElementById('sigma'); s.value = '6'; s.dispatchEvent(new Event('change'));", 3)
    time.sleep(1)
    pause = act("document.getElementById('pause').click()", 4)
    time.sleep(1)
    assert out.evaluate("window.vmatte.drawn") > 20
    browser.kill()  # the browser goes away mid-stream: the recording must not lose a frame
    assert proc.wait(timeout=120) == 0
    stats = json.loads((tmp / "stats.json").read_text())
    assert stats["browser_frames"] > 20 and 0 < stats["browser_ms"]["p50"] <= stats["browser_ms"]["p95"]

    with av.open(str(tmp / "rec.mov")) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert len(frames) == stats["frames_out"]  # every frame the session made is in the file
    corner = np.array([f[:12, -12:].reshape(-1, 3).mean(0) for _, f in frames])  # top right: background
    is_red = (corner[:, 0] > 200) & (corner[:, 1] < 50) & (corner[:, 2] < 50)
    first, last = red - 1, blur - 1  # the file's frame j is the session's frame j + 1
    held = pause - 1
    assert not is_red[:first].any() and is_red[first:last].all() and not is_red[last:].any(), (red, blur, is_red)
    assert held + 10 < len(frames)  # paused: the last picture again, in each new frame's time
    def diff(i: int, j: int) -> float:
        return float(np.abs(frames[i][1].astype(np.int16) - frames[j][1]).mean())

    still = max(diff(j, held - 1) for j in range(held, len(frames)))  # the last picture, again and again
    moving = diff(held - 1, last)  # the second before the pause, while the camera moved
    assert still == 0 and moving > 1, (still, moving)
    assert frames[-1][0] > frames[held][0] + 0.5  # time goes on while the picture holds

    before = [person_x(frames[j][1]) for j in range(first + 2, mirror - 1)]
    after = [person_x(frames[j][1]) for j in range(mirror + 1, last)]  # two frames of slack: already in the buffer
    assert len(before) > 10 and max(before) < W * 0.45, before  # the astronaut left of the middle
    assert len(after) > 10 and min(after) > W * 0.55, after  # and then mirrored


def test_every_interface_is_warned_about(tmp_path):
    clip = tmp_path / "c.mov"
    write_clip(clip, person_frames(3, 64, 48), audio=False, timecode=None)
    r = subprocess.run([sys.executable, "-m", "vmatte", "live", "--source", str(clip), "--sink",
                        str(tmp_path / "o.mp4"), "--control", "0.0.0.0:0", "--downsample-ratio", "0.5",
                        "--device", "cpu"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "anyone on the network who has the printed URL" in r.stderr
    assert re.search(r"control page http://127\.0\.0\.1:\d+/\?token=\S{20,}", r.stderr)


def test_the_automatic_ratio_is_measured_once_per_setting(tmp_path, monkeypatch, model, caplog):
    """A second start with the same settings takes the kept measurement; another size, or a kept file
    that fails its checksum, is measured again."""
    import logging

    from vmatte.engine import probe

    monkeypatch.setenv("VMATTE_HOME", str(tmp_path))
    caplog.set_level(logging.INFO, logger="vmatte")
    look = {"background": "green", "sink": "FileSink"}

    def start(w: int = 160, h: int = 120, key: dict = look):
        caplog.clear()
        m = probe.keep_up_ratio(model, "torch", w, h, 30.0, 270 / min(w, h), lambda m: None, cache_key=key)
        return (m.ratio, m.scale), "\n".join(r.getMessage() for r in caplog.records if r.name == "vmatte.live")

    first, said = start()
    assert "measuring" in said
    kept = list((tmp_path / "engines").glob("probe-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["ratio"] == first[0]
    again, said = start()
    assert again == first and "measuring" not in said and "as measured on this machine" in said
    assert "measuring" in start(key={**look, "background": "blur:20"})[1]  # the look is in the key
    assert "measuring" in start(192, 120)[1]  # so is the size
    kept[0].write_text(kept[0].read_text().replace(f'"ratio": {first[0]}', '"ratio": 0.5'))
    assert "measuring" in start()[1]  # a tampered measurement is not taken


def test_a_ratio_from_the_page_reaches_the_network_through_the_sessions_hand_over(tmp_path):
    """A new ratio sent by a page is taken between two frames (LiveSession.switch): from the next frame the
    network runs at it, from a fresh state, with the control page's figures saying so; 'auto' goes back to
    the Matter the session started with."""
    from vmatte import LiveOptions, MattingOptions, Recipe, open_sink, open_source
    from vmatte.session import LiveSession

    clip = tmp_path / "in.mkv"
    write_clip(clip, person_frames(4, 160, 120), fps=FPS, audio=False, timecode=None)
    opts = LiveOptions(source=str(clip), sink=str(tmp_path / "rec.mkv"), quiet=True)
    recipe = Recipe(MattingOptions(device="cpu", downsample_ratio=0.5), "live")
    with open_source(str(clip)) as src:
        sink = open_sink(opts.sink, "rgb", src.info, live=True)
        try:
            controls = Controls(Settings(recipe.background_spec, False, "auto"))
            session = LiveSession(src, sink, recipe, opts, controls)
            first = session.shots.matter
            assert first.ratio == 0.5
            controls.update({"downsample_ratio": 0.25})
            session.switch(controls.frame_started()[1])
            assert session.shots.matter is not first and session.shots.matter.ratio == 0.25
            assert session.figures()["ratio"] == "0.25"
            m = session.shots.matter(np.zeros((120, 160, 3), np.uint8))
            assert m.pha.shape[-2:] == (120, 160)
            controls.update({"downsample_ratio": "auto"})
            session.switch(controls.frame_started()[1])
            assert session.shots.matter is first
        finally:
            sink.abort()
