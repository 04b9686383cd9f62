"""The proxy run on a tiny separable problem: it learns, it is deterministic, it fails cleanly."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from kdnas.arch import Arch
from kdnas.distill import HintPair, ProxySpec, TeacherOutputs, accuracy, run_proxy
from kdnas.distill.proxy import ProxyResult
from kdnas.errors import TrialFailure
from kdnas.space import build_student

TINY = Arch.from_str("stem_c4-ir_s1_k3_e1_c4_d1-dws_s2_k3_e1_c8_d1-head_c0")


def _student(seed: int = 0):
    torch.manual_seed(seed)
    return build_student(TINY, 1, 2)


def _teacher(y: torch.Tensor, x: torch.Tensor) -> TeacherOutputs:
    """A fake, confident and correct teacher; its stage-1 features are a pooled copy of the input."""
    logits = torch.stack([-(2.0 * y - 1.0), 2.0 * y - 1.0], 1) * 4.0
    feats = torch.nn.functional.avg_pool2d(x, 2).repeat(1, 6, 1, 1).half()  # (N, 6, 2, 2)
    return TeacherOutputs(logits.float(), {1: feats}, key="fake")


SPEC = dict(steps=40, batch_size=32, optimizer="sgd", lr=0.05)


@pytest.mark.parametrize("method", ["kd", "ce", "hint"])
def test_proxy_learns_a_separable_problem(data, method):
    x_train, y_train, x_val, y_val = data
    teacher = _teacher(y_train, x_train)
    hints = [HintPair("stages.1", 1, TINY.out_width(1), 6)]
    base = accuracy(_student(), x_val, y_val)
    result = run_proxy(_student(), x_train, y_train, x_val, y_val, teacher if method != "ce" else None,
                       ProxySpec(method=method, **SPEC), seed=0, hints=hints)
    assert result.val_acc >= 0.9
    assert result.val_acc > base
    assert result.steps == 40
    assert result.train_s > 0 and result.eval_s >= 0
    expected = {"ce": {"ce"}, "kd": {"kd", "ce"}, "hint": {"kd", "ce", "hint1"}}[method]
    assert set(result.loss_terms) == expected
    assert all(v >= 0 for v in result.loss_terms.values())


def test_hint_method_without_hints_is_plain_kd(data):
    x_train, y_train, x_val, y_val = data
    result = run_proxy(_student(), x_train, y_train, x_val, y_val, _teacher(y_train, x_train),
                       ProxySpec(method="hint", steps=3), seed=0)
    assert set(result.loss_terms) == {"kd", "ce"}


def test_hints_are_ignored_unless_method_is_hint(data):
    x_train, y_train, x_val, y_val = data
    hints = [HintPair("stages.1", 1, TINY.out_width(1), 6)]
    result = run_proxy(_student(), x_train, y_train, x_val, y_val, _teacher(y_train, x_train),
                       ProxySpec(method="kd", steps=3), seed=0, hints=hints)
    assert "hint1" not in result.loss_terms


def test_kd_needs_teacher_outputs(data):
    with pytest.raises(ValueError, match="needs teacher outputs"):
        run_proxy(_student(), *data, None, ProxySpec(method="kd", steps=1), seed=0)


def test_same_seed_same_result_other_seed_other_result(data):
    x_train, y_train, x_val, y_val = data
    teacher = _teacher(y_train, x_train)
    spec = ProxySpec(method="kd", steps=15, batch_size=16, optimizer="sgd", lr=0.05)
    a = run_proxy(_student(3), x_train, y_train, x_val, y_val, teacher, spec, seed=11)
    b = run_proxy(_student(3), x_train, y_train, x_val, y_val, teacher, spec, seed=11)
    c = run_proxy(_student(3), x_train, y_train, x_val, y_val, teacher, spec, seed=12)
    assert a.val_acc == b.val_acc
    assert a.final_loss == b.final_loss
    assert a.loss_terms == b.loss_terms
    assert c.final_loss != a.final_loss  # the seed drives the batch order


def test_epochs_budget_sets_steps(data):
    x_train, y_train, x_val, y_val = data
    result = run_proxy(_student(), x_train, y_train, x_val, y_val, None,
                       ProxySpec(method="ce", epochs=0.5, batch_size=64), seed=0)
    assert result.steps == 2  # ceil(0.5 * 256 / 64)


def test_batch_larger_than_data_still_runs(data):
    x_train, y_train, x_val, y_val = data
    result = run_proxy(_student(), x_train[:10], y_train[:10], x_val, y_val, None,
                       ProxySpec(method="ce", steps=3, batch_size=64), seed=0)
    assert result.steps == 3


def test_inf_inputs_fail_the_trial(data):
    x_train, y_train, x_val, y_val = data
    x_bad = x_train.clone()
    x_bad[:] = float("inf")
    with pytest.raises(TrialFailure, match="non-finite loss"):
        run_proxy(_student(), x_bad, y_train, x_val, y_val, None, ProxySpec(method="ce", steps=5), seed=0)


def test_huge_learning_rate_fails_the_trial(data):
    x_train, y_train, x_val, y_val = data
    spec = ProxySpec(method="kd", steps=50, optimizer="sgd", lr=1e30, batch_size=32)
    with pytest.raises(TrialFailure, match="non-finite loss"):
        run_proxy(_student(), x_train, y_train, x_val, y_val, _teacher(y_train, x_train), spec, seed=0)


def test_the_run_records_its_training_speed_and_validation_loss(data):
    x_train, y_train, x_val, y_val = data
    teacher = _teacher(y_train, x_train)
    one = run_proxy(_student(), x_train, y_train, x_val, y_val, teacher, ProxySpec(method="kd", **{**SPEC, "steps": 1}),
                    seed=0)
    assert one.train_loss_mean == one.train_loss_late == one.final_loss  # one step: the means are that step's loss
    two = run_proxy(_student(), x_train, y_train, x_val, y_val, teacher, ProxySpec(method="kd", **{**SPEC, "steps": 2}),
                    seed=0)
    assert two.train_loss_late == two.final_loss  # the second half of two steps is the last one
    assert two.train_loss_mean == pytest.approx((one.final_loss + two.final_loss) / 2)  # same seed: same first step
    many = run_proxy(_student(), x_train, y_train, x_val, y_val, teacher, ProxySpec(method="kd", **SPEC), seed=0)
    assert many.train_loss_mean > many.final_loss  # it learns, so the mean over the run lies above its end
    assert many.train_loss_mean > many.train_loss_late  # and the first half's losses lie above the second's
    assert many.val_loss < one.val_loss  # and the validation loss falls with it
    model = _student()
    result = run_proxy(model, x_train, y_train, x_val, y_val, teacher,
                       ProxySpec(method="kd", advanced={"bn_recalibration": 0}, **SPEC), seed=0)
    with torch.no_grad():
        logits = model.eval()(x_val)
    assert result.val_loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y_val)), rel=1e-5)


def test_each_score_kind_ranks_higher_is_better() -> None:
    r = ProxyResult(val_acc=0.8, final_loss=1.0, steps=10, train_s=1.0, eval_s=0.1, val_loss=0.6, train_loss_mean=1.3,
                    train_loss_late=1.1)
    assert (r.score("accuracy"), r.score("val_loss"), r.score("tse"), r.score("tse_late")) == (0.8, -0.6, -1.3, -1.1)
    with pytest.raises(ValueError, match="unknown proxy score"):
        r.score("loss")
    with pytest.raises(ValidationError):
        ProxySpec(steps=10, advanced={"score": "loss"})
