"""The README's figures are the recorded runs': its tables equal what benchmarks/readme_tables.py makes
from benchmarks/results/*.json."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_figure_tables_match_the_results():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "readme_tables.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr + res.stdout


def test_every_results_file_is_described():
    """benchmarks/results/README.md names every recorded file, by name or by a `family-*.json` pattern."""
    import fnmatch
    import re

    index = (ROOT / "benchmarks" / "results" / "README.md").read_text()
    names = re.findall(r"`([^`]+)`", index)
    for p in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert any(fnmatch.fnmatch(p.name, n) or fnmatch.fnmatch(p.name, n.replace(".*", ".json")) for n in names), \
            f"{p.name} is not described in benchmarks/results/README.md"
