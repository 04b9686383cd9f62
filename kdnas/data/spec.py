"""`DataSpec`: which data set to load and how to split it (a small, frozen, typed config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kdnas.errors import UserError
from kdnas.paths import data_dir

DatasetName = Literal["digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder"]


class DataSpec(BaseModel):
    """Which data set to load, where from, and how to carve the train/val/test splits.

    `root` is the data directory (None: `kdnas.paths.data_dir(name)`; digits needs none).
    `val_fraction` of the train split becomes the validation split (stratified, seeded);
    `test_fraction` is only used by data sets without an official test split (digits, an image
    folder without `test/`). `max_*` subsample each split (stratified, after splitting) for quick
    runs. `download` allows fetching missing files from the official address (or a mirror).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: DatasetName = Field(description="the data set; image_folder reads your own images (one folder per class)")
    root: Path | None = Field(None, description="its folder (relative: to the study file); default $KDNAS_DATA_DIR/NAME "
                              "or runs/data/NAME; digits needs none")
    val_fraction: float = Field(default=0.1, gt=0.0, lt=0.5,
                                description="share of the training split held out to rank students (stratified, seeded)")
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0,
                                 description="share held out as the test split where the data set has none (digits, an "
                                 "image folder without test/)")
    seed: int = Field(0, description="seed of the splits and subsamples")
    max_train: int | None = Field(default=None, gt=0, description="use at most this many training images (stratified)")
    max_val: int | None = Field(default=None, gt=0, description="use at most this many validation images")
    max_test: int | None = Field(default=None, gt=0, description="use at most this many test images")
    download: bool = Field(True, description="fetch missing files from the official address (checksums verified)")

    def resolved_root(self) -> Path:
        """The data directory to read: `root` if given, else the default for this data set."""
        return self.root if self.root is not None else data_dir(self.name)


def parse_shape(text: str, usage: str) -> tuple[int, int, int]:
    """An input shape C,H,W written `3,32,32` or `3x32x32`; `UserError` "`usage`, got 'text'" otherwise
    (`usage` names the flag and its form, as the command that reads it says it)."""
    try:
        c, h, w = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"{usage}, got '{text}'") from None
    return c, h, w
