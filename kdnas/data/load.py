"""`load_data`: one call from a `DataSpec` to a `DataBundle`."""

from __future__ import annotations

from kdnas.data.assemble import assemble
from kdnas.data.bundle import DataBundle
from kdnas.data.raw import RawData
from kdnas.data.spec import DataSpec


def load_raw(spec: DataSpec) -> RawData:
    """The untouched uint8 data of `spec`'s source (reading, and if allowed downloading, files)."""
    # Sources are imported on use so that e.g. loading digits never imports Pillow or tarfile code.
    if spec.name == "digits":
        from kdnas.data.digits import load_digits_raw

        return load_digits_raw()
    if spec.name in ("mnist", "fashion_mnist"):
        from kdnas.data.mnist import load_mnist_raw

        return load_mnist_raw(spec.name, spec.resolved_root(), spec.download)
    if spec.name in ("cifar10", "cifar100"):
        from kdnas.data.cifar import load_cifar_raw

        return load_cifar_raw(spec.name, spec.resolved_root(), spec.download)
    from kdnas.data.image_folder import load_image_folder_raw

    return load_image_folder_raw(spec.resolved_root())


def load_data(spec: DataSpec) -> DataBundle:
    """Load the data set `spec` names, split it (seeded, stratified) and normalise it.

    Raises `kdnas.errors.DataError` (one line) when files are missing, corrupt or cannot be fetched.
    """
    return assemble(spec, load_raw(spec))
