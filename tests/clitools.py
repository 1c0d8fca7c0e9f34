"""Running the command line as a user does, and checking how it fails."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

# Runs the CLI in-process and says afterwards whether torch was ever imported: no model can have
# been loaded when it was not. The line goes to stdout, so stderr is the CLI's own.
PROBE = ("import sys\nfrom vmatte.cli import main\nrc = main(sys.argv[1:])\n"
         "print('torch imported' if 'torch' in sys.modules else 'torch not imported')\nsys.exit(rc)\n")


def vmatte(*args: object, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The command's result; stdout is its own, and `torch_imported` says what the probe saw."""
    res = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True,
                         cwd=cwd, timeout=timeout)
    out, _, marker = res.stdout.rstrip("\n").rpartition("\n")
    if not marker.startswith("torch "):  # the command died before the probe's last line
        out, marker = res.stdout, ""
    res.stdout, res.torch_imported = out, marker == "torch imported"
    return res


def assert_clean_failure(res: subprocess.CompletedProcess, folder: Path, hint: str,
                         before: set[str] | None = None, model_free: bool = False) -> None:
    """One `vmatte: error:` line holding `hint`, exit 2, no traceback, and nothing new in `folder`
    (hidden temporaries included). model_free: the error came before torch was even imported."""
    err = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vmatte: error:") and hint in err, err
    now = {p.name for p in folder.iterdir()}
    assert now == (before if before is not None else set()), sorted(now - (before or set()))
    if model_free:
        assert not res.torch_imported


def sigint_default() -> None:
    """For Popen(preexec_fn=...): a child that Ctrl-C can reach. A background job of a non-interactive
    shell starts with SIGINT ignored, and Python then keeps ignoring it, so a test's SIGINT would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def vmatte_on_a_terminal(*args: object, timeout: float = 600) -> tuple[int, str]:
    """Run the CLI with its stderr on a pseudo-terminal 100 columns wide (so the progress bar draws, as a
    user sees it); returns (exit code, everything written to the terminal)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "vmatte", *map(str, args)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out, end = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        return p.wait(timeout=max(1.0, end - time.monotonic())), out.decode(errors="replace")
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
