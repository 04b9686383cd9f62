"""Work claims between real processes: one owner at a time, a dead owner's claim taken over, and
waiting ends with the result or with the owner gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from kdnas.claims import claim_path, obtain, release, try_claim, wait_for


def _hold(result: Path, seconds: float, write: bool) -> subprocess.Popen:
    """Another process that claims `result`, sleeps, then writes it (or not) and releases the claim."""
    code = (f"import time; from pathlib import Path; from kdnas.claims import try_claim, release\n"
            f"p = Path({str(result)!r}); assert try_claim(p); print('held', flush=True); time.sleep({seconds})\n"
            f"if {write}: p.write_text('done')\nrelease(p)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_owner_keeps_its_claim_and_the_result_is_waited_for(tmp_path: Path) -> None:
    result = tmp_path / "item.json"
    other = _hold(result, 1.0, write=True)
    assert not try_claim(result)  # held by a live process
    assert wait_for(result, poll_s=0.05) and result.read_text() == "done"
    assert other.wait() == 0 and not claim_path(result).exists()


def test_waiting_ends_without_a_result_when_the_owner_gives_up(tmp_path: Path) -> None:
    result = tmp_path / "item.json"
    other = _hold(result, 0.5, write=False)
    assert wait_for(result, poll_s=0.05) is False
    other.wait()
    assert try_claim(result)  # free again: the waiter does the work itself
    release(result)


def test_a_dead_owners_claim_is_taken_over(tmp_path: Path) -> None:
    result = tmp_path / "item.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim_path(result).write_text(f"{socket.gethostname()} {dead.pid}")  # as if it was killed mid-item
    assert wait_for(result, poll_s=0.05) is False
    assert try_claim(result) and claim_path(result).read_text().endswith(f" {os.getpid()}")
    assert not try_claim(result)  # this process holds it now: a second claim is refused
    release(result)
    assert not claim_path(result).exists()


def test_an_owner_on_another_host_is_trusted(tmp_path: Path) -> None:
    result = tmp_path / "item.json"
    claim_path(result).write_text("some-other-host 1")
    assert not try_claim(result)


def test_obtain_makes_a_record_once_and_defers_to_a_live_owner(tmp_path: Path) -> None:
    result = tmp_path / "item.json"
    calls: list[int] = []

    def make() -> dict:
        calls.append(1)
        return {"v": len(calls)}

    assert obtain(result, make) == ({"v": 1}, True)
    assert obtain(result, make) == ({"v": 1}, False) and len(calls) == 1  # read back, not made again
    # a stored record of an older format is made again
    assert obtain(result, make, usable=lambda rec: "w" in rec) == ({"v": 2}, True)
    # an item a live process holds: skipped without waiting, or waited for and read, not made here
    other_item = tmp_path / "other.json"
    code = (f"import time, json; from pathlib import Path; from kdnas.claims import try_claim, release\n"
            f"p = Path({str(other_item)!r}); assert try_claim(p); print('held', flush=True); time.sleep(0.5)\n"
            "p.write_text(json.dumps({'v': 'theirs'})); release(p)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    assert obtain(other_item, make, wait=False) is None
    assert obtain(other_item, make) == ({"v": "theirs"}, False) and len(calls) == 2
    assert proc.wait() == 0 and not claim_path(other_item).exists()
