"""random_crop_flip: shapes, identity, flips and crops that are real shifts of the padded image."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kdnas.data import random_crop_flip


def _batch(b: int = 64, c: int = 3, h: int = 8, w: int = 6) -> torch.Tensor:
    return torch.arange(b * c * h * w, dtype=torch.float32).reshape(b, c, h, w) + 1  # no zeros: padding is visible


def test_shape_kept_and_identity() -> None:
    x = _batch()
    assert random_crop_flip(x, 2, True, torch.Generator().manual_seed(0)).shape == x.shape
    assert torch.equal(random_crop_flip(x, 0, False), x)


def test_flip_only_flips_some_samples() -> None:
    x = _batch()
    out = random_crop_flip(x, 0, True, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x)]
    kept = [torch.equal(o, s) for o, s in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54
    again = random_crop_flip(x, 0, True, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_crops_are_shifts_of_the_padded_image() -> None:
    x, pad = _batch(), 2
    out = random_crop_flip(x, pad, True, torch.Generator().manual_seed(1))
    padded = F.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[-2:]
    offsets = set()
    for o, p in zip(out, padded):
        match = [
            (dy, dx, f)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            for f in (False, True)
            if torch.equal(o, (p.flip(-1) if f else p)[:, dy : dy + h, dx : dx + w])
        ]
        assert match, "every output is a window of the (possibly flipped) padded image"
        offsets.add(match[0][:2])
    assert len(offsets) > 5  # shifts really vary between samples


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        random_crop_flip(torch.zeros(3, 4, 4), 1, False)
    with pytest.raises(ValueError):
        random_crop_flip(torch.zeros(1, 3, 4, 4), -1, False)
