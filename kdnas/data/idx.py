"""Reader for the IDX format of MNIST and Fashion-MNIST (gzip-compressed), with numpy only."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from kdnas.errors import DataError

UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array stored in the gzip-compressed IDX file `path`, which must have `ndim` dims.

    The magic number is 0x0000 (two zero bytes), a type code (0x08 = unsigned byte) and the number
    of dimensions; then one big-endian int32 per dimension, then the data. Any mismatch, a short
    file or a broken gzip stream raises DataError naming the file.
    """
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: not a valid .gz file ({exc}); delete it and fetch it again") from exc
    header = 4 + 4 * ndim
    if len(data) < header or data[0] != 0 or data[1] != 0 or data[2] != UBYTE or data[3] != ndim:
        raise DataError(
            f"{path} is not an IDX file of unsigned bytes with {ndim} dimensions "
            f"(magic {data[:4].hex() or 'missing'}, expected 000008{ndim:02x}); delete it and fetch it again"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    size = int(np.prod(dims))
    if len(data) != header + size:
        raise DataError(
            f"{path} is truncated or corrupt: header says {size} bytes of data, file has "
            f"{len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
