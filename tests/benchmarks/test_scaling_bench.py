"""The scaling benchmark's control: one trial timed alone and as two plain processes at once."""

from __future__ import annotations

from benchmarks.scaling import machine_ceiling
from kdnas.distill import ProxySpec
from kdnas.execute import ProxyContext
from tests.execute.conftest import ARCH, _blobs


def test_machine_ceiling_times_the_same_trial_alone_and_two_at_once() -> None:
    xt, yt = _blobs(128, 0)
    xv, yv = _blobs(64, 1)
    ctx = ProxyContext(xt, yt, xv, yv, None, ProxySpec(method="ce", steps=20, batch_size=32, optimizer="sgd", lr=0.05, threads=1),
                       in_channels=1, num_classes=2)
    c = machine_ceiling(ctx, ARCH, 0)
    assert c["arch"] == ARCH and c["alone_s"] > 0 and len(c["together_each_s"]) == 2
    assert c["ceiling_ratio"] == 2 * c["alone_s"] / c["together_s"]
    assert 0.5 < c["ceiling_ratio"] < 4  # two processes of the same work: near 2 on 2 idle cores
