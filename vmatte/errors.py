"""The one exception type users see: its message is a single line that says what to do."""


class VmatteError(Exception):
    """A user-facing failure (bad input, missing weights, unwritable output). The CLI prints it as one line."""
