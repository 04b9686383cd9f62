"""Students stitched from their trained blocks: the right blocks, in order, scored by one forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdnas.arch import Arch, Stage
from kdnas.blockwise import build_block_table, plan_blocks
from kdnas.blockwise.plan import HEAD, STEM, Block
from kdnas.blockwise.stitch import group_terms, stitch, stitched_scores
from kdnas.blockwise.table import BlockTable
from kdnas.distill.losses import kd_loss
from kdnas.distill.spec import BlockwiseSpec
from kdnas.errors import ConfigError
from kdnas.space import SearchSpace, load_space
from kdnas.teachers import stage_shapes

from tests.studykit import TINY_SPACE

ROOT = Path(__file__).resolve().parents[2]


def _table(space: SearchSpace, teacher, digits, tmp_path: Path, steps: int, **kw):
    res = [(s[1], s[2]) for s in stage_shapes(teacher, digits.input_shape)]
    plan = plan_blocks(space, (8, 8), res, **kw)
    spec = BlockwiseSpec(steps=steps, batch_size=32, max_samples=256, advanced={"val_samples": 64})
    return build_block_table(plan, teacher, digits.train.x, digits.val.x, teacher_id="t",
                             data_fingerprint=digits.fingerprint, num_classes=10, spec=spec,
                             cache=tmp_path / f"s{steps}", need=("weights",))


def _logits(teacher, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return teacher(x)


def test_a_stitched_student_runs_its_own_blocks_in_order(teacher, digits, tmp_path: Path) -> None:
    space = SearchSpace.model_validate(TINY_SPACE)
    table = _table(space, teacher, digits, tmp_path, steps=5)
    a = Arch(8, (Stage.from_str("ir_s1_k3_e2_c8_d1"), Stage.from_str("basic_s2_k3_e1_c16_d1"),
                 Stage.from_str("dws_s2_k3_e1_c24_d1")), 0)
    x = digits.val.x[:16]
    with torch.inference_mode():
        by_hand = table.module(Block(STEM, width=8))(x)
        for g, st in enumerate(a.stages):
            by_hand = table.module(Block(f"t{g}", chain=(st,)))(by_hand)
        by_hand = table.module(Block(HEAD, width=0))(by_hand)
        assert torch.allclose(stitch(table, a)(x), by_hand)
        # another choice in one stage is another block there, so another output
        b = Arch(8, (a.stages[0], Stage.from_str("ir_s2_k3_e2_c8_d1"), a.stages[2]), 0)
        assert not torch.allclose(stitch(table, b)(x), by_hand)
    got = stitched_scores(table, a, x, digits.val.y[:16], _logits(teacher, x))
    assert got["kd"] == pytest.approx(float(kd_loss(by_hand, _logits(teacher, x), 4.0)), rel=1e-5)
    assert got["acc"] == pytest.approx(float((by_hand.argmax(1) == digits.val.y[:16]).float().mean()))


def test_a_combination_the_table_lacks_is_expanded_around_the_reference(teacher, digits, tmp_path: Path) -> None:
    space = load_space(ROOT / "search_spaces" / "mbv2.yaml")
    res = [(s[1], s[2]) for s in stage_shapes(teacher, digits.input_shape)]
    plan = plan_blocks(space, (8, 8), res)
    # a table without training: which blocks stand for a group reads only the table's keys
    table = BlockTable(plan, {(b.group, b.text()): 1.0 for b in plan.blocks})
    ref = plan.reference[1]
    assert ref[1].op == "skip"
    primary = next(c for c in plan.choices[2] if c != ref[0])
    refine = next(c for c in plan.choices[3] if c.op != "skip")
    stages = list(plan.reference[0] + ref + plan.reference[2])
    stages[2] = primary
    arch = Arch(plan.stem[0], tuple(stages), plan.head[0])
    # refinement stage skipped: the table holds that exact chain
    assert group_terms(table, arch, 1) == [(1.0, Block("t1", chain=(primary, ref[1])))]
    stages[3] = refine
    arch = Arch(plan.stem[0], tuple(stages), plan.head[0])
    # both stages off the reference: ref + (primary - ref) + (refine - ref)
    assert group_terms(table, arch, 1) == [(-1.0, Block("t1", chain=ref)),
                                           (1.0, Block("t1", chain=(primary, ref[1]))),
                                           (1.0, Block("t1", chain=(ref[0], refine)))]
    assert group_terms(table, arch, 0) == [(1.0, Block("t0", chain=plan.reference[0]))]


def test_trained_blocks_stitch_into_a_student_closer_to_the_teacher(teacher, digits, tmp_path: Path) -> None:
    space = SearchSpace.model_validate(TINY_SPACE)
    barely, trained = (_table(space, teacher, digits, tmp_path, steps=s) for s in (1, 150))
    x, y = digits.val.x, digits.val.y
    t = _logits(teacher, x)
    archs = [Arch(w, (Stage.from_str(f"ir_s1_k3_e2_c{w}_d1"), Stage.from_str("ir_s2_k3_e2_c16_d1"),
                      Stage.from_str("ir_s2_k3_e2_c24_d1")), 0) for w in (4, 8)]
    for a in archs:
        assert stitched_scores(trained, a, x, y, t)["kd"] < 0.5 * stitched_scores(barely, a, x, y, t)["kd"]


def test_blocks_without_weights_are_trained_again_for_stitching(teacher, digits, tmp_path: Path) -> None:
    space = SearchSpace.model_validate(TINY_SPACE)
    first = _table(space, teacher, digits, tmp_path, steps=3)
    gone = next((tmp_path / "s3").glob("*.pt"))
    gone.unlink()
    again = _table(space, teacher, digits, tmp_path, steps=3)
    assert again.trained == 1 and gone.is_file() and again.losses == first.losses
    # a table whose plan leaves the stem and head out cannot be stitched
    res = [(s[1], s[2]) for s in stage_shapes(teacher, digits.input_shape)]
    bare = BlockTable(plan_blocks(space, (8, 8), res, include_stem_head=False), first.losses)
    with pytest.raises(ConfigError, match="include_stem_head"):
        stitch(bare, Arch(8, tuple(c[0] for c in bare.plan.choices), 0))
