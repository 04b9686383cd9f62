"""`benchmarks.ground_truth`: which committed ground-truth runs a fidelity run may take, and why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.ground_truth import (block_records, committed_teacher, ground_truth_runs, load_result, save_teacher,
                                     stored_key_now)
from kdnas.distill.spec import BlockwiseSpec, ProxySpec
from kdnas.errors import UserError

RECIPE, KEY, SHA, FP = "KD 2 epochs", '{"epochs":2}', "a" * 64, "f" * 16


def _result(**teacher: object) -> dict:
    return {"benchmark": "fidelity", "data": {"fingerprint": FP},
            "teacher": {"name": "resnet20", "epochs": 5, "train_samples": 900, "sha256": SHA, **teacher},
            "ground_truth": {"recipe": RECIPE, "key": KEY},
            "panel": [{"arch": "A", "gt": {"acc": 0.6, "runs": [{"seed": 0, "acc": 0.5, "seconds": 3.0, "steps": 9},
                                                                 {"seed": 1, "acc": 0.7, "seconds": 4.0, "steps": 9}]}},
                      {"arch": "B", "gt": {"acc": 0.4, "runs": [{"seed": 0, "acc": 0.4, "seconds": 2.0, "steps": 9}]}}]}


def _runs(r: dict, **over: str) -> list:
    kw = {"teacher_sha": SHA, "fingerprint": FP, "recipe": RECIPE, "key": KEY, **over}
    return ground_truth_runs(r, "r.json", **kw)


def test_every_seeds_run_is_taken_with_where_it_came_from() -> None:
    runs = _runs(_result())
    assert [(r.arch, r.seed) for r in runs] == [("A", 0), ("A", 1), ("B", 0)]
    assert runs[1].record == {"acc": 0.7, "seconds": 4.0, "steps": 9, "imported_from": "r.json"}


@pytest.mark.parametrize(("over", "said"), [({"fingerprint": "0" * 16}, "other data"),
                                            ({"recipe": "KD 3 epochs"}, "another recipe"),
                                            ({"key": '{"epochs":3}'}, "another recipe")])
def test_other_data_or_another_recipe_is_refused(over: dict, said: str) -> None:
    with pytest.raises(UserError, match=said):
        _runs(_result(), **over)


def test_a_report_without_its_key_is_matched_by_its_recipe_text() -> None:
    old = _result()
    del old["ground_truth"]["key"]
    assert len(_runs(old)) == 3
    with pytest.raises(UserError, match="another recipe"):
        _runs(old, recipe="KD 3 epochs")


def test_a_key_of_an_older_spec_shape_is_matched_by_the_settings_it_names() -> None:
    """The committed reports' keys predate `proxy.advanced` (and kept eval_batch_size and the block
    table's settings in them): the same ground-truth recipe, written in today's shape, is accepted;
    another recipe in the old shape is still refused."""
    now = ProxySpec(method="kd", epochs=15, batch_size=128, optimizer="sgd", lr=0.1, threads=1,
                    advanced={"bn_recalibration": 0}).run_json()
    old = json.loads((Path(__file__).resolve().parents[2] / "reports" / "benchmarks" /
                      "fidelity-fashion_mnist-teacher2-adamw-gt10k3-recal512.json").read_text())
    stored = old["ground_truth"]["key"]
    assert stored != now and '"eval_batch_size":1024' in stored  # the old shape
    assert stored_key_now(stored) == now
    r = _result()
    r["ground_truth"]["key"] = stored
    assert len(_runs(r, key=now)) == 3
    r["ground_truth"]["key"] = stored.replace('"epochs":15.0', '"epochs":14.0')
    with pytest.raises(UserError, match="another recipe"):
        _runs(r, key=now)
    assert stored_key_now("not json") is None and stored_key_now('{"method": "nope"}') is None


def test_another_teacher_is_refused_saying_whether_the_reports_teacher_can_be_taken() -> None:
    with pytest.raises(UserError, match="keeps no teacher checkpoint"):
        _runs(_result(), teacher_sha="b" * 64)
    with pytest.raises(UserError, match="remove this run's teacher"):
        _runs(_result(checkpoint="teachers/aaaa.pt"), teacher_sha="b" * 64)


def test_a_kept_teacher_is_taken_only_for_the_flags_it_was_trained_under(tmp_path: Path) -> None:
    blob = {"state": {"w": torch.ones(2)}, "val_acc": 0.8, "train_samples": 900}
    rel = save_teacher(tmp_path, SHA, blob)
    assert rel == f"teachers/{SHA[:16]}.pt"
    r = _result(checkpoint=rel)
    src = tmp_path / "r.json"
    got = committed_teacher(r, src, name="resnet20", epochs=5, train_samples=900)
    assert torch.equal(got["state"]["w"], blob["state"]["w"]) and got["val_acc"] == 0.8
    with pytest.raises(UserError, match="asks for resnet20 trained 8 epochs"):
        committed_teacher(r, src, name="resnet20", epochs=8, train_samples=900)
    assert committed_teacher(_result(), src, name="resnet20", epochs=5, train_samples=900) is None
    (tmp_path / rel).write_text("not a checkpoint")
    with pytest.raises(UserError, match="cannot read the teacher checkpoint"):
        committed_teacher(r, src, name="resnet20", epochs=5, train_samples=900)


def test_a_file_that_is_not_a_fidelity_result_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"benchmark": "scaling"}))
    with pytest.raises(UserError, match="not a `python -m benchmarks.fidelity` result"):
        load_result(tmp_path / "x.json")
    with pytest.raises(UserError, match="cannot read"):
        load_result(tmp_path / "missing.json")


def test_block_results_are_taken_only_under_the_settings_they_were_trained_with() -> None:
    spec = BlockwiseSpec(steps=4, max_samples=64)
    recs = [{"group": "t0", "block": "skip", "loss": 0.5, "train_s": 1.0, "c_in": 8, "c_out": 16}]
    r = {**_result(), "block_table": {"settings": spec.model_dump(), "records": recs}}
    assert block_records(r, spec) == recs
    assert block_records(r, spec.model_copy(update={"threads": 2, "n_students": 9})) == recs  # not in the key
    assert block_records(r, spec.model_copy(update={"steps": 5})) == []
    assert block_records(_result(), spec) == []  # a report from before tables were kept
    # a report from before the expert settings moved under `advanced`
    flat = {k: v for k, v in spec.model_dump().items() if k != "advanced"} | spec.advanced.model_dump()
    assert block_records({**r, "block_table": {"settings": flat, "records": recs}}, spec) == recs


_TRAINS = {"method": "ce", "temperature": 2.0, "alpha": 0.5, "hint_weight": 0.5, "epochs": 13, "batch_size": 64,
           "optimizer": "adamw", "lr": 0.2}
_TRAINS_ADVANCED = {"momentum": 0.8, "weight_decay": 0.0, "bn_recalibration": 256}  # the last changes what is measured


def test_a_runs_key_changes_with_what_changes_its_result_and_only_with_that() -> None:
    """Cached runs (here: ground truths, short runs) are keyed by `ProxySpec.run_json()`."""
    from kdnas.distill.spec import ProxySpec

    spec = ProxySpec(method="kd", epochs=12, batch_size=128, optimizer="sgd", lr=0.1, threads=1,
                     advanced={"bn_recalibration": 0})
    key = spec.run_json()
    for name, value in _TRAINS.items():
        assert spec.model_copy(update={name: value}).run_json() != key, name
    for name, value in _TRAINS_ADVANCED.items():
        assert spec.model_copy(update={"advanced": spec.advanced.model_copy(update={name: value})}).run_json() != key, name
    # what only ranks, sizes the evaluation, or says where and how fast it runs
    for name, value in {"score": "accuracy", "eval_batch_size": 64}.items():
        assert spec.model_copy(update={"advanced": spec.advanced.model_copy(update={name: value})}).run_json() == key, name
    assert spec.model_copy(update={"threads": 8, "blockwise": BlockwiseSpec(steps=7)}).run_json() == key


def test_a_blocks_key_changes_with_what_changes_its_result_and_only_with_that() -> None:
    spec = BlockwiseSpec(steps=4, max_samples=64)
    key = spec.fingerprint()
    for name, value in {"steps": 5, "batch_size": 32, "lr": 0.01, "max_samples": 128}.items():
        assert spec.model_copy(update={name: value}).fingerprint() != key, name
    assert spec.model_copy(update={"advanced": spec.advanced.model_copy(update={"val_samples": 64})}).fingerprint() != key
    assert spec.model_copy(update={"n_students": 9, "threads": 4}).fingerprint() == key
    for name, value in {"score": "tse", "include_stem_head": False}.items():
        assert spec.model_copy(update={"advanced": spec.advanced.model_copy(update={name: value})}).fingerprint() == key
