"""One KD-weight convention: alpha weighs Hinton KD and 1 - alpha the labels, in the proxy and in
full training alike; the removed `ce_weight` still reads where it meant 1 - alpha."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from kdnas.distill import DistillSpec, kd_objective
from kdnas.distill.distiller import Distiller
from kdnas.space import build_student


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
def test_full_training_weighs_kd_and_labels_as_the_proxy_does(tiny, make_blobs, alpha: float) -> None:
    torch.manual_seed(0)
    student, teacher = build_student(tiny, 1, 2), build_student(tiny, 1, 2).eval()
    x, y = make_blobs(16, 0)
    distiller = Distiller(student, teacher, DistillSpec(alpha=alpha, temperature=3.0), (1, 4, 4)).eval()
    out, terms = distiller(x, y)
    with torch.no_grad():
        expected = kd_objective(out, y, teacher(x), 3.0, alpha)
    assert sum(terms.values()).item() == pytest.approx(sum(expected.values()).item(), rel=1e-6)
    assert ("kd" in terms) == (alpha > 0) and ("ce" in terms) == (alpha < 1)


def test_labels_only_is_alpha_zero_with_every_other_term_off() -> None:
    spec = DistillSpec(alpha=0.7, hint_weight=1.0, dkd_weight=2.0, temperature=2.0).labels_only()
    assert spec == DistillSpec(alpha=0.0, temperature=2.0)
    assert not spec.uses_teacher and spec.label_weight == 1.0


def test_a_recipe_written_with_ce_weight_reads_only_where_it_meant_one_minus_alpha() -> None:
    assert DistillSpec.model_validate({"alpha": 0.6, "ce_weight": None}) == DistillSpec(alpha=0.6)
    assert DistillSpec.model_validate({"alpha": 0.0, "ce_weight": 1.0}) == DistillSpec(alpha=0.0)  # old labels_only()
    with pytest.raises(ValidationError, match=r"ce_weight is gone: the cross-entropy weight is 1 - alpha \(here 0.4\)"):
        DistillSpec.model_validate({"alpha": 0.6, "ce_weight": 1.0})
    assert "ce_weight" not in DistillSpec().model_dump()
