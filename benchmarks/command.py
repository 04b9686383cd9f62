"""Every harness's command line: `python -m benchmarks.NAME ARGS`, run from a checkout.

A mistake the user can make (a flag, a report file, a teacher that does not match) is one line
`benchmarks: error: ...` and exit status 2, as `kdnas` does; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from kdnas.errors import UserError

EXIT_USER_ERROR = 2


def command_line(module: str, argv: list[str]) -> str:
    """The exact command that reproduces a run, as written at the head of its report."""
    return shlex.join(["python", "-m", module, *argv])


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call a harness's `main(argv)`; a `UserError` becomes one line on stderr and exit status 2."""
    try:
        return int(main(argv) or 0)
    except UserError as err:
        print(f"benchmarks: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
