"""Cooperative work claims on a shared cache folder.

Several processes filling the same cache (block tables, benchmark runs) would otherwise train the
same item side by side, since each walks the same list in the same order. A process claims an item
by creating ``<result>.claim`` exclusively (``O_CREAT | O_EXCL``, atomic on a local or NFS v3+
folder) with its host and pid in it; the others skip the item and wait for its result file only
when they have nothing else left to do. A claim whose owner died on this host (the pid is gone) is
taken over, so a killed worker never leaves an item unfinished; an owner on another host is
trusted to be alive, since its pid cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


def claim_path(result: Path) -> Path:
    """The claim file that goes with the result file `result`."""
    return result.with_name(result.name + ".claim")


def _owner_alive(claim: Path) -> bool:
    try:
        host, pid = claim.read_text().split()
    except (OSError, ValueError):
        return True  # being written right now, or unreadable: do not steal it
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def try_claim(result: Path) -> bool:
    """Claim the item whose result goes to `result`; False when a live process holds it already.

    A claim left by a dead process on this host is removed and taken. The caller must `release`
    the claim once the result file is written (or the work failed)."""
    claim = claim_path(result)
    claim.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _owner_alive(claim):
                return False
            claim.unlink(missing_ok=True)  # its owner died: take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{socket.gethostname()} {os.getpid()}")
        return True
    return False


def release(result: Path) -> None:
    """Drop this process's claim on `result` (no error when there is none)."""
    claim_path(result).unlink(missing_ok=True)


def wait_for(result: Path, poll_s: float = 0.5) -> bool:
    """Wait while another live process holds the claim on `result`. True when the result file is
    there at the end; False when the claim went away without one (its owner failed or died), so
    the caller should do the work itself."""
    while not result.is_file():
        claim = claim_path(result)
        if not claim.exists() or not _owner_alive(claim):
            return result.is_file()
        time.sleep(poll_s)
    return True
