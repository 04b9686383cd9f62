"""scikit-learn's bundled 8x8 digits: no files, no network, the data set for tests and demos."""

from __future__ import annotations

import numpy as np

from kdnas.data.raw import RawData


def load_digits_raw() -> RawData:
    """1,797 grey 8x8 digits with values 0..16, as uint8 (N, 1, 8, 8); no official test split."""
    # Imported here: sklearn takes about a second to import and only this source needs it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.uint8).reshape(-1, 1, 8, 8)  # values are whole numbers 0..16
    y = bunch.target.astype(np.int64)
    return RawData(
        train_x=x,
        train_y=y,
        test_x=None,
        test_y=None,
        classes=tuple(str(d) for d in range(10)),
        flip_ok=False,
        scale=16.0,
    )
