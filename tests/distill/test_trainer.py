"""Full training on a tiny problem: it learns, it calls back, and it leaves torch's threads alone."""

from __future__ import annotations

import pytest
import torch

from kdnas.data import DataBundle, Split
from kdnas.distill import DistillSpec, TrainRecipe, accuracy
from kdnas.distill.trainer import train
from kdnas.errors import TrialFailure
from kdnas.space import build_student


@pytest.fixture
def bundle(make_blobs):
    splits = [Split(*make_blobs(n, seed)) for n, seed in ((256, 0), (128, 1), (64, 2))]
    return DataBundle("blobs", *splits, num_classes=2, classes=("a", "b"), input_shape=(1, 4, 4),
                      mean=(0.0,), std=(1.0,), flip_ok=True, fingerprint="f")


RECIPE = dict(epochs=3, batch_size=32, lr=0.05, warmup_epochs=0.5, threads=1, crop_pad=0)


def _model(tiny):
    torch.manual_seed(0)
    return build_student(tiny, 1, 2)


def test_train_improves_accuracy_and_restores_threads(bundle, tiny):
    model = _model(tiny)
    before = accuracy(model, bundle.val.x, bundle.val.y)
    torch.set_num_threads(2)  # the recipe runs at 1; the caller's setting must come back
    seen = []
    result = train(model, bundle, TrainRecipe(**RECIPE), seed=0, on_epoch=lambda e, r: seen.append((e, r)))
    assert torch.get_num_threads() == 2
    assert result.val_acc >= 0.9 and result.val_acc > before
    assert result.epochs == 3 and result.steps == 3 * (256 // 32)
    assert [e for e, _ in seen] == [0, 1, 2]
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.history[-1]["val_acc"] == result.val_acc
    assert accuracy(model, bundle.val.x, bundle.val.y) == result.val_acc  # trained in place


def test_train_with_teacher_and_augmentation(bundle, tiny):
    teacher = _model(tiny)
    train(teacher, bundle, TrainRecipe(**RECIPE), seed=1)
    student = _model(tiny)
    result = train(student, bundle, TrainRecipe(**{**RECIPE, "crop_pad": None, "label_smoothing": 0.1}), seed=2,
                   teacher=teacher, distill=DistillSpec(alpha=0.5))
    assert result.val_acc >= 0.85
    assert not teacher.training  # the teacher stays in eval mode


def test_train_is_deterministic(bundle, tiny):
    a = train(_model(tiny), bundle, TrainRecipe(**{**RECIPE, "epochs": 1}), seed=5)
    b = train(_model(tiny), bundle, TrainRecipe(**{**RECIPE, "epochs": 1}), seed=5)
    assert a.history[0]["loss"] == b.history[0]["loss"]


def test_non_finite_loss_fails_and_threads_are_restored(bundle, tiny):
    bad = Split(torch.full_like(bundle.train.x, float("inf")), bundle.train.y)
    data = DataBundle(**{**bundle.__dict__, "train": bad})
    torch.set_num_threads(2)
    with pytest.raises(TrialFailure, match="non-finite"):
        train(_model(tiny), data, TrainRecipe(**RECIPE), seed=0)
    assert torch.get_num_threads() == 2


def _count_calls(model: torch.nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_teacher_logits_are_computed_once_without_augmentation(bundle, tiny, monkeypatch):
    teacher = _model(tiny)
    train(teacher, bundle, TrainRecipe(**RECIPE), seed=1)
    recipe = TrainRecipe(**{**RECIPE, "augment": False, "eval_batch_size": 64})
    calls = _count_calls(teacher)
    cached = train(_model(tiny), bundle, recipe, seed=3, teacher=teacher, distill=DistillSpec(alpha=0.7))
    assert calls[0] == 256 // 64  # one pass over the training split, not one per step
    from kdnas.distill.distiller import Distiller

    monkeypatch.setattr(Distiller, "logits_only", property(lambda self: False))  # the per-batch path
    calls[0] = 0
    per_batch = train(_model(tiny), bundle, recipe, seed=3, teacher=teacher, distill=DistillSpec(alpha=0.7))
    assert calls[0] == per_batch.steps
    for a, b in zip(cached.history, per_batch.history):  # the same logits, so the same training
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["val_acc"] == b["val_acc"]


def test_augmented_training_runs_the_teacher_on_every_batch(bundle, tiny):
    teacher = _model(tiny)
    calls = _count_calls(teacher)
    result = train(_model(tiny), bundle, TrainRecipe(**RECIPE), seed=3, teacher=teacher, distill=DistillSpec(alpha=0.7))
    assert calls[0] == result.steps
