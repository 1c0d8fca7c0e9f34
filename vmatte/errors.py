"""The one exception type users see, and where warnings go.

A VmatteError's message is a single line that says what to do; the CLI prints it as
`vmatte: error: ...` and exits 2. Warnings (a rebuilt timestamp, a choice made for the user) go to the
`vmatte` logger: the CLI prints them as `vmatte: ...` lines, -q silences them, -v adds details. A live
session's lines (its choices, its status every few seconds) go to `vmatte.live`, printed as `vmatte live: ...`.
Library code never prints: the CLI (or the calling program's logging set-up) decides what is shown.
"""
import logging

log = logging.getLogger("vmatte")
live_log = logging.getLogger("vmatte.live")


class VmatteError(Exception):
    """A user-facing failure (bad input, missing weights, unwritable output). The CLI prints it as one line."""
