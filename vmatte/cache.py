"""The cache ($VMATTE_HOME, default ~/.cache/vmatte): converted weights, ONNX exports, TensorRT engines.

Every cached file has a `.sha256` beside it and is used only while the two agree: a truncated,
tampered or half-written file is made again, never loaded. Exports and engines are bounded in size
(`VMATTE_CACHE_MAX_MB`, default 2048): the least recently used go first. `vmatte cache list|clear`.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from .errors import VmatteError
from .io.atomic import remove_stale, write_atomically

DERIVED = "engines"  # exports and engines: made from the weights, safe to drop


def cache_dir() -> Path:
    """$VMATTE_HOME, or ~/.cache/vmatte; one line if it names something that is not a folder."""
    home = Path(os.environ.get("VMATTE_HOME") or Path.home() / ".cache" / "vmatte")
    if home.exists() and not home.is_dir():
        raise VmatteError(f"VMATTE_HOME={home} is a file; point it at a folder (or unset it)")
    return home


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verified(path: Path) -> bool:
    """True when `path` and its .sha256 are files that agree. A folder in their place is named in one line."""
    side = sidecar(path)
    for p in (path, side):
        if p.is_dir():
            raise VmatteError(f"{p} is a folder where vmatte keeps a cache file; remove it")
    return path.is_file() and side.is_file() and side.read_text().strip() == sha256_of(path)


def store(path: Path, make: Callable[[Path], None]) -> Path:
    """Write `path` through make(tmp), atomically, then its .sha256."""
    write_atomically(path, make)
    write_atomically(sidecar(path), lambda p: p.write_text(sha256_of(path) + "\n"))
    return path


def cached(path: Path, make: Callable[[Path], None]) -> Path:
    """`path` if it checks out (its use is recorded, for the size bound), else made anew by make(tmp)."""
    if verified(path):
        os.utime(path)
        return path
    store(path, make)
    prune()
    return path


def _derived() -> list[Path]:
    d = cache_dir() / DERIVED
    return [p for p in d.iterdir() if p.is_file() and not p.name.endswith(".sha256")] if d.is_dir() else []


def prune(limit_mb: float | None = None) -> list[Path]:
    """Drop the least recently used exports and engines until they fit in `limit_mb` (default
    VMATTE_CACHE_MAX_MB or 2048). Returns what was removed."""
    limit = (limit_mb if limit_mb is not None else float(os.environ.get("VMATTE_CACHE_MAX_MB") or 2048)) * 1e6
    files = sorted(_derived(), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    gone = []
    while files and total > limit:
        p = files.pop(0)
        total -= p.stat().st_size
        p.unlink(missing_ok=True)
        sidecar(p).unlink(missing_ok=True)
        gone.append(p)
    return gone


def entries() -> list[tuple[str, Path, int, float]]:
    """(kind, path, bytes, last used as a Unix time) for every file in the cache (checksums aside)."""
    home, rows = cache_dir(), []
    for kind, folder in (("weights", "weights"), ("derived", DERIVED), ("samples", "samples")):
        d = home / folder
        for p in sorted(d.iterdir()) if d.is_dir() else []:
            if p.is_file() and not p.name.endswith(".sha256") and not p.name.startswith("."):
                rows.append((kind, p, p.stat().st_size, p.stat().st_mtime))
    return rows


def clear(everything: bool = False) -> int:
    """Remove exports and engines (and, with everything, the converted weights and samples too) and
    any stale temporaries; returns bytes freed."""
    freed = 0
    for kind, p, size, _ in entries():
        if kind == "derived" or everything:
            for q in (p, sidecar(p), p.with_suffix(".sha256")):
                try:
                    q.unlink(missing_ok=True)
                except OSError as e:  # a read-only or foreign cache: say so, with what was freed
                    raise VmatteError(f"cannot remove {q} ({e.strerror}); {freed / 1e6:.1f} MB were freed "
                                      f"before it. Is {cache_dir()} read-only? Clear it where it is writable, or "
                                      "set VMATTE_HOME to another folder") from None
            freed += size
    for d in (cache_dir() / DERIVED, cache_dir() / "weights", cache_dir() / "samples"):
        if d.is_dir():
            remove_stale(d)
    return freed
