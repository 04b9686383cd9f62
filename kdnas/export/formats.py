"""TorchScript and ONNX files of a model, with the ONNX outputs checked against PyTorch's.

ONNX goes through the TorchScript-based exporter (``dynamo=False``): it needs no onnxscript and
handles these convolutional nets; the batch axis is dynamic.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kdnas.atomic import atomic_write, write_bytes

PARITY_TOL = 1e-4


@dataclass(frozen=True)
class ExportedModel:
    """Paths of the exported files and the largest |onnxruntime - PyTorch| output difference."""

    torchscript: Path
    onnx: Path
    max_abs_diff: float


def onnx_bytes(model: nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """`model` (in eval mode, on the CPU, float) as the ONNX file `kdnas export` writes: opset 17,
    input ``input``, output ``logits``, a dynamic batch axis. Also what the onnxruntime latency
    backend times, so a measured latency is the latency of the exported file."""
    probe = copy.deepcopy(model).cpu().float().eval()
    example = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(probe, (example,), buffer, dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=17)
    return buffer.getvalue()


def ort_session(onnx: bytes | Path, threads: int = 1, provider: str = "CPUExecutionProvider",
                provider_options: dict[str, str] | None = None):  # noqa: ANN201 - onnxruntime is imported lazily
    """An ONNX Runtime session on `provider` with `threads` intra-op threads and one inter-op thread
    (the deployed setting: one model, one request at a time)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    source = onnx if isinstance(onnx, bytes) else str(onnx)
    return ort.InferenceSession(source, opts, providers=[provider], provider_options=[provider_options or {}])


def export_model(model: nn.Module, input_shape: tuple[int, int, int], folder: Path, name: str = "model",
                 *, check_batch: int = 8) -> ExportedModel:
    """Write ``<name>.ts`` (TorchScript, traced) and ``<name>.onnx`` into `folder` and compare
    onnxruntime's outputs with PyTorch's on a seeded random batch. Raises RuntimeError when they
    differ by more than 1e-4."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = copy.deepcopy(model).cpu().float().eval()
    example = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    ts_path, onnx_path = folder / f"{name}.ts", folder / f"{name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(probe, example)
    with atomic_write(ts_path) as f:  # a reader never sees half a model
        torch.jit.save(traced, f)
    write_bytes(onnx_path, onnx_bytes(probe, input_shape))
    x = torch.randn(check_batch, *input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = probe(x).numpy()
    got = ort_session(onnx_path).run(None, {"input": x.numpy()})[0]
    diff = float(np.abs(got - ref).max())
    if not diff <= PARITY_TOL:
        raise RuntimeError(f"ONNX outputs differ from PyTorch's by {diff:.3g} (> {PARITY_TOL})")
    return ExportedModel(ts_path, onnx_path, diff)
