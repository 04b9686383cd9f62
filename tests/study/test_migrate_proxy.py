"""`migrate_proxy_advanced`: a stored study's proxy settings move under `advanced`, values unchanged."""

from __future__ import annotations

import copy
from pathlib import Path

from kdnas.distill.spec import ProxySpec
from kdnas.study.config import config_from_dict
from kdnas.study.migrate_proxy import migrate_proxy_advanced
from tests.studykit import study_dict

V1_PROXY = {"method": "blockwise", "score": "accuracy", "temperature": 4.0, "alpha": 0.9, "hint_weight": 1.0,
            "steps": 300, "epochs": None, "batch_size": 64, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
            "weight_decay": 5e-4, "eval_batch_size": 1024, "bn_recalibration": 2048, "threads": 2,
            "blockwise": {"steps": 60, "batch_size": 64, "lr": 0.003, "max_samples": 1024, "val_samples": 359,
                          "include_stem_head": True, "n_students": 1000000, "threads": 2, "score": "loss"}}


def test_a_version_1_config_gets_its_fields_under_advanced_and_the_input_is_untouched() -> None:
    stored = {"name": "s", "seed": 0, "proxy": V1_PROXY, "objectives": ["accuracy", "macs"]}
    before = copy.deepcopy(stored)
    new, said = migrate_proxy_advanced(stored)
    assert stored == before  # pure: the caller's dict is not changed
    assert new["proxy"]["advanced"] == {"score": "accuracy", "bn_recalibration": 2048, "eval_batch_size": 1024,
                                        "momentum": 0.9, "weight_decay": 5e-4}
    assert new["proxy"]["blockwise"]["advanced"] == {"score": "loss", "include_stem_head": True, "val_samples": 359}
    assert "score" not in new["proxy"] and "val_samples" not in new["proxy"]["blockwise"]
    assert new["proxy"]["lr"] == 0.1 and new["proxy"]["blockwise"]["n_students"] == 1000000  # the rest stays
    assert {k: v for k, v in new.items() if k != "proxy"} == {k: v for k, v in stored.items() if k != "proxy"}
    assert said is not None and "proxy.score" in said and "proxy.blockwise.val_samples" in said and "\n" not in said
    # exactly the shape this version stores: every field where the schema has it (a `similarity`
    # section is stored only by similarity studies, as `blockwise` only by block-wise ones)
    assert ProxySpec.model_validate(new["proxy"]).model_dump(mode="json", exclude={"similarity"}) == new["proxy"]


def test_a_config_of_an_older_version_keeps_its_missing_fields_missing() -> None:
    """Studies stored before `score` or `bn_recalibration` existed lack them; filling in the value
    that reproduces them is another step's work, not this one's."""
    old = {"proxy": {k: v for k, v in V1_PROXY.items() if k not in {"score", "bn_recalibration", "blockwise"}}}
    new, said = migrate_proxy_advanced(old)
    assert new["proxy"]["advanced"] == {"eval_batch_size": 1024, "momentum": 0.9, "weight_decay": 5e-4}
    assert "blockwise" not in new["proxy"] and said is not None


def test_the_new_shape_is_left_as_it_is(tmp_path: Path) -> None:
    proxy = {"method": "blockwise", "steps": 5, "optimizer": "sgd", "blockwise": {"steps": 3}}
    resolved = config_from_dict(study_dict(tmp_path, proxy=proxy)).resolved()
    assert "advanced" in resolved["proxy"] and "advanced" in resolved["proxy"]["blockwise"]
    again, said = migrate_proxy_advanced(resolved)
    assert said is None and again == resolved
    once, _ = migrate_proxy_advanced({"proxy": V1_PROXY})
    assert migrate_proxy_advanced(once) == (once, None)  # a second run changes nothing
    assert migrate_proxy_advanced({"name": "no proxy"}) == ({"name": "no proxy"}, None)


def test_a_stored_retrain_recipe_loses_a_ce_weight_that_meant_one_minus_alpha() -> None:
    from kdnas.distill.spec import RetrainRecipe
    from kdnas.study.migrate_proxy import migrate_retrain_ce_weight

    recipe = RetrainRecipe(epochs=2).model_dump(mode="json")
    for ce in (None, 0.1):  # the old default, and the value it stood for at alpha 0.9
        stored = {"name": "s", "retrain": {**recipe, "distill": {**recipe["distill"], "ce_weight": ce}}}
        new, said = migrate_retrain_ce_weight(stored)
        assert "ce_weight" in stored["retrain"]["distill"]  # pure
        assert new["retrain"] == recipe and said is not None and "ce_weight" in said
        assert RetrainRecipe.model_validate(new["retrain"]) == RetrainRecipe(epochs=2)
    apart = {"retrain": {**recipe, "distill": {**recipe["distill"], "ce_weight": 1.0}}}
    assert migrate_retrain_ce_weight(apart) == (apart, None)  # refused with its fix where it is used
    assert migrate_retrain_ce_weight({"retrain": recipe}) == ({"retrain": recipe}, None)
    assert migrate_retrain_ce_weight({"name": "no retrain"}) == ({"name": "no retrain"}, None)
