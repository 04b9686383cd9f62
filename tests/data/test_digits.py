"""digits: the whole pipeline (split, stratification, determinism, normalisation, spec)."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from kdnas.data import DataBundle, DataSpec, Split, load_data


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return load_data(DataSpec(name="digits", seed=0))


def test_shapes_and_metadata(digits: DataBundle) -> None:
    assert digits.input_shape == (1, 8, 8)
    assert digits.num_classes == 10 and digits.classes == tuple("0123456789")
    assert not digits.flip_ok
    total = len(digits.train) + len(digits.val) + len(digits.test)
    assert total == 1797
    assert len(digits.test) == round(0.2 * 1797)
    assert len(digits.val) == round(0.1 * (1797 - len(digits.test)))
    for split in (digits.train, digits.val, digits.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape[1:] == (1, 8, 8) and split.x.shape[0] == len(split)
        assert set(split.y.tolist()) == set(range(10))
    assert "digits" in digits.describe() and "1x8x8" in digits.describe()
    assert "\n" not in digits.describe()


def _raw(bundle: DataBundle, split: Split) -> np.ndarray:
    """The split's pixels back in digits' 0..16 units (undoing the bundle's normalisation)."""
    x = split.x.reshape(len(split), -1).numpy() * bundle.std[0] + bundle.mean[0]
    return np.rint(x * 16).astype(int)


def _rows(bundle: DataBundle, split: Split) -> set[bytes]:
    return {row.tobytes() for row in _raw(bundle, split)}


def test_splits_disjoint(digits: DataBundle) -> None:
    # digits has a few duplicate images, so compare multisets: the three splits together must be
    # exactly the data set's images, each used once.
    from sklearn.datasets import load_digits

    raw = load_digits().images.reshape(1797, -1)
    together = np.concatenate([_raw(digits, s) for s in (digits.train, digits.val, digits.test)])
    assert sorted(map(tuple, together)) == sorted(map(tuple, raw.astype(int)))


def test_stratified(digits: DataBundle) -> None:
    full = np.bincount(np.concatenate([s.y.numpy() for s in (digits.train, digits.val, digits.test)])) / 1797
    for split in (digits.train, digits.val, digits.test):
        share = np.bincount(split.y.numpy(), minlength=10) / len(split)
        assert np.abs(share - full).max() < 0.01 + 1 / len(split)


def test_normalised_by_train(digits: DataBundle) -> None:
    assert abs(digits.train.x.mean().item()) < 1e-4
    assert abs(digits.train.x.std().item() - 1) < 1e-3
    assert abs(digits.test.x.mean().item()) < 0.1  # same statistics, not re-normalised
    assert 0 < digits.mean[0] < 1 and 0 < digits.std[0] < 1


def test_deterministic_per_seed(digits: DataBundle) -> None:
    again = load_data(DataSpec(name="digits", seed=0))
    assert torch.equal(again.train.x, digits.train.x) and torch.equal(again.test.y, digits.test.y)
    assert again.fingerprint == digits.fingerprint
    other = load_data(DataSpec(name="digits", seed=1))
    assert not torch.equal(other.test.y, digits.test.y)
    assert _rows(other, other.test) != _rows(digits, digits.test)
    assert other.fingerprint != digits.fingerprint


def test_subsample_and_val_independent_of_max_train(digits: DataBundle) -> None:
    small = load_data(DataSpec(name="digits", max_train=50, max_val=20, max_test=30))
    assert (len(small.train), len(small.val), len(small.test)) == (50, 20, 30)
    assert set(small.train.y.tolist()) == set(range(10))
    assert _rows(small, small.train) <= _rows(digits, digits.train)
    assert small.fingerprint != digits.fingerprint
    only_train = load_data(DataSpec(name="digits", max_train=50))
    assert torch.equal(only_train.val.y, digits.val.y)
    assert torch.equal(only_train.test.y, digits.test.y)


def test_spec_validation() -> None:
    for bad in ({"val_fraction": 0.5}, {"val_fraction": 0}, {"max_train": 0}, {"name": "svhn"}, {"extra": 1}):
        with pytest.raises(pydantic.ValidationError):
            DataSpec(**{"name": "digits", **bad})
    spec = DataSpec(name="digits")
    with pytest.raises(pydantic.ValidationError):
        spec.seed = 3  # type: ignore[misc]
