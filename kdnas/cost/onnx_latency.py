"""Latency in ONNX Runtime: the model exported as `kdnas export` exports it, timed in an
``InferenceSession`` on the execution provider of the latency device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from kdnas.cost.latency import LatencySpec, Run
from kdnas.device import parse_device
from kdnas.errors import UserError
from kdnas.export import onnx_bytes, ort_session

# A latency device's type -> the ONNX Runtime execution provider that runs there.
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class NotExportable(UserError):
    """The model cannot be exported to ONNX, so ONNX Runtime cannot time it: for a command's own
    model (a teacher, `kdnas profile`) one line and exit 2; a search fails only that student's trial."""


def provider_for(device: str, available: Sequence[str]) -> str:
    """The execution provider for `device` when it is among `available`, else a one-line `UserError`
    (mps has no provider here; CUDA needs an onnxruntime built with it, e.g. onnxruntime-gpu)."""
    kind = parse_device(device).split(":")[0]
    if kind not in PROVIDERS:
        raise UserError(f"latency device '{device}' has no ONNX Runtime provider here "
                        f"(cpu or cuda); use latency backend torch")
    provider = PROVIDERS[kind]
    if provider not in available:
        raise UserError(f"latency device '{device}' with backend onnxruntime needs {provider}, which this onnxruntime "
                        f"does not have (it has {', '.join(available) or 'none'}); install onnxruntime-gpu, "
                        f"or use device cpu or backend torch")
    return provider


def available_provider(device: str) -> str:
    """`provider_for` against the providers of the installed onnxruntime."""
    import onnxruntime

    return provider_for(device, onnxruntime.get_available_providers())


def onnxruntime_runs(models: Sequence[nn.Module], input_shape: tuple[int, int, int],
                     spec: LatencySpec) -> tuple[list[Run], str]:
    """Each model exported in memory as `kdnas export` does and loaded in an ONNX Runtime session
    with ``spec.threads`` intra-op threads (one inter-op thread) on ``spec.device``'s provider: one
    call per model on a fixed random batch, and the provider.

    The export runs on the CPU from a copy, so the caller's models are left as they were. A session
    runs synchronously, so no bracketing is needed around a timed run (on CUDA, inputs and outputs
    travel between host and device in each run, as a deployed one does).
    """
    provider = available_provider(spec.device)
    index = parse_device(spec.device).partition(":")[2]
    options = {"device_id": index} if provider == PROVIDERS["cuda"] and index else None
    x = np.random.default_rng(0).standard_normal((spec.batch_size, *input_shape)).astype(np.float32)
    runs: list[Run] = []
    for model in models:
        try:
            onnx = onnx_bytes(model, input_shape)
        except Exception as err:  # noqa: BLE001 - the exporter raises many types; all mean the same here
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise NotExportable(f"the model cannot be exported to ONNX to time it in onnxruntime "
                                f"({type(err).__name__}: {first}); use latency backend torch") from None
        session = ort_session(onnx, spec.threads, provider, options)
        runs.append(lambda session=session: session.run(None, {"input": x}))
    return runs, provider
