"""The local executor honours the Executor contract."""

from __future__ import annotations

import pytest

from kdnas.execute import Executor, LocalExecutor, TrialTask, make_executor


def test_make_executor():
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("slurm")


def test_submit_before_start_is_an_error(arch_text):
    with pytest.raises(RuntimeError, match="start"):
        LocalExecutor().submit(TrialTask(0, arch_text, 0))


def test_submit_wait_contract(make_ctx, arch_text):
    ex = LocalExecutor()
    assert isinstance(ex, Executor) and ex.capacity == 1
    ex.start(make_ctx(steps=5))
    assert ex.outstanding == 0
    assert ex.wait(timeout=0) == []  # nothing outstanding: returns at once
    ex.submit(TrialTask(0, arch_text, 0))
    assert ex.outstanding == 1
    done = ex.wait()
    assert [o.number for o in done] == [0]
    assert done[0].ok and done[0].where["executor"] == "local"
    assert ex.outstanding == 0
    assert ex.wait() == []  # each outcome exactly once
    ex.submit(TrialTask(1, "garbage", 0))  # a failing trial is an outcome, not an exception
    done = ex.wait()
    assert [(o.number, o.ok, o.where["executor"]) for o in done] == [(1, False, "local")]
    assert ex.outstanding == 0
    ex.shutdown()
    ex.shutdown()  # safe twice
