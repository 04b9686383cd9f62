"""A student that does not fit in memory fails its trial with reason "out of memory"; the next
trial in the same worker runs. The allocation failure is real: the worker process runs under an
address-space limit (RLIMIT_AS) a little above what it already uses, and the wide student needs
gigabytes. (CUDA's OutOfMemoryError takes the same path; it cannot be raised without a GPU.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from kdnas.execute.task import OUT_OF_MEMORY, is_out_of_memory

WORKER = textwrap.dedent('''
    import json, resource, torch
    torch.set_num_threads(1)
    from kdnas.distill import ProxySpec, TeacherOutputs
    from kdnas.execute import ProxyContext, TrialTask, evaluate

    g = torch.Generator().manual_seed(0)
    y = torch.arange(192) % 2
    x = torch.randn(192, 1, 4, 4, generator=g) + (2.0 * y - 1.0).view(-1, 1, 1, 1)
    logits = torch.stack([1.0 - 2.0 * y, 2.0 * y - 1.0], 1).float() * 4.0
    spec = ProxySpec(method="kd", steps=3, batch_size=192, optimizer="sgd", lr=0.05, threads=1)
    ctx = ProxyContext(x, y, x, y, TeacherOutputs(logits, {}, "fake"), spec, in_channels=1, num_classes=2)
    small = "stem_c4-ir_s1_k3_e1_c4_d1-head_c0"
    wide = "stem_c4-ir_s1_k3_e1_c4096_d1-ir_s1_k3_e6_c8_d1-head_c0"  # 24,576 hidden channels: gigabytes
    first = evaluate(TrialTask(0, small, 0), ctx)  # everything imported and warmed before the limit
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + 384 * 2**20, resource.RLIM_INFINITY))
    big = evaluate(TrialTask(1, wide, 0), ctx)
    after = evaluate(TrialTask(2, small, 0), ctx)
    print(json.dumps({"first": first.ok, "big_ok": big.ok, "big_reason": big.reason, "after": after.ok,
                      "after_acc": after.val_acc}))
''')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_student_that_does_not_fit_fails_with_out_of_memory_and_the_next_one_runs() -> None:
    done = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert res["first"] and not res["big_ok"]
    assert res["big_reason"] == OUT_OF_MEMORY, res
    assert res["after"] and res["after_acc"] is not None


def test_only_allocation_failures_count_as_out_of_memory() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("DefaultCPUAllocator: can't allocate memory"))  # not the allocator's type
