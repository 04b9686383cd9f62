"""A worker's resident context: the data moved to its device once, shipped as numpy without a copy."""

from __future__ import annotations

import numpy as np
import torch

from kdnas.execute import LocalExecutor, TrialTask
from kdnas.execute.resident import landed, on_device, pack, tensors, unpack


def test_on_the_cpu_the_resident_context_is_the_drivers_tensors(make_ctx):
    ctx = make_ctx()
    resident = on_device(ctx, "cpu")
    assert resident.device == "cpu"
    for name, t in tensors(resident).items():
        assert t is tensors(ctx)[name], name  # not a copy: the same tensor objects
    assert set(tensors(ctx)) == {"x_train", "y_train", "x_val", "y_val", "teacher.logits", "teacher.features.1"}


def test_a_packed_context_shares_memory_and_unpacks_equal(make_ctx):
    ctx = make_ctx()
    packed = pack(ctx)
    assert all(isinstance(a, np.ndarray) for a in packed.arrays.values())
    assert all(t.numel() == 0 for t in tensors(packed.frame).values())  # the frame carries no data
    assert np.shares_memory(packed.arrays["x_train"], ctx.x_train.numpy())  # packing copies nothing
    back = unpack(packed)
    for name, t in tensors(ctx).items():
        assert torch.equal(tensors(back)[name], t) and tensors(back)[name].dtype == t.dtype, name
    assert back.spec == ctx.spec and back.teacher.key == ctx.teacher.key


def test_read_only_arrays_unpack_without_a_copy_and_land_once_per_process(make_ctx):
    packed = pack(make_ctx())
    for a in packed.arrays.values():
        a.flags.writeable = False  # as Ray's object store hands them over
    first = landed(packed, "cpu")
    assert first.x_train.data_ptr() == packed.arrays["x_train"].ctypes.data
    assert landed(packed, "cpu") is first  # the second trial of this process finds it resident
    assert landed(pack(make_ctx()), "cpu") is not first  # a new search's context replaces it


def test_local_trials_read_the_one_resident_training_split(make_ctx, arch_text):
    ctx = make_ctx(steps=5)
    ex = LocalExecutor()
    ex.start(ctx)
    where = []
    for n in range(2):
        ex.submit(TrialTask(n, arch_text, n))
        (out,) = ex.wait()
        assert out.ok, out.reason
        where.append(out.where["data_ptr"])
    # every trial read the driver's own training split: never copied, per trial or per step
    assert where == [f"cpu {ctx.x_train.data_ptr():#x}"] * 2


def test_a_non_finite_loss_still_fails_the_trial_with_its_reason(make_ctx, arch_text):
    ex = LocalExecutor()
    ex.start(make_ctx(steps=5, lr=1e30))
    ex.submit(TrialTask(0, arch_text, 0))
    (out,) = ex.wait()
    assert not out.ok and out.reason.startswith("non-finite loss")
