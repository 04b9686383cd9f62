"""Cooperative work claims on a shared cache folder.

Several processes filling the same cache (block tables, benchmark runs) would otherwise train the
same item side by side, since each walks the same list in the same order. A process claims an item
by creating ``<result>.claim`` exclusively (``O_CREAT | O_EXCL``, atomic on a local or NFS v3+
folder) with its host and pid in it; the others skip the item and wait for its result file only
when they have nothing else left to do. A claim whose owner died on this host (the pid is gone) is
taken over, so a killed worker never leaves an item unfinished; an owner on another host is
trusted to be alive, since its pid cannot be checked from here. `obtain` is the whole protocol for
one JSON result; the other functions are its parts.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from kdnas.atomic import write_json


def claim_path(result: Path) -> Path:
    """The claim file that goes with the result file `result`."""
    return result.with_name(result.name + ".claim")


def _owner_alive(claim: Path) -> bool:
    try:
        host, pid = claim.read_text().split()
        if host == socket.gethostname():
            os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return True  # being written, unreadable, or not ours to signal: do not steal it
    return True  # alive here, or on another host where its pid cannot be checked


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
    claim = claim_path(result)
    while claim.exists() and _owner_alive(claim):
        time.sleep(poll_s)
    return result.is_file()


def obtain(result: Path, make: Callable[[], dict], *, wait: bool = True,
           usable: Callable[[dict], bool] = lambda rec: True) -> tuple[dict, bool] | None:
    """The JSON record at `result`, made by `make()` and written by whichever process claims it
    first; returns (record, made by this call).

    When another live process holds the claim, waits for its result (`wait`), or returns None so
    the caller can come back to it later. A stored record that is not `usable` (an older format)
    is made again."""
    def stored() -> dict | None:
        if not result.is_file():
            return None
        rec = json.loads(result.read_text())
        return rec if usable(rec) else None

    while True:
        rec = stored()
        if rec is not None:
            return rec, False
        if try_claim(result):
            break
        if not wait:
            return None
        wait_for(result)  # then look again: its owner wrote it, or gave up and the claim is free
    try:
        rec = stored()  # written by another process between the first look and the claim
        if rec is not None:
            return rec, False
        rec = make()
        write_json(result, rec)
        return rec, True
    finally:
        release(result)
