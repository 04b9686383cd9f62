"""kdnas's notes on standard error (teacher epochs, block-table progress, migrations): one logger.

Every module writes its notes with `note(...)`, through the `kdnas` logger, which writes plain lines
to whatever `sys.stderr` is at the time. `kdnas -q` raises its level to warnings only, `-v` lowers
it to debug; a program that embeds kdnas sets the level, or its own handlers, on `kdnas`.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("kdnas")


class _CurrentStderr(logging.StreamHandler):
    """A handler bound to `sys.stderr` as it is when a line is written, not when it was made
    (a redirected or captured stream still gets the line)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001 - StreamHandler.__init__ assigns it
        pass


if not LOGGER.handlers:
    _handler = _CurrentStderr()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(_handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False  # one line per note, whatever the root logger is set to


def note(message: str) -> None:
    """Write one line of progress or context (shown unless `-q`)."""
    LOGGER.info(message)


def warn(message: str) -> None:
    """Write one line the user should see even with `-q` (a result may be less than it seems)."""
    LOGGER.warning(message)


def set_verbosity(quiet: bool, verbose: int) -> None:
    """`-q`: warnings and errors only; `-v`: debug lines too."""
    LOGGER.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose >= 1 else logging.INFO)
