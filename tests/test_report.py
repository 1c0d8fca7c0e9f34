"""The quality report: a static page whose images load in a real browser."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from browser import need_browser
from conftest import person_frames
from samples.make_sample import write_clip

CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.dataset.loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length + '/' + imgs.length;
  document.body.dataset.svg = document.querySelectorAll('svg polyline').length;
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    a = person_frames(20, 192, 108, seed=1)
    b = [f[:, ::-1].copy() // 3 + 80 for f in person_frames(20, 192, 108, seed=2)]  # another "shot"
    for f in b:
        f[:40, :60] = (250, 30, 30)
    src = d / "clip.mov"
    write_clip(src, a + b, audio=False)
    out = d / "report.html"
    res = subprocess.run([sys.executable, "-m", "vmatte", "report", str(src), "-o", str(out),
                          "--downsample-ratio", "0.5"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return out


def test_report_content(report):
    page = report.read_text()
    assert page.count("data:image/png;base64,") >= 6  # source, alpha, composite at >= 2 frames
    assert "Temporal stability" in page and "<polyline" in page
    assert 'class="cut"' in page  # the cut between the two shots is marked
    assert re.search(r"<th>frames</th><td>40</td>", page)


def test_report_renders_in_chromium(report, tmp_path):
    browser = need_browser()  # .ci/run installs it: missing there is a failure, elsewhere a skip
    page = tmp_path / "check.html"
    page.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    res = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'data-loaded="(\d+)/(\d+)"', res.stdout)
    assert m, res.stdout[:500] + res.stderr[-500:]
    loaded, total = int(m[1]), int(m[2])
    assert total >= 6 and loaded == total
    assert 'data-svg="1"' in res.stdout


def test_report_bad_path(report, tmp_path):
    res = subprocess.run([sys.executable, "-m", "vmatte", "report", str(report.parent / "clip.mov"), "-o",
                          str(tmp_path / "no" / "r.html")], capture_output=True, text=True, timeout=600)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "does not exist" in res.stderr


def test_stability_counts_still_pixels_only():
    """Frames with a still left half and a moving right half; the matte flickers in both halves. The
    report's figure equals mean |delta alpha| over the still pixels, computed here independently."""
    import numpy as np
    import torch

    from vmatte.compose import ColourBackground
    from vmatte.engine import Matte
    from vmatte.io.frames import Frame
    from vmatte.report import QualityReport

    rng = np.random.default_rng(0)
    h, w = 48, 64
    q = QualityReport(expected_frames=6)
    prev = None
    want = []
    for i in range(6):
        grey = np.full((h, w), 0.5, np.float32)
        grey[:, w // 2:] = rng.random((h, w - w // 2))  # the moving half changes every frame
        pha = rng.random((h, w)).astype(np.float32) * 0.5 + 0.25  # flicker everywhere: strong where it moves,
        pha[:, : w // 2] = rng.random((h, w // 2)) * 0.02 + 0.5  # faint where still, so all pixels would differ
        src = torch.from_numpy(grey)[None, None].expand(1, 3, h, w)
        m = Matte(src, src, torch.from_numpy(pha)[None, None])
        q.observe(Frame(np.zeros((h, w, 3), np.uint8), i, None, i), m, False, ColourBackground((0, 177, 64)))
        if prev is not None:
            still = np.abs(grey - prev[0]) < 2 / 255
            want.append(float(np.abs(pha - prev[1])[still].mean()))
        prev = (grey, pha)
    assert np.isnan(q.stability[0])
    assert np.allclose(q.stability[1:], want, atol=1e-6)
    assert not np.allclose(q.stability[1:], [0.0] * 5)
    assert max(q.stability[1:]) < 0.02  # the still half's flicker alone; over every pixel it would be ~0.09


def test_report_says_what_was_run_and_how_to_read_it(report):
    """The settings, version, model, engine and machine; frame numbers on the plot's axis; and each figure's
    meaning, with the flicker judged against the test clips' bands."""
    from vmatte import __version__
    from vmatte.report import CALM

    page = report.read_text()
    about = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", page.split('class="about"')[1]))
    assert about["vmatte"] == __version__
    assert about["model"] == "rvm-mobilenetv3"
    assert about["downsample ratio"] == "0.5"
    assert about["engine"].startswith("onnxruntime on cpu")
    assert "cores" in about["machine"] and "torch" in about["machine"]
    assert "192x108" in about["source"]
    ticks = re.findall(r'class="tick xtick" text-anchor="middle">(\d+)</text>', page)
    assert ticks[0] == "0" and len(ticks) >= 3 and ticks[-1] == "39", ticks
    assert "lower is better" in page
    assert f"steady (≤ {CALM}" in page or "flicker" in page.split("this run")[1]


def test_report_has_no_options_for_files_it_does_not_write():
    res = subprocess.run([sys.executable, "-m", "vmatte", "report", "--help"], capture_output=True, text=True)
    for flag in ("--crf", "--prores-encoder", "--quality", "--keyframe-seconds", "--bit-depth", "--rgba"):
        assert flag not in res.stdout, flag
    res = subprocess.run([sys.executable, "-m", "vmatte", "report", "x.mp4", "-o", "r.html", "--crf", "20"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "--crf" in res.stderr
