"""RKD and DKD as plain functions, and every distillation term through the one trainer."""

from __future__ import annotations

import pytest
import torch

from kdnas.data import DataBundle, Split
from kdnas.distill import DistillSpec, RetrainRecipe, dkd_loss, rkd_angle_loss, rkd_distance_loss
from kdnas.distill.trainer import train
from kdnas.space import build_student


def test_rkd_is_zero_for_scaled_copies_and_positive_otherwise():
    e = torch.randn(8, 5)
    assert rkd_distance_loss(e, 3.0 * e).item() == pytest.approx(0.0, abs=1e-6)  # distances are normalised
    assert rkd_angle_loss(e, 2.0 * e + 1.0).item() == pytest.approx(0.0, abs=1e-6)  # angles: scale/shift free
    other = torch.randn(8, 7)  # another width: only relations are compared
    assert rkd_distance_loss(e, other).item() > 0 and rkd_angle_loss(e, other).item() > 0


def test_rkd_gradients_reach_the_student_only():
    s = torch.randn(6, 4, requires_grad=True)
    t = torch.randn(6, 9, requires_grad=True)
    (rkd_distance_loss(s, t) + rkd_angle_loss(s, t)).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and torch.isfinite(s.grad).all()
    assert t.grad is None


def test_dkd_zero_for_equal_logits_positive_otherwise_with_gradient():
    logits, y = torch.randn(6, 5), torch.randint(0, 5, (6,))
    assert dkd_loss(logits, logits.clone(), y).item() == pytest.approx(0.0, abs=1e-5)
    s = torch.randn(6, 5, requires_grad=True)
    loss = dkd_loss(s, torch.randn(6, 5), y, alpha=1.0, beta=8.0, temperature=4.0)
    assert loss.item() > 0
    loss.backward()
    assert s.grad.abs().sum() > 0 and torch.isfinite(s.grad).all()


def test_dkd_terms_separate():
    # Same target probability, different non-target distribution: TCKD is 0, NCKD is not.
    y = torch.tensor([0])
    s, t = torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[2.0, 0.0, 1.0]])
    assert dkd_loss(s, t, y, alpha=1.0, beta=0.0).item() == pytest.approx(0.0, abs=1e-6)
    assert dkd_loss(s, t, y, alpha=0.0, beta=1.0).item() > 0


@pytest.fixture
def bundle(make_blobs):
    splits = [Split(*make_blobs(n, seed, (1, 8, 8))) for n, seed in ((128, 0), (64, 1), (64, 2))]
    return DataBundle("blobs", *splits, num_classes=2, classes=("a", "b"), input_shape=(1, 8, 8),
                      mean=(0.0,), std=(1.0,), flip_ok=True, fingerprint="f")


def test_every_term_trains_through_the_trainer(bundle, tiny):
    torch.manual_seed(0)
    teacher = build_student(tiny, 1, 2).eval()
    spec = DistillSpec(alpha=0.5, hint_weight=1.0, rkd_distance=1.0, rkd_angle=2.0, dkd_weight=1.0,
                       dkd_warmup_epochs=1.0)
    recipe = RetrainRecipe(epochs=1, batch_size=32, lr=0.05, threads=1, schedule="step", milestones=(0.5,))
    result = train(build_student(tiny, 1, 2), bundle, recipe, seed=0, teacher=teacher, distill=spec)
    assert set(result.history[0]["terms"]) == {"ce", "kd", "dkd", "hint0", "hint1", "rkd_d", "rkd_a"}
    assert all(v >= 0 for v in result.history[0]["terms"].values())
    assert not teacher.training
