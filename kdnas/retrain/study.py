"""`kdnas retrain`: train chosen students of a finished study fully, test them, write results back.

Students are rebuilt from their stored architecture text (user attribute ``arch``) and trained
from scratch against the study's teacher with the study's ``retrain`` recipe (or the default),
one run folder per (trial, kd|nokd, seed) under ``runs/retrain/<study>/``; the results go into
the study (`kdnas.retrain.records`) so reports can put proxy and final accuracy side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial

from kdnas.data import load_data
from kdnas.device import resolve_device
from kdnas.distill.spec import RetrainRecipe
from kdnas.errors import CheckpointError, UserError
from kdnas.log import note
from kdnas.paths import runs_dir
from kdnas.retrain.rank import RankAgreement, rank_agreement
from kdnas.retrain.records import retrain_results, record_run
from kdnas.retrain.run import RunResult, export_run, read_result, run_name, train_run
from kdnas.space import StudentBuilder, student_builder
from kdnas.study import records as R
from kdnas.study.config import StudyConfig
from kdnas.study.front import front_trials, is_trained
from kdnas.study.storage import load_existing
from kdnas.teachers import load_checkpoint


@dataclass(frozen=True)
class RetrainOutcome:
    """Runs done now and the proxy-to-final agreement over every retrained trial of the study."""

    runs: tuple[tuple[int, RunResult], ...]
    agreement: RankAgreement
    exported: tuple[str, ...] = ()


def one_per_arch(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The first trial of each architecture, in the given order."""
    seen, out = set(), []
    for t in trials:
        if t.user_attrs[R.ARCH] not in seen:
            seen.add(t.user_attrs[R.ARCH])
            out.append(t)
    return out


def select_trials(study: optuna.Study, trials: list[int] | None = None, front: bool = False,
                  top: int | None = None) -> list[FrozenTrial]:
    """The chosen trials: by number, the Pareto front, or the `top` by the proxy's score (`proxy.advanced.score`:
    the first objective's value), one per arch."""
    all_trials = study.get_trials(deepcopy=False)
    chosen: list[FrozenTrial] = []
    if trials:
        by_number = {t.number: t for t in all_trials}
        for n in trials:
            t = by_number.get(n)
            if t is None or not is_trained(t):
                raise UserError(f"trial {n} of study '{study.study_name}' is not a complete, trained trial")
            chosen.append(t)
    if front:
        chosen += front_trials(study)
    if top:
        ok = sorted((t for t in all_trials if is_trained(t)), key=lambda t: -t.values[0])
        chosen += ok[:top]
    out = one_per_arch(chosen)
    if not out:
        raise UserError(f"no trial chosen: give --trial N, --front or --top K (study '{study.study_name}')")
    return out


def run_folder(study_name: str, trial: int, kd: bool, seed: int) -> Path:
    """``runs/retrain/<study>/<trial>-<kd|nokd>-s<seed>/``."""
    return runs_dir() / "retrain" / study_name / run_name(kd, seed, str(trial))


def agreement_of(study: optuna.Study) -> RankAgreement:
    """Kendall tau / Spearman rho between the proxy's score (the first objective: validation accuracy,
    or a loss negated under `proxy.advanced.score`) and final test accuracy (KD runs)."""
    results = retrain_results(study)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    pairs = [(by_number[n].values[0], r["final_test_acc"]) for n, r in sorted(results.items())
             if n in by_number and "final_test_acc" in r]
    return rank_agreement([p for p, _ in pairs], [f for _, f in pairs])


def recipe_of(cfg: StudyConfig, epochs: int | None = None, seed: int | None = None) -> RetrainRecipe:
    """The study's retrain recipe with the command line's overrides."""
    recipe = cfg.retrain or RetrainRecipe()
    update = {k: v for k, v in {"epochs": epochs, "seed": seed}.items() if v is not None}
    return RetrainRecipe.model_validate({**recipe.model_dump(), **update}) if update else recipe


def _student(build: StudentBuilder, arch: str, c: int, k: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build(arch, c, k)


def _sibling_acc(folder: Path, kd: bool) -> float | None:
    other = folder.parent / folder.name.replace("-kd-" if kd else "-nokd-", "-nokd-" if kd else "-kd-")
    res = read_result(other)
    return res["test_acc"] if res else None


def retrain_study(
    cfg: StudyConfig,
    *,
    trials: list[int] | None = None,
    front: bool = False,
    top: int | None = None,
    kd: bool = True,
    epochs: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    export: bool = False,
    verbose: bool = True,
) -> RetrainOutcome:
    """Retrain the chosen trials of the study `cfg` (see the module docstring) on `device`
    (default: the study's), the auto-trained teacher included."""
    device = str(resolve_device(device or cfg.device))  # before anything is read or written
    study = load_existing(cfg.storage_url, cfg.name)
    chosen = select_trials(study, trials, front, top)
    recipe = recipe_of(cfg, epochs, seed)
    data = load_data(cfg.data)
    teacher = None
    teacher_info: dict = {"name": cfg.teacher.name}
    if kd or export:
        from kdnas.study.teacher import ensure_teacher

        loaded = ensure_teacher(cfg, data, device=device)
        teacher_info.update({"checkpoint": str(loaded.checkpoint), "sha256": loaded.sha256,
                             "val_acc": loaded.meta.get("val_acc")})
        teacher = loaded.model if kd else None
    c, k = data.input_shape[0], data.num_classes
    build = student_builder(cfg.space, c, k)  # block-wise or NNI: the study's own space rebuilds its students
    done, exported = [], []
    for t in chosen:
        arch = t.user_attrs[R.ARCH]
        folder = run_folder(cfg.name, t.number, kd, recipe.seed)
        if verbose:
            note(f"retrain trial {t.number} ({'kd' if kd else 'nokd'}, seed {recipe.seed}): {arch}")
        student = _student(build, arch, c, k, recipe.seed)
        res = train_run(student, data, recipe, folder, arch=arch, seed=recipe.seed, teacher=teacher,
                        teacher_features=cfg.teacher.feature_modules, device=device, verbose=verbose)
        summary = record_run(study, t.number, res.as_dict())
        done.append((t.number, res))
        if export:
            card = {"name": f"{cfg.name} trial {t.number} ({res.kind}, seed {res.seed})", "arch": arch,
                    "study": cfg.name, "trial": t.number, "kind": res.kind, "seed": res.seed,
                    "proxy_val_acc": t.user_attrs.get(R.VAL_ACC), "val_acc": res.val_acc,
                    "test_acc_kd": summary.get("final_test_acc") if kd else _sibling_acc(folder, False),
                    "test_acc_nokd": summary.get("final_test_acc_nokd") if not kd else _sibling_acc(folder, True),
                    "teacher": teacher_info, "recipe": recipe.model_dump(mode="json")}
            card["test_acc_kd"] = res.test_acc if kd else card["test_acc_kd"]
            card["test_acc_nokd"] = res.test_acc if not kd else card["test_acc_nokd"]
            export_run(student, data, folder, card=card)
            exported.append(str(folder))
    return RetrainOutcome(tuple(done), agreement_of(study), tuple(exported))


def export_trial(cfg: StudyConfig, trial: int, *, kd: bool = True, seed: int | None = None) -> dict:
    """`kdnas export STUDY --trial N`: export a finished retrain run (its model.pt) with its card."""
    study = load_existing(cfg.storage_url, cfg.name)
    (t,) = select_trials(study, [trial])
    recipe = recipe_of(cfg, seed=seed)
    folder = run_folder(cfg.name, trial, kd, recipe.seed)
    if not (folder / "model.pt").is_file():
        raise CheckpointError(f"no finished retrain run in {folder}; run `kdnas retrain {cfg.name} --trial {trial}` first")
    state, meta = load_checkpoint(folder / "model.pt")
    arch = t.user_attrs[R.ARCH]
    if meta.get("arch") != arch:
        raise CheckpointError(f"checkpoint {folder / 'model.pt'} is of architecture {meta.get('arch')!r}, trial {trial} is {arch!r}")
    data = load_data(cfg.data)
    c, k = data.input_shape[0], data.num_classes
    student = _student(student_builder(cfg.space, c, k), arch, c, k, 0)
    student.load_state_dict(state)
    res = read_result(folder) or {}
    card = {"name": f"{cfg.name} trial {trial} ({'kd' if kd else 'nokd'}, seed {recipe.seed})", "arch": arch,
            "study": cfg.name, "trial": trial, "kind": "kd" if kd else "nokd", "seed": recipe.seed,
            "proxy_val_acc": t.user_attrs.get(R.VAL_ACC), "val_acc": res.get("val_acc"),
            "test_acc_kd": res.get("test_acc") if kd else _sibling_acc(folder, False),
            "test_acc_nokd": res.get("test_acc") if not kd else _sibling_acc(folder, True),
            "teacher": {"name": cfg.teacher.name}, "recipe": recipe.model_dump(mode="json")}
    return export_run(student, data, folder, card=card)
