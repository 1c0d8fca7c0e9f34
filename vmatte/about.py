"""What a run can say about itself: vmatte's version and the machine. A leaf module: torch is imported only
inside machine(), so the command line answers --version without it."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def version() -> str:
    """The installed distribution's version (the package's own where it is run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from . import __version__

    try:
        return installed("vmatte")
    except PackageNotFoundError:
        return __version__


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; elsewhere what platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model and cores, the OS, torch's version and the GPU, in one line."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"torch {torch.__version__}, {gpu}")
