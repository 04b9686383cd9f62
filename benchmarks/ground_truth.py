"""The ground-truth runs a committed fidelity report holds, for another `python -m benchmarks.fidelity` run to reuse.

The ground truth is nearly all of a fidelity benchmark's cost (hours of full training per panel on a
CPU), and its per-run results live in the report's JSON next to the architecture, seed and seconds.
`python -m benchmarks.fidelity --ground-truth-from REPORT.json` takes them into the run cache, so a fresh
checkout, or another machine, can score new proxies against that ground truth without training it
again. A run is taken only when it was trained against the same teacher (its weights' sha256), on
the same data (the loader's fingerprint of the subsets) and under the same recipe; otherwise the
import is refused, because a mixed ground truth would rank nothing. A teacher trained again is not
bit-identical to the first (another code version, another machine), so each report keeps its
teacher's checkpoint beside it (`teachers/<sha>.pt`, `save_teacher`), and an import on a checkout
that has no teacher yet starts from that one (`committed_teacher`). The block table's results are
kept in the report too, and taken where the settings match (`block_records`), so a fresh checkout
need not train its blocks again either.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from kdnas.atomic import save_torch
from kdnas.distill.spec import BlockwiseSpec, ProxySpec
from kdnas.errors import UserError
from kdnas.study.migrate_proxy import migrate_proxy_advanced


def load_result(path: Path) -> dict:
    """The fidelity result in `path`; a user error when it is unreadable or not one."""
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read a fidelity result ({err})") from None
    if not isinstance(r, dict) or r.get("benchmark") != "fidelity":
        raise UserError(f"{path}: not a `python -m benchmarks.fidelity` result (no \"benchmark\": \"fidelity\")")
    return r


@dataclass(frozen=True)
class ImportedRun:
    """One ground-truth run of a report: an architecture's test accuracy under one seed."""

    arch: str
    seed: int
    record: dict  # what the run cache keeps: acc, seconds, steps, and where it came from


def check_recipe(result: dict, source: str, *, fingerprint: str, recipe: str, key: str) -> None:
    """A user error unless the fidelity `result` (read from `source`) trained its ground truth on this
    run's data under this run's recipe. `recipe` is the recipe text a report states, `key` the
    ground-truth spec's cache key; reports from before the key was written are matched by their text."""
    try:
        gt = result["ground_truth"]
        theirs = gt.get("data_fingerprint", result["data"]["fingerprint"])  # older reports: one data set for all
        result["panel"], result["teacher"]["sha256"]  # noqa: B018 (there, for the steps after this check)
    except (KeyError, TypeError, AttributeError):
        raise UserError(f"{source}: a fidelity result without its teacher, data or ground truth") from None
    if theirs != fingerprint:
        raise UserError(f"{source}: its ground truth was trained on other data (fingerprint {theirs}, this run's is "
                        f"{fingerprint}); use the same --data, subset sizes and --gt-test-subset")
    if gt.get("recipe") != recipe:
        raise UserError(f"{source}: its ground truth has another recipe ({gt.get('recipe')!r}; this run's is "
                        f"{recipe!r})")
    if gt.get("key", key) != key and stored_key_now(gt["key"]) != key:
        raise UserError(f"{source}: its ground truth has another recipe: the same text, other run settings "
                        f"({gt['key']}; this run's are {key})")


def stored_key_now(stored: str) -> str | None:
    """A ground-truth key written by an older `ProxySpec.run_json()` as today's code writes the same
    settings (None when it no longer reads as a proxy spec). The key is the spec's JSON, and its
    shape moved on (expert settings under `advanced`, memory-only and other methods' settings left
    out) while the run it names did not, so a committed ground truth stays usable."""
    try:
        old = json.loads(stored)
        moved = migrate_proxy_advanced({"proxy": old})[0]["proxy"] if isinstance(old, dict) else None
        return ProxySpec.model_validate(moved).run_json()
    except (ValueError, TypeError):
        return None


def ground_truth_runs(result: dict, source: str, *, teacher_sha: str, fingerprint: str, recipe: str,
                      key: str) -> list[ImportedRun]:
    """Every ground-truth run in the fidelity `result` (read from `source`), checked against this run's
    data and recipe (`check_recipe`) and teacher (its weights' sha256)."""
    check_recipe(result, source, fingerprint=fingerprint, recipe=recipe, key=key)
    theirs = result["teacher"]["sha256"]
    if theirs != teacher_sha:
        fix = ("remove this run's teacher from runs/teachers/ to take the report's, or leave the report out"
               if result["teacher"].get("checkpoint") else
               "the report keeps no teacher checkpoint (it was made before reports kept one), so its ground truth "
               "cannot be reused here")
        raise UserError(f"{source}: its ground truth was trained against another teacher (sha256 {theirs[:12]}, "
                        f"this run's is {teacher_sha[:12]}); {fix}")
    runs = []
    for row in result["panel"]:
        for run in row["gt"]["runs"]:
            rec = {k: v for k, v in run.items() if k != "seed"}
            runs.append(ImportedRun(row["arch"], int(run["seed"]), {**rec, "imported_from": source}))
    return runs


TEACHERS = "teachers"  # beside the reports: the teachers their ground truths were trained against


def save_teacher(out_dir: Path, sha: str, blob: dict) -> str:
    """Keep the teacher checkpoint `blob` (state, val_acc, train_samples) beside the reports in
    `out_dir`, once per teacher (about a megabyte for a ResNet-20); returns its path relative to
    `out_dir`, which the report records. A ground truth is reusable only with the very teacher it
    was distilled from, and a teacher trained again elsewhere is not bit-identical to it."""
    rel = f"{TEACHERS}/{sha[:16]}.pt"
    path = out_dir / rel
    if not path.is_file():
        save_torch(path, blob)
    return rel


def committed_teacher(result: dict, source: Path, *, name: str, epochs: int, train_samples: int) -> dict | None:
    """The teacher checkpoint the report `result` (read from `source`) keeps beside it, loaded with
    `weights_only`; None when it keeps none. A user error when it is not the teacher these flags
    (teacher name, epochs, training images) ask for, or cannot be read."""
    teacher = result.get("teacher", {})
    rel = teacher.get("checkpoint")
    if not rel:
        return None
    asked, theirs = (name, epochs, train_samples), (teacher.get("name"), teacher.get("epochs"), teacher.get("train_samples"))
    if asked != theirs:
        raise UserError(f"{source}: its teacher is {theirs[0]} trained {theirs[1]} epochs on {theirs[2]} images; this run "
                        f"asks for {asked[0]} trained {asked[1]} epochs on {asked[2]} images")
    path = source.parent / rel
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise UserError(f"{path}: cannot read the teacher checkpoint of {source} ({err})") from None
    if not isinstance(blob, dict) or "state" not in blob:
        raise UserError(f"{path}: not a teacher checkpoint (no \"state\")")
    return blob


def block_records(result: dict, spec: BlockwiseSpec) -> list[dict]:
    """The block table's results the report `result` keeps, when its table was trained with the
    settings of `spec` (those in its cache key); none otherwise, and the table is trained here.
    The report's teacher and data must already be checked (`ground_truth_runs`)."""
    table = result.get("block_table", {})
    # reports written before the expert settings moved under `advanced` keep them beside the others
    settings = migrate_proxy_advanced({"proxy": {"blockwise": table.get("settings", {})}})[0]["proxy"]["blockwise"]
    try:
        theirs = BlockwiseSpec.model_validate(settings)
    except ValueError:
        return []
    return list(table.get("records", [])) if theirs.fingerprint() == spec.fingerprint() else []
