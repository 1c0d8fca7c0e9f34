"""The docs stay true to the code and to themselves: the figure tables equal what
benchmarks/readme_tables.py makes from benchmarks/results/*.json, the command-line reference equals what
tools/cli_reference.py makes from the parser and the options model, the site builds with
`mkdocs build --strict` (a broken link or anchor fails), and the README's links resolve."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_figure_tables_match_the_results():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "readme_tables.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr + res.stdout


def test_every_results_file_is_described():
    """benchmarks/results/README.md names every recorded file, by name or by a `family-*.json` pattern."""
    import fnmatch

    index = (ROOT / "benchmarks" / "results" / "README.md").read_text()
    names = re.findall(r"`([^`]+)`", index)
    for p in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert any(fnmatch.fnmatch(p.name, n) or fnmatch.fnmatch(p.name, n.replace(".*", ".json")) for n in names), \
            f"{p.name} is not described in benchmarks/results/README.md"


@pytest.fixture(scope="module")
def cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "tools" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_what_the_code_makes(cli_reference):
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert page == cli_reference.render(), "run python tools/cli_reference.py"
    for flag in ("--rgba", "--downsample-ratio", "--workers", "--sink", "--target", "--no-audio", "--config"):
        assert f"`{flag}`" in page


def test_cli_reference_sees_a_changed_help_or_default(cli_reference, monkeypatch):
    from vmatte.options import MattingOptions, OutputOptions
    from vmatte.optionspec import spec_of

    page = cli_reference.render()
    crf = next(f for f in dataclasses.fields(OutputOptions) if f.name == "crf")
    monkeypatch.setattr(crf, "default", 23)
    assert "| `--crf` | whole number | `23` |" in cli_reference.render()
    monkeypatch.undo()
    assert cli_reference.render() == page
    despill = next(f for f in dataclasses.fields(MattingOptions) if f.name == "despill")
    new = dataclasses.replace(spec_of(despill), help="a changed help text")
    monkeypatch.setattr(despill, "metadata", {"spec": new})
    assert "a changed help text" in cli_reference.render() != page


def _mkdocs(docs_root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(docs_root / "mkdocs.yml"), "-d", str(site)], capture_output=True, text=True,
                          timeout=120)


def test_the_site_builds_strict(tmp_path):
    res = _mkdocs(ROOT, tmp_path / "site")
    assert res.returncode == 0, res.stderr + res.stdout
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


@pytest.mark.parametrize("broken", ["[x](guides/nowhere.md)", "[x](figures.md#no-such-heading)"])
def test_a_broken_link_fails_the_build(tmp_path, broken):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "limits.md"
    page.write_text(page.read_text() + f"\nSee {broken}.\n")
    res = _mkdocs(tmp_path, tmp_path / "site")
    assert res.returncode != 0 and "limits.md" in res.stderr


def test_readme_is_a_landing_page_whose_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 220
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) > 10
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []


def test_the_api_pages_first_example_runs_as_written(tmp_path, monkeypatch, clip):
    """The API page's first example, run as it is written, on a generated talk.mp4 in the working folder:
    every output it names is written, and its Matter loop runs."""
    from fractions import Fraction

    import av

    page = (ROOT / "docs" / "reference" / "api.md").read_text()
    code = re.findall(r"```python\n(.*?)```", page, re.S)[0]
    src = clip("talk.mp4", n=8, fps=Fraction(25), audio=False, timecode=None, width=96, height=64)
    monkeypatch.chdir(src.parent)
    exec(compile(code, "api.md", "exec"), {"__name__": "api_example"})
    for name, codec in (("talk.mov", "prores"), ("talk_blur.mp4", "h264"), ("talk_best.mov", "prores"),
                        ("talk_matte.mkv", "ffv1"), ("talk.mp4.rgba.mov", "prores")):
        with av.open(str(src.parent / name)) as c:
            assert c.streams.video[0].codec_context.name == codec, name
            assert sum(1 for _ in c.decode(video=0)) == 8, name
