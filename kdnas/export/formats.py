"""TorchScript and ONNX files of a model, with the ONNX outputs checked against PyTorch's.

ONNX goes through the TorchScript-based exporter (``dynamo=False``): it needs no onnxscript and
handles these convolutional nets; the batch axis is dynamic.
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

PARITY_TOL = 1e-4


@dataclass(frozen=True)
class ExportedModel:
    """Paths of the exported files and the largest |onnxruntime - PyTorch| output difference."""

    torchscript: Path
    onnx: Path
    max_abs_diff: float


def _session(onnx_path: Path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


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
        torch.jit.save(torch.jit.trace(probe, example), str(ts_path))
        torch.onnx.export(probe, (example,), str(onnx_path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=17)
    x = torch.randn(check_batch, *input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = probe(x).numpy()
    got = _session(onnx_path).run(None, {"input": x.numpy()})[0]
    diff = float(np.abs(got - ref).max())
    if not diff <= PARITY_TOL:
        raise RuntimeError(f"ONNX outputs differ from PyTorch's by {diff:.3g} (> {PARITY_TOL})")
    return ExportedModel(ts_path, onnx_path, diff)


def ort_latency_ms(onnx_path: Path, input_shape: tuple[int, int, int], *, batch_size: int = 1, threads: int = 1,
                   warmup: int = 5, repeats: int = 20) -> float:
    """Median milliseconds of one onnxruntime CPU run on a (batch_size, *input_shape) input."""
    sess = _session(onnx_path, threads)
    x = np.random.default_rng(0).standard_normal((batch_size, *input_shape)).astype(np.float32)
    for _ in range(warmup):
        sess.run(None, {"input": x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {"input": x})
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)
