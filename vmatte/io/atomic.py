"""Temporary names for outputs: nothing appears at the final path until it is complete."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import VmatteError


def temp_path_for(final: Path, folder: bool = False) -> Path:
    """A hidden, unique sibling of `final` to write into; checks the folder is writable."""
    parent = final.parent
    if not parent.exists():
        raise VmatteError(f"cannot write {final}: folder {parent} does not exist; create it or pick another path")
    try:
        if folder:
            return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=parent))
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=parent)
        os.close(fd)
        return Path(tmp)
    except OSError as e:
        raise VmatteError(f"cannot write {final}: {e.strerror}; pick a writable output path") from None


def commit(tmp: Path, final: Path) -> None:
    """Make a finished file visible under its final name (same-folder rename, atomic)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, final)


def write_atomically(dest: Path, write: Callable[[Path], None]) -> None:
    """Create dest's folder, call write(tmp) on a temporary sibling, then rename it to `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    try:
        write(tmp)
        commit(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
