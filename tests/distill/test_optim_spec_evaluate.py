"""Schedule shape, optimizer groups, the proxy spec's budget rule, accuracy."""

from __future__ import annotations

import math

import pydantic
import pytest
import torch
from torch import nn

from kdnas.distill import ProxySpec, TrainRecipe, accuracy
from kdnas.distill.evaluate import accuracy_and_loss
from kdnas.distill.optim import make_optimizer, param_groups, warmup_cosine


def test_warmup_is_linear_then_cosine_to_zero():
    total, warmup = 100, 10
    f = [warmup_cosine(s, total, warmup) for s in range(total + 1)]
    assert f[:warmup] == pytest.approx([(s + 1) / warmup for s in range(warmup)])
    assert f[warmup] == pytest.approx(1.0)
    assert f[55] == pytest.approx(0.5)  # half-way through the cosine
    assert f[total] == pytest.approx(0.0, abs=1e-12)
    after = f[warmup:]
    assert all(a >= b for a, b in zip(after, after[1:]))
    assert warmup_cosine(total + 50, total, warmup) == pytest.approx(0.0, abs=1e-12)  # stays at 0


def test_no_warmup_starts_at_one():
    assert warmup_cosine(0, 10, 0) == 1.0
    assert warmup_cosine(5, 10, 0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_weight_decay_only_on_weights():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(2, 2))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {p.ndim for p in decay["params"]} == {2, 4}
    assert len(no_decay["params"]) == 4  # conv bias, BN weight+bias, linear bias
    model[0].weight.requires_grad_(False)
    assert len(param_groups(model, 0.1)[0]["params"]) == 1


def test_make_optimizer():
    model = nn.Linear(2, 2)
    sgd = make_optimizer(model, "sgd", 0.1, 0.9, 0.0, nesterov=True)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]
    assert not make_optimizer(model, "sgd", 0.1, 0.0, 0.0, nesterov=True).param_groups[0]["nesterov"]
    assert isinstance(make_optimizer(model, "adamw", 0.1, 0.9, 0.0), torch.optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(model, "lbfgs", 0.1, 0.9, 0.0)


def test_proxy_spec_needs_exactly_one_budget():
    with pytest.raises(pydantic.ValidationError, match="exactly one budget"):
        ProxySpec()
    with pytest.raises(pydantic.ValidationError, match="exactly one budget"):
        ProxySpec(steps=10, epochs=1.0)
    assert ProxySpec(steps=7).total_steps(1000) == 7
    assert ProxySpec(epochs=1.5, batch_size=64).total_steps(100) == math.ceil(150 / 64)
    assert ProxySpec(epochs=0.001, batch_size=64).total_steps(10) == 1


def test_proxy_spec_rejects_bad_values():
    with pytest.raises(pydantic.ValidationError):
        ProxySpec(steps=0)
    with pytest.raises(pydantic.ValidationError):
        ProxySpec(steps=1, alpha=1.5)
    with pytest.raises(pydantic.ValidationError):
        ProxySpec(steps=1, method="rkd")
    with pytest.raises(pydantic.ValidationError):
        ProxySpec(steps=1, stepz=2)
    with pytest.raises(pydantic.ValidationError):
        TrainRecipe(epochs=0)


class _Fixed(nn.Module):
    """Predicts class (x > 0) for a scalar input."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        v = x.flatten(1)[:, 0:1] * self.w
        return torch.cat([-v, v], 1)


def test_accuracy_counts_argmax_hits_in_batches():
    model = _Fixed().train()
    x = torch.tensor([1.0, -1.0, 2.0, -3.0, 0.5]).view(5, 1, 1, 1)
    y = torch.tensor([1, 0, 0, 0, 1])
    assert accuracy(model, x, y) == pytest.approx(4 / 5)
    assert accuracy(model, x, y, batch_size=2) == pytest.approx(4 / 5)
    assert not model.training
    assert accuracy(model, x[:0], y[:0]) == 0.0


def test_the_loss_is_the_mean_cross_entropy_over_every_batch():
    model = _Fixed()
    x = torch.tensor([1.0, -1.0, 2.0, -3.0, 0.5]).view(5, 1, 1, 1)
    y = torch.tensor([1, 0, 0, 0, 1])
    with torch.no_grad():
        expected = float(nn.functional.cross_entropy(model(x), y))
    for batch in (5, 2):
        acc, loss = accuracy_and_loss(model, x, y, batch_size=batch)
        assert acc == pytest.approx(4 / 5)
        assert loss == pytest.approx(expected, rel=1e-6)


def test_a_cpu_evaluation_runs_in_small_chunks_with_the_same_result() -> None:
    """On the CPU a large batch is slower than several small ones (eval-batch-cpu.md), so the pass
    is chunked whatever `batch_size` says; in eval mode, BatchNorm included, the chunks change the
    number of forward calls and nothing the caller sees."""
    from kdnas.distill.evaluate import CPU_EVAL_CHUNK

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    model.train()(torch.randn(64, 1, 8, 8))  # non-trivial running statistics
    x, y = torch.randn(200, 1, 8, 8), torch.randint(0, 3, (200,))
    calls: list[int] = []
    model.register_forward_hook(lambda _m, inp, _out: calls.append(len(inp[0])))
    chunked = accuracy_and_loss(model, x, y, batch_size=1024)
    assert calls == [CPU_EVAL_CHUNK] * 3 + [200 - 3 * CPU_EVAL_CHUNK]
    calls.clear()
    whole = accuracy_and_loss(model, x, y, batch_size=1024, cpu_chunk=None)
    assert calls == [200]
    assert chunked[0] == whole[0] and chunked[1] == pytest.approx(whole[1], rel=1e-6)
    assert accuracy_and_loss(model, x, y, batch_size=16)[0] == whole[0]  # a smaller batch is kept


def test_without_an_lr_the_optimizer_brings_its_own() -> None:
    assert ProxySpec(steps=5, optimizer="sgd").lr == 0.05
    assert ProxySpec(steps=5, optimizer="adamw").lr == 3e-3
    assert ProxySpec(steps=5, optimizer="adamw", lr=0.01).lr == 0.01  # a given lr is kept
    assert ProxySpec(steps=5, optimizer="sgd", lr=0.1).lr == 0.1


def test_the_default_short_run_is_adamw_ranked_by_its_second_half_training_speed() -> None:
    spec = ProxySpec(steps=5)
    assert (spec.optimizer, spec.lr, spec.advanced.score) == ("adamw", 3e-3, "tse_late")
    assert spec.advanced.bn_recalibration == 512  # 2048 before 2026-11-25: the same figures for half the evaluation pass


def test_an_lr_without_its_optimizer_is_refused() -> None:
    """`lr: 0.1` was an SGD rate while SGD was the default; read under today's AdamW default it
    would diverge silently, so the spec asks which optimizer it is for."""
    with pytest.raises(pydantic.ValidationError, match="lr 0.1 is given without an optimizer"):
        ProxySpec(steps=5, lr=0.1)


def test_a_study_file_with_a_moved_field_is_told_where_it_went() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"score, weight_decay moved: write proxy\.advanced\.score and "
                       r"proxy\.advanced\.weight_decay"):
        ProxySpec(steps=5, score="tse", weight_decay=0.0)
    with pytest.raises(pydantic.ValidationError, match=r"write proxy\.blockwise\.advanced\.include_stem_head"):
        ProxySpec(steps=5, blockwise={"include_stem_head": False})


def test_every_proxy_field_is_described_for_the_config_reference() -> None:
    from kdnas.distill.spec import BlockwiseAdvanced, BlockwiseSpec, ProxyAdvanced

    for model in (ProxySpec, ProxyAdvanced, BlockwiseSpec, BlockwiseAdvanced):
        assert model.__doc__ and all(f.description for f in model.model_fields.values()), model.__name__
