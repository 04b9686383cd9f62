"""Losses as plain functions: KD against a hand computation, the KD/CE mix, hints."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from kdnas.distill import hint_loss, kd_loss, kd_objective


def test_kd_is_zero_for_equal_logits():
    logits = torch.randn(5, 7)
    assert kd_loss(logits, logits.clone(), 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_is_positive_for_different_logits():
    s, t = torch.randn(5, 7), torch.randn(5, 7)
    assert kd_loss(s, t, 4.0).item() > 0
    assert kd_loss(s, s + 3.0, 2.0).item() == pytest.approx(0.0, abs=1e-6)  # shift-invariant


def test_kd_matches_hand_computation():
    s = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    t = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    temp = 2.0

    def softmax(v):
        e = [math.exp(a / temp) for a in v]
        return [a / sum(e) for a in e]

    total = 0.0
    for si, ti in zip(s, t):
        ps, pt = softmax(si), softmax(ti)
        total += sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt))
    expected = total / len(s) * temp**2
    got = kd_loss(torch.tensor(s), torch.tensor(t), temp).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_kd_accepts_half_teacher_logits_and_gives_student_gradients():
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4)
    loss = kd_loss(s, t.half(), 3.0)
    assert loss.dtype == torch.float32
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_kd_objective_weights():
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    ce, kd = F.cross_entropy(s, y), kd_loss(s, t, 4.0)

    terms = kd_objective(s, y, t, 4.0, 0.3)
    assert set(terms) == {"kd", "ce"}
    torch.testing.assert_close(terms["kd"], 0.3 * kd)
    torch.testing.assert_close(terms["ce"], 0.7 * ce)

    assert set(kd_objective(s, y, t, 4.0, 1.0)) == {"kd"}
    only_ce = kd_objective(s, y, t, 4.0, 0.0)
    assert set(only_ce) == {"ce"}
    torch.testing.assert_close(only_ce["ce"], ce)
    no_teacher = kd_objective(s, y, None, 4.0, 0.9)
    assert set(no_teacher) == {"ce"}
    torch.testing.assert_close(no_teacher["ce"], ce)


def test_hint_loss_is_mse():
    a = torch.zeros(2, 3, 2, 2)
    b = torch.full((2, 3, 2, 2), 2.0).half()
    assert hint_loss(a, b).item() == pytest.approx(4.0)
    assert hint_loss(b.float(), b).item() == 0.0
