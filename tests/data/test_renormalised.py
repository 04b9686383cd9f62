"""Re-expressing one split in another bundle's normalisation (a teacher trained on a larger draw)."""

from __future__ import annotations

import torch

from kdnas.data import DataSpec, load_data, renormalised


def test_larger_draw_in_the_study_statistics_gives_the_study_values_for_the_same_images() -> None:
    small = load_data(DataSpec(name="digits", max_train=300))
    full = load_data(DataSpec(name="digits"))
    assert small.mean != full.mean  # different draws, different statistics
    moved = renormalised(full.val, full, small)  # the val split is the same images in both
    assert torch.allclose(moved.x, small.val.x, atol=1e-5) and torch.equal(moved.y, small.val.y)
    assert torch.allclose(renormalised(full.val, full, full).x, full.val.x, atol=1e-6)


def test_with_train_from_takes_the_larger_training_draw_and_keeps_the_rest() -> None:
    from kdnas.data import with_train_from

    small = load_data(DataSpec(name="digits", max_train=300))
    full = load_data(DataSpec(name="digits"))
    wide = with_train_from(small, full)
    assert len(wide.train) == len(full.train) > len(small.train)
    assert wide.val is small.val and wide.test is small.test and wide.mean == small.mean
    assert torch.allclose(wide.train.x, renormalised(full.train, full, small).x)
