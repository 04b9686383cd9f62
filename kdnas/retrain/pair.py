"""`kdnas distill`: the retrain trainer for any teacher/student pair, outside any study."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from kdnas.data import DataSpec, load_data
from kdnas.device import AUTO, resolve_device
from kdnas.distill.evaluate import accuracy
from kdnas.distill.spec import RetrainRecipe
from kdnas.errors import CheckpointError
from kdnas.log import note
from kdnas.paths import runs_dir
from kdnas.profile import model_for
from kdnas.retrain.run import RunResult, export_run, read_result, run_name, train_run
from kdnas.teachers import TeacherSpec, load_teacher


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


def distill_pair(
    teacher: str,
    student: str,
    data: DataSpec,
    recipe: RetrainRecipe,
    *,
    teacher_checkpoint: Path | None = None,
    kd: bool = True,
    device: str = AUTO,
    out: Path | None = None,
    export: bool = False,
    verbose: bool = True,
) -> tuple[RunResult, Path]:
    """Train `student` (zoo name, factory or arch string) against `teacher` (zoo name or factory,
    with its checkpoint) on `data` on `device`; returns the run's result and folder."""
    device = str(resolve_device(device))  # before any data is read or folder written
    bundle = load_data(data)
    c, h, w = bundle.input_shape
    t_model, t_info = None, {"name": teacher}
    if kd or export:
        spec = TeacherSpec(name=teacher, checkpoint=teacher_checkpoint)
        if spec.checkpoint is None:
            raise CheckpointError(f"teacher {teacher!r} needs --teacher-checkpoint (or use --no-kd)")
        t_model = load_teacher(spec, num_classes=bundle.num_classes, in_channels=c, input_size=(h, w)).to(device)
        t_info.update({"checkpoint": str(teacher_checkpoint), "test_acc": accuracy(t_model, bundle.test.x, bundle.test.y)})
    torch.manual_seed(recipe.seed)
    s_model, label = model_for(student, bundle.input_shape, bundle.num_classes)
    arch = label.split(" ", 1)[1]
    folder = Path(out) if out else runs_dir() / "distill" / f"{_safe(teacher)}--{_safe(arch)}" / run_name(kd, recipe.seed)
    if verbose:
        note(f"distill {teacher} -> {arch} on {bundle.describe()} ({'kd' if kd else 'labels only'})")
    res = train_run(s_model, bundle, recipe, folder, arch=arch, seed=recipe.seed, teacher=t_model if kd else None,
                    device=device, verbose=verbose)
    if export:
        sibling = read_result(folder.parent / run_name(not kd, recipe.seed))
        other = sibling["test_acc"] if sibling else None
        card = {"name": f"{arch} distilled from {teacher}" if kd else f"{arch} (labels only)", "arch": arch,
                "kind": res.kind, "seed": res.seed, "val_acc": res.val_acc,
                "test_acc_kd": res.test_acc if kd else other, "test_acc_nokd": other if kd else res.test_acc,
                "teacher": t_info, "recipe": recipe.model_dump(mode="json")}
        export_run(s_model, bundle, folder, card=card)
    return res, folder
