"""Shared bits for benchmarks: the machine's description and test frames."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The vmatte measured: this checkout's, or another's named by VMATTE_TREE (for before/after runs).
sys.path.insert(0, str(ROOT))
if os.environ.get("VMATTE_TREE"):
    sys.path.insert(0, os.environ["VMATTE_TREE"])
MEDIA = ROOT.parent / "shared" / "media"


def machine() -> str:
    """CPU model, cores and torch build, for the printed figures."""
    try:
        from vmatte.about import cpu_name
    except ImportError:  # a baseline tree from before vmatte.about
        cpu = platform.processor() or platform.machine()
    else:
        cpu = cpu_name()
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"


def portrait_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """A real portrait with camera motion (the demo's clip), width x height, RGB uint8."""
    from samples.make_sample import camera_move, portrait_photo

    return list(camera_move(portrait_photo(), n, width, height))


def save_result(name: str, data: dict, out: str | None = None) -> Path:
    """Write `data` (with the machine and date) as benchmarks/results/NAME-DATE.json (or into `out`);
    the docs' figure tables are made from these files (benchmarks/readme_tables.py)."""
    import json
    from datetime import date

    folder = Path(out) if out else ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{date.today().isoformat()}.json"
    path.write_text(json.dumps({"machine": machine(), "date": date.today().isoformat(), **data}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
