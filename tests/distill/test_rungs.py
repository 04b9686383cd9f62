"""A proxy run taken in rungs (successive halving) continues its saved state: the same numbers as
one run trained straight, no step trained twice, a missing state fails only that trial."""

from __future__ import annotations

import pytest
import torch

from kdnas.distill import HintPair, ProxySpec, TeacherOutputs, run_proxy
from kdnas.distill.resumable import run_rung
from kdnas.distill.state import load_state
from kdnas.errors import TrialFailure
from kdnas.space import build_student

from tests.distill.conftest import TINY


def _student():
    torch.manual_seed(3)
    return build_student(TINY, 1, 2)


def _teacher(y: torch.Tensor, x: torch.Tensor) -> TeacherOutputs:
    logits = torch.stack([-(2.0 * y - 1.0), 2.0 * y - 1.0], 1) * 4.0
    feats = torch.nn.functional.avg_pool2d(x, 2).repeat(1, 6, 1, 1)
    return TeacherOutputs(logits.float(), {1: feats}, key="fake")


# 256 training images in batches of 32: 8 steps an epoch, so the rungs below stop mid-epoch
def _spec(optimizer: str) -> ProxySpec:
    return ProxySpec(method="hint", steps=20, batch_size=32, optimizer=optimizer, lr=0.05,
                     advanced={"bn_recalibration": 64})


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_rungs_give_the_numbers_of_a_straight_run(data, tmp_path, optimizer):
    x_train, y_train, x_val, y_val = data
    teacher, spec = _teacher(y_train, x_train), _spec(optimizer)
    hints = [HintPair("stages.1", 1, TINY.out_width(1), 6)]
    straight_student = _student()
    straight = run_proxy(straight_student, x_train, y_train, x_val, y_val, teacher, spec, seed=7, hints=hints)
    state = tmp_path / "states" / "s.pt"
    results = []
    for start, stop in [(0, 5), (5, 15), (15, 20)]:
        student = _student()
        results.append(run_rung(student, x_train, y_train, x_val, y_val, teacher, spec, arch=str(TINY), seed=7,
                                state_path=state, start=start, stop=stop, hints=hints))
        assert load_state(state)["step"] == stop  # each rung continues from the last one's step
    top = results[-1]
    assert [r.steps for r in results] == [5, 15, 20]
    assert (top.val_acc, top.val_loss, top.train_loss_mean, top.train_loss_late, top.final_loss, top.loss_terms) == \
        (straight.val_acc, straight.val_loss, straight.train_loss_mean, straight.train_loss_late,
         straight.final_loss, straight.loss_terms)
    for (name, a), b in zip(straight_student.state_dict().items(), student.state_dict().values()):
        assert torch.equal(a, b), name
    assert results[0].val_acc != top.val_acc or results[0].val_loss != top.val_loss  # the rungs measured apart


def test_a_rung_already_saved_is_only_evaluated(data, tmp_path):
    x_train, y_train, x_val, y_val = data
    teacher, spec = _teacher(y_train, x_train), _spec("sgd")
    state = tmp_path / "s.pt"
    first = run_rung(_student(), x_train, y_train, x_val, y_val, teacher, spec, arch=str(TINY), seed=1,
                     state_path=state, start=0, stop=10)
    mtime = state.stat().st_mtime_ns
    again = run_rung(_student(), x_train, y_train, x_val, y_val, teacher, spec, arch=str(TINY), seed=1,
                     state_path=state, start=0, stop=10)
    assert state.stat().st_mtime_ns == mtime  # nothing trained, nothing written
    assert (again.val_acc, again.val_loss, again.train_loss_mean, again.steps) == \
        (first.val_acc, first.val_loss, first.train_loss_mean, first.steps)


def test_a_promotion_without_its_state_fails_with_a_reason(data, tmp_path):
    x_train, y_train, x_val, y_val = data
    teacher, spec = _teacher(y_train, x_train), _spec("sgd")
    state = tmp_path / "s.pt"
    with pytest.raises(TrialFailure, match="runs folder must be shared"):
        run_rung(_student(), x_train, y_train, x_val, y_val, teacher, spec, arch=str(TINY), seed=1,
                 state_path=state, start=5, stop=10)
    run_rung(_student(), x_train, y_train, x_val, y_val, teacher, spec, arch=str(TINY), seed=1,
             state_path=state, start=0, stop=5)
    with pytest.raises(TrialFailure):  # another seed's state is not this student's
        run_rung(_student(), x_train, y_train, x_val, y_val, teacher, spec, arch=str(TINY), seed=2,
                 state_path=state, start=5, stop=10)
