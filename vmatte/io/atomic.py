"""Safe outputs: no output on an input or on another output, and temporary names, so nothing appears at
the final path until it is complete and checked.

A temporary is `.NAME.PID.RANDOM.part` beside its target. One whose process is gone (killed, or the
machine lost power) is removed by the next run that writes the same target.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import VmatteError
from ..options import is_url


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs: on Linux read from /proc (a zombie, ended but not yet reaped, counts as
    ended), elsewhere by signal 0."""
    if Path("/proc/self/stat").exists():
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(parent: Path, name: str | None = None) -> list[Path]:
    """Remove temporaries of `name` (None: of any target) in `parent` left by processes that no longer
    run; returns them."""
    rx = re.compile(rf"^\.{re.escape(name) if name else '.+'}\.(\d+)\.[^.]+\.part$")
    gone = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return gone
    for p in entries:
        m = rx.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not process_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def temp_path_for(final: Path, folder: bool = False) -> Path:
    """A hidden, unique sibling of `final` to write into; checks the folder is writable and clears
    stale temporaries of the same target."""
    parent = final.parent
    if not parent.exists():
        raise VmatteError(f"cannot write {final}: folder {parent} does not exist; create it or pick another path")
    if final.is_dir() and not folder:
        raise VmatteError(f"cannot write {final}: it is a folder; give a file name")
    remove_stale(parent, final.name)
    prefix = f".{final.name}.{os.getpid()}."
    try:
        if folder:
            return Path(tempfile.mkdtemp(prefix=prefix, suffix=".part", dir=parent))
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=parent)
        os.close(fd)
        return Path(tmp)
    except OSError as e:
        raise VmatteError(f"cannot write {final}: {e.strerror}; pick a writable output path") from None


def check_writable(path: Path) -> None:
    """Fail now, not after the whole clip or photo, if `path` cannot be written."""
    temp_path_for(path).unlink()


def commit(tmp: Path, final: Path) -> None:
    """Make a finished file visible under its final name (same-folder rename, atomic). A file it replaces
    keeps its permissions; a new one gets the usual ones (0666 less the umask)."""
    try:
        mode = stat.S_IMODE(final.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
    os.replace(tmp, final)


def write_error(target: object, e: OSError) -> VmatteError:
    """An OSError while writing `target` as the one line a user sees."""
    if e.errno == errno.ENOSPC:
        return VmatteError(f"no space left on the device holding {target}; free some space or write elsewhere")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return VmatteError(f"cannot write {target}: {e.strerror}; pick a writable output path")
    return VmatteError(f"cannot write {target}: {e.strerror or e}")


def _real(p: str | Path) -> str:
    return os.path.normcase(os.path.realpath(os.fspath(p)))


def guard_paths(inputs: list[str | Path], outputs: dict[str, str | Path], read_folder: Path | None = None) -> None:
    """Refuse, before anything is opened, an output that is an input (the clip, a background file), that
    two outputs share, or that lies inside a folder being read. Real paths are compared, so symlinks
    and ./ spellings are caught. `outputs` maps what asked for it (--rgba, --report...) to the path."""
    sources = {_real(p): str(p) for p in inputs if p is not None and not is_url(p)}
    seen: dict[str, str] = {}
    folder = _real(read_folder) if read_folder is not None else None
    for flag, path in outputs.items():
        real = _real(path)
        if real in sources:
            raise VmatteError(f"{flag} {path} is the input {sources[real]}; vmatte never overwrites an input, "
                              "pick another output path")
        if real in seen:
            raise VmatteError(f"{flag} and {seen[real]} both write {path}; give each output its own path")
        if folder is not None and (real == folder or real.startswith(folder + os.sep)):
            raise VmatteError(f"{flag} {path} is inside {read_folder}, which is being read; write elsewhere")
        seen[real] = flag


def check_folder(folder: Path) -> None:
    """Refuse, before anything is made, an output folder that is a file, or under one."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == folder else f"is under {p}, which is a file"
                raise VmatteError(f"{folder} {where}, not a folder; give a folder for the outputs, or another name")
            return


def make_folder(folder: Path) -> None:
    """Create an output folder (and its parents), or say in one line why it cannot be one."""
    check_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VmatteError(f"cannot create {folder}: {e.strerror}; pick a writable folder") from None


def write_atomically(dest: Path, write: Callable[[Path], None]) -> None:
    """Create dest's folder, call write(tmp) on a temporary sibling, then rename it to `dest`."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(dest, e) from None
    tmp = temp_path_for(dest)
    try:
        write(tmp)
        commit(tmp, dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(dest, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
