"""`evaluate` scores one trial and never raises: failures come back as outcomes with a reason."""

from __future__ import annotations

import pytest
import torch

from kdnas.arch import Arch
from kdnas.execute import TrialTask, evaluate
from kdnas.execute.task import hint_pairs


@pytest.mark.parametrize("method", ["kd", "hint", "ce"])
def test_ok_outcome_with_val_acc(make_ctx, arch_text, method):
    out = evaluate(TrialTask(3, arch_text, seed=0), make_ctx(method=method))
    assert out.ok, out.reason
    assert out.number == 3 and out.arch == arch_text and out.reason is None
    assert out.val_acc is not None and out.val_acc >= 0.9
    assert out.metrics["steps"] == 30.0
    assert {"train_s", "eval_s", "final_loss"} <= set(out.metrics)
    assert ("loss_hint1" in out.metrics) == (method == "hint")
    assert out.wall_s > 0 and out.where["pid"]
    assert out.where["device"] == "cpu"  # the device it ran on, recorded with the trial


@pytest.mark.skipif(torch.cuda.is_available(), reason="a worker without CUDA")
def test_a_device_the_worker_lacks_fails_the_trial_in_one_line(make_ctx, arch_text, capsys):
    from dataclasses import replace

    out = evaluate(TrialTask(2, arch_text, seed=0), replace(make_ctx(), device="cuda"))
    assert not out.ok and out.reason.startswith("device 'cuda' requested but") and "\n" not in out.reason
    assert out.where["device"] == "cuda"
    assert "Traceback" not in capsys.readouterr().err  # a reason, not a traceback per trial


def test_same_task_same_outcome(make_ctx, arch_text):
    ctx = make_ctx(steps=10)
    a, b = evaluate(TrialTask(0, arch_text, 7), ctx), evaluate(TrialTask(1, arch_text, 7), ctx)
    assert a.val_acc == b.val_acc and a.metrics["final_loss"] == b.metrics["final_loss"]


def test_hint_pairs_use_the_out_width_of_the_aligned_stage(make_ctx, arch_text):
    pairs = hint_pairs(Arch.from_str(arch_text), make_ctx())
    assert len(pairs) == 1
    p = pairs[0]
    assert (p.student_module, p.teacher_stage, p.student_channels, p.teacher_channels) == ("stages.2", 1, 8, 5)


@pytest.mark.parametrize("text", ["not-an-arch", "stem_c4-ir_s1_k4_e1_c4_d1-head_c0", ""])
def test_bad_arch_text_fails_the_trial(make_ctx, text):
    out = evaluate(TrialTask(5, text, seed=0), make_ctx())
    assert not out.ok
    assert out.val_acc is None
    assert out.reason and out.reason.startswith("ConfigError: ")
    assert "\n" not in out.reason
    assert out.number == 5 and out.arch == text


def test_non_finite_loss_fails_the_trial_and_restores_threads(make_ctx, arch_text):
    torch.set_num_threads(2)
    xt = torch.full((64, 1, 4, 4), float("inf"))
    ctx = make_ctx(x_train=xt, method="ce")
    ctx = type(ctx)(**{**ctx.__dict__, "y_train": ctx.y_train[:64]})
    out = evaluate(TrialTask(1, arch_text, seed=0), ctx)
    assert not out.ok
    assert "non-finite loss" in out.reason
    assert torch.get_num_threads() == 2


def test_unexpected_error_becomes_a_reason(make_ctx, arch_text, capsys):
    ctx = make_ctx()
    ctx = type(ctx)(**{**ctx.__dict__, "teacher": None})  # kd without teacher outputs: a bug, not a raise
    out = evaluate(TrialTask(2, arch_text, seed=0), ctx)
    assert not out.ok and out.reason.startswith("ValueError: ")
    assert "Traceback" in capsys.readouterr().err  # the bug is still visible in the log
