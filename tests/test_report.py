"""The quality report: a static page whose images load in a real browser."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import person_frames
from samples.make_sample import write_clip

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
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


@pytest.mark.skipif(BROWSER is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_report_renders_in_chromium(report, tmp_path):
    page = tmp_path / "check.html"
    page.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    res = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
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
