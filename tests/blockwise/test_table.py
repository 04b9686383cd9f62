"""The block table: S*C blocks, cached on disk, trained blocks better than untrained ones."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kdnas.arch import Stage
from kdnas.blockwise import build_block_table, plan_blocks
from kdnas.blockwise.plan import HEAD, STEM, Block
from kdnas.blockwise.table import make_block, teacher_stage_io, train_block
from kdnas.claims import claim_path
from kdnas.distill.spec import BlockwiseSpec
from kdnas.errors import ConfigError
from kdnas.space import SearchSpace, load_space
from kdnas.teachers import stage_shapes

from tests.studykit import TINY_SPACE

ROOT = Path(__file__).resolve().parents[2]


def _teacher_res(teacher, data) -> list[tuple[int, int]]:
    return [(s[1], s[2]) for s in stage_shapes(teacher, data.input_shape)]


def test_one_stage_per_teacher_stage_needs_s_times_c_blocks(teacher, digits) -> None:
    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), _teacher_res(teacher, digits))
    assert plan.groups == ((0,), (1,), (2,))
    stage_blocks = [b for b in plan.blocks if b.group not in (STEM, HEAD)]
    assert len(stage_blocks) == sum(len(sc.distinct()) for sc in space.stages)  # S*C, not C^S
    assert len([b for b in plan.blocks if b.group == STEM]) == len(space.stem)
    assert len({(b.group, b.text()) for b in plan.blocks}) == len(plan.blocks)


def test_refinement_stages_share_their_teacher_stage(teacher, digits) -> None:
    space = load_space(ROOT / "search_spaces" / "mbv2.yaml")
    plan = plan_blocks(space, (8, 8), _teacher_res(teacher, digits), include_stem_head=False)
    assert plan.groups == ((0, 1), (2, 3), (4, 5))
    assert all(ref[1].op == "skip" for ref in plan.reference)  # refinement stages default to skip
    # each stage's choices once, against the group's reference: a sum, not a product
    assert len(plan.blocks) <= sum(len(c) for c in plan.choices)


def test_misaligned_space_is_a_config_error(teacher, digits) -> None:
    bad = dict(TINY_SPACE, stages=[dict(s, stride=1) for s in TINY_SPACE["stages"]])
    with pytest.raises(ConfigError):
        plan_blocks(SearchSpace.model_validate(bad), (8, 8), _teacher_res(teacher, digits))


def test_second_build_is_all_cache_hits(teacher, digits, tmp_path: Path) -> None:
    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), _teacher_res(teacher, digits))
    spec = BlockwiseSpec(steps=2, batch_size=16, max_samples=64, advanced={"val_samples": 32})
    kw = dict(teacher_id="t", data_fingerprint=digits.fingerprint, num_classes=10, spec=spec, cache=tmp_path)
    first = build_block_table(plan, teacher, digits.train.x, digits.val.x, **kw)
    assert first.trained == len(plan.blocks) == first.size and first.cached == 0
    second = build_block_table(plan, teacher, digits.train.x, digits.val.x, **kw)
    assert second.trained == 0 and second.cached == first.size and second.train_s == 0.0
    assert second.losses == first.losses
    # what the table cost to build is still known when every block came from the cache
    assert first.block_train_s == pytest.approx(first.train_s) and first.block_train_s > 0
    assert second.block_train_s == pytest.approx(first.block_train_s)
    # other settings are other blocks: nothing is reused by mistake
    other = build_block_table(plan, teacher, digits.train.x, digits.val.x,
                              **{**kw, "spec": spec.model_copy(update={"steps": 3})})
    assert other.trained == first.size


def test_block_training_speed_is_kept_and_results_without_it_are_trained_again(teacher, digits, tmp_path: Path) -> None:
    """Every block records its training speed (the mean training loss over its steps). A cached
    result from before it was kept serves a table scored by loss, and is trained again, to the same
    loss, when the training speed is asked for."""
    import json
    import math

    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), _teacher_res(teacher, digits))
    spec = BlockwiseSpec(steps=20, batch_size=16, max_samples=64, advanced={"val_samples": 32})
    kw = dict(teacher_id="t", data_fingerprint=digits.fingerprint, num_classes=10, cache=tmp_path)
    first = build_block_table(plan, teacher, digits.train.x, digits.val.x, spec=spec, **kw)
    assert all(math.isfinite(rec["tse"]) and rec["tse"] > 0 for rec in first.records)
    # blocks learn: the first steps are worse than the last, so the mean over every step is above the last step's
    assert sum(rec["tse"] > rec["train_loss"] for rec in first.records) > 0.8 * len(first.records)
    assert first.tse == {(r["group"], r["block"]): r["tse"] for r in first.records}
    for f in tmp_path.glob("*.json"):  # as an older kdnas cached them
        f.write_text(json.dumps({k: v for k, v in json.loads(f.read_text()).items() if k != "tse"}))
    by_loss = build_block_table(plan, teacher, digits.train.x, digits.val.x, spec=spec, **kw)
    assert by_loss.trained == 0 and all(math.isnan(v) for v in by_loss.tse.values())
    by_tse = build_block_table(plan, teacher, digits.train.x, digits.val.x,
                               spec=spec.model_copy(update={"advanced": spec.advanced.model_copy(update={"score": "tse"})}), **kw)
    assert by_tse.trained == first.size
    assert by_tse.losses == first.losses and by_tse.tse == first.tse  # seeded: the same blocks again
    assert build_block_table(plan, teacher, digits.train.x, digits.val.x, spec=spec, need=("tse",), **kw).trained == 0



def test_builders_sharing_a_cache_train_each_block_once(teacher, digits, tmp_path: Path) -> None:
    """A block claimed by another live builder is waited for, not trained again; a claim left by a
    dead one is taken over."""
    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), _teacher_res(teacher, digits))
    spec = BlockwiseSpec(steps=2, batch_size=16, max_samples=64, advanced={"val_samples": 32})
    kw = dict(teacher_id="t", data_fingerprint=digits.fingerprint, num_classes=10, spec=spec)
    ref = build_block_table(plan, teacher, digits.train.x, digits.val.x, cache=tmp_path / "ref", **kw)
    files = sorted((tmp_path / "ref").glob("*.json"))
    shared = tmp_path / "shared"
    shared.mkdir()
    # another builder (a real process) holds the first two blocks and writes them after a while ...
    pairs = [(str(f), str(shared / f.name)) for f in files[:2]]
    code = ("import shutil, sys, time\nfrom pathlib import Path\nfrom kdnas.claims import try_claim, release\n"
            f"pairs = {pairs!r}\nassert all(try_claim(Path(d)) for _, d in pairs)\nprint('held', flush=True)\n"
            "time.sleep(1.5)\nfor s, d in pairs:\n    shutil.copy(s, d)\n    release(Path(d))\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert other.stdout.readline().strip() == "held"
    # ... and a third one was killed while it held the third block
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim_path(shared / files[2].name).write_text(f"{socket.gethostname()} {dead.pid}")
    table = build_block_table(plan, teacher, digits.train.x, digits.val.x, cache=shared, **kw)
    assert other.wait() == 0
    assert table.trained == ref.size - 2 and table.by_others == 2 and table.cached == 0 and table.size == ref.size
    assert table.losses == ref.losses  # the waited-for blocks are the other builder's results
    assert not list(shared.glob("*.claim"))


def test_a_trained_block_beats_an_untrained_one(teacher, digits) -> None:
    io = teacher_stage_io(teacher, digits.train.x)
    val = teacher_stage_io(teacher, digits.val.x)
    assert io.stem_out.shape[1:] == (16, 8, 8) and io.outputs[2].shape[1:] == (64, 2, 2)
    space = SearchSpace.model_validate(TINY_SPACE)
    block = Block("t1", chain=(sorted(space.stages[1].distinct())[0],))
    spec = BlockwiseSpec(steps=1, batch_size=16, lr=5e-3)
    torch.manual_seed(0)
    untrained = train_block(block, io, val, spec, seed=0, num_classes=10)
    trained = train_block(block, io, val, spec.model_copy(update={"steps": 25}), seed=0, num_classes=10)
    assert trained["loss"] < untrained["loss"]
    assert trained["c_in"] == 16 and trained["c_out"] == 32


def test_every_feature_block_ends_in_a_trained_adapter() -> None:
    """A block as wide as the teacher's stage still gets its 1x1 adapter: without one it had to hit the
    target with its last BatchNorm and ranked below narrower blocks (see `kdnas.blockwise.table`)."""
    for width in (8, 16):  # 16 equals the target's channels
        chain = (Stage(op="ir", stride=1, kernel=3, expand=3, width=width, depth=1),)
        block = make_block(Block("t0", chain=chain), 8, 16, 10)
        assert isinstance(block.adapter, torch.nn.Conv2d) and block.adapter.weight.shape == (16, width, 1, 1)
        assert block(torch.randn(2, 8, 4, 4)).shape == (2, 16, 4, 4)
    stem = make_block(Block(STEM, width=16), 3, 16, 10)
    assert isinstance(stem[-1], torch.nn.Conv2d) and stem[-1].weight.shape == (16, 16, 1, 1)


def test_a_blocks_cache_key_holds_its_seed() -> None:
    """The seed draws a block's initial weights, batches and images: another seed is another result."""
    from kdnas.blockwise.table import block_key

    block, spec = Block(HEAD, width=0), BlockwiseSpec(steps=2)
    keys = {block_key("t", "d", block, 16, 10, spec, seed) for seed in (0, 1)}
    assert len(keys) == 2
    assert block_key("t", "d", block, 16, 10, spec.model_copy(update={"threads": 3}), 0) in keys
