"""One full training run of one student in its own folder: train (resuming), test, save, export.

A run folder holds ``state.pt`` (the training state after the latest epoch), ``recipe.json``,
``model.pt`` (the final weights, a kdnas checkpoint), ``result.json`` and, when exported,
``model.ts``, ``model.onnx``, ``model_card.json`` and ``model_card.md``. Running the same run
again continues from ``state.pt`` (or, when finished, only re-evaluates).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from kdnas.atomic import write_text
from kdnas.cost import LatencySpec, count_macs_params, measure_latency
from kdnas.data import DataBundle
from kdnas.device import describe_device
from kdnas.distill.evaluate import accuracy
from kdnas.distill.spec import RetrainRecipe
from kdnas.distill.trainer import train
from kdnas.log import note
from kdnas.teachers import save_checkpoint


@dataclass(frozen=True)
class RunResult:
    """What one run measured (the dict form is what goes into the study and result.json)."""

    kind: str  # kd | nokd
    seed: int
    arch: str
    val_acc: float
    test_acc: float
    epochs: int
    train_s: float
    resumed_from: int
    folder: str

    def as_dict(self) -> dict:
        """Plain values for JSON and the study's user attributes."""
        return asdict(self)


def run_name(kd: bool, seed: int, prefix: str = "") -> str:
    """``[<prefix>-]<kd|nokd>-s<seed>``: the folder of one run."""
    return f"{prefix + '-' if prefix else ''}{'kd' if kd else 'nokd'}-s{seed}"


def train_run(
    student: nn.Module,
    data: DataBundle,
    recipe: RetrainRecipe,
    folder: Path,
    *,
    arch: str,
    seed: int,
    teacher: nn.Module | None,
    teacher_features: tuple[str, ...] | None = None,
    device: str = "cpu",
    verbose: bool = True,
) -> RunResult:
    """Train `student` (already built, seeded) from scratch or from the folder's state, then test it.

    ``teacher=None`` trains on labels only (the --no-kd baseline, same recipe).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kind = "kd" if teacher is not None else "nokd"
    write_text(folder / "recipe.json", json.dumps(
        {"recipe": recipe.model_dump(mode="json"), "seed": seed, "arch": arch, "kind": kind, "data": data.name,
         "data_fingerprint": data.fingerprint, "device": describe_device(device)}, indent=2) + "\n")

    def log(epoch: int, rec: dict) -> None:
        if verbose:
            note(f"  [{folder.name}] epoch {rec['epoch']}/{recipe.epochs}: loss {rec['loss']:.4f} "
                 f"val {rec['val_acc']:.4f} ({rec['seconds']:.0f}s)")

    distill = recipe.distill if teacher is not None else recipe.distill.labels_only()
    result = train(student, data, recipe, seed=seed, teacher=teacher, distill=distill,
                   teacher_features=teacher_features, device=device, on_epoch=log,
                   checkpoint=folder / "state.pt", arch=arch)
    prev = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        test_acc = accuracy(student, data.test.x, data.test.y, recipe.eval_batch_size)
    finally:
        torch.set_num_threads(prev)
    student.cpu()
    save_checkpoint(folder / "model.pt", student, {"arch": arch, "kind": kind, "seed": seed, "test_acc": test_acc,
                                                   "val_acc": result.val_acc, "data": data.name})
    out = RunResult(kind, seed, arch, result.val_acc, test_acc, result.epochs, result.train_s, result.resumed_from,
                    str(folder))
    # written last and atomically: a folder with a result.json holds a finished run (`read_result`)
    write_text(folder / "result.json", json.dumps({**out.as_dict(), "history": list(result.history)}, indent=2) + "\n")
    return out


def read_result(folder: Path) -> dict | None:
    """A finished run's result.json, or None."""
    path = Path(folder) / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def export_run(
    student: nn.Module,
    data: DataBundle,
    folder: Path,
    *,
    card: dict,
    latency: LatencySpec | None = None,
) -> dict:
    """Export a trained student from its run folder (TorchScript, ONNX) and write its model card.

    `card` brings what the run cannot know (teacher, recipe, accuracies of the sibling runs);
    MACs, params, latencies, parity and the git revision are added here. Returns the card.
    """
    from kdnas.export import export_model, git_revision, write_model_card

    spec = latency or LatencySpec()
    student = student.cpu().eval()
    exported = export_model(student, data.input_shape, folder)
    macs, params = count_macs_params(student, data.input_shape)
    # the card gives both runtimes, whichever the study's spec names: eager as trained, the export as deployed
    lat = measure_latency(student, data.input_shape, spec.model_copy(update={"backend": "torch"}))
    ort = measure_latency(student, data.input_shape, spec.model_copy(update={"backend": "onnxruntime", "device": "cpu"}))
    full = {
        **card, "macs": macs, "params": params,
        "latency_ms_torch": lat.median_ms, "latency_ms_onnxruntime": ort.median_ms,
        "latency_setting": f"CPU, batch {spec.batch_size}, {spec.threads} thread(s), median of {spec.repeats}",
        "input_shape": list(data.input_shape), "num_classes": data.num_classes, "data": data.name,
        "data_fingerprint": data.fingerprint, "onnx_max_abs_diff": exported.max_abs_diff,
        "files": [exported.torchscript.name, exported.onnx.name, "model.pt"], "git_revision": git_revision(),
    }
    write_model_card(folder, full)
    return full
