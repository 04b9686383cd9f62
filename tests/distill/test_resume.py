"""Epoch checkpoints: an interrupted run continues to the same weights; foreign states are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdnas.arch import Arch
from kdnas.data import DataBundle, Split
from kdnas.distill import RetrainRecipe
from kdnas.distill.trainer import train
from kdnas.errors import CheckpointError
from kdnas.space import build_student

RECIPE = RetrainRecipe(epochs=3, batch_size=32, lr=0.05, warmup_epochs=0.5, threads=1, crop_pad=1)


@pytest.fixture
def bundle(make_blobs):
    splits = [Split(*make_blobs(n, seed, (1, 8, 8))) for n, seed in ((128, 0), (64, 1), (64, 2))]
    return DataBundle("blobs", *splits, num_classes=2, classes=("a", "b"), input_shape=(1, 8, 8),
                      mean=(0.0,), std=(1.0,), flip_ok=True, fingerprint="f")


def _student(tiny):
    torch.manual_seed(0)
    return build_student(tiny, 1, 2)


class Stop(Exception):
    pass


def _stop_after_first(epoch: int, _rec: dict) -> None:
    if epoch == 0:
        raise Stop


def test_interrupted_run_resumes_to_identical_weights(bundle, tiny, tmp_path: Path):
    teacher = _student(tiny).eval()
    full = _student(tiny)
    ref = train(full, bundle, RECIPE, seed=3, teacher=teacher, checkpoint=tmp_path / "a.pt", arch=str(tiny))
    part = _student(tiny)
    with pytest.raises(Stop):
        train(part, bundle, RECIPE, seed=3, teacher=teacher, checkpoint=tmp_path / "b.pt", arch=str(tiny),
              on_epoch=_stop_after_first)
    resumed_model = _student(tiny)
    resumed = train(resumed_model, bundle, RECIPE, seed=3, teacher=teacher, checkpoint=tmp_path / "b.pt", arch=str(tiny))
    assert resumed.resumed_from == 1 and ref.resumed_from == 0
    assert resumed.val_acc == ref.val_acc
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in ref.history]
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), k


def test_state_of_another_architecture_is_refused(bundle, tiny, tmp_path: Path):
    ckpt = tmp_path / "s.pt"
    train(_student(tiny), bundle, RECIPE.model_copy(update={"epochs": 1}), seed=0, checkpoint=ckpt, arch=str(tiny))
    other = Arch.from_str("stem_c8-ir_s1_k3_e1_c4_d1-dws_s2_k3_e1_c8_d1-head_c0")
    with pytest.raises(CheckpointError, match="of architecture"):
        train(build_student(other, 1, 2), bundle, RECIPE, seed=0, checkpoint=ckpt, arch=str(other))
    # the same name over other weights (a hand-renamed file) is caught by the weights' shapes
    with pytest.raises(CheckpointError, match="does not fit"):
        train(build_student(other, 1, 2), bundle, RECIPE.model_copy(update={"epochs": 1}), seed=0, checkpoint=ckpt,
              arch=str(tiny))


def test_state_that_weights_only_refuses(bundle, tiny, tmp_path: Path):
    ckpt = tmp_path / "evil.pt"
    torch.save({"format": "kdnas-train-state/1", "x": Path("/")}, ckpt)  # a pickled Python object
    with pytest.raises(CheckpointError, match="weights_only"):
        train(_student(tiny), bundle, RECIPE, seed=0, checkpoint=ckpt, arch=str(tiny))
    ckpt.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        train(_student(tiny), bundle, RECIPE, seed=0, checkpoint=ckpt, arch=str(tiny))


@pytest.mark.parametrize("ce_weight", [None, 0.1])
def test_a_state_written_with_ce_weight_resumes_when_it_meant_one_minus_alpha(bundle, tiny, tmp_path: Path, ce_weight):
    """States written while `DistillSpec` had `ce_weight` (None: 1 - alpha) continue; an explicit
    weight equal to 1 - alpha (0.1 at the default alpha 0.9) is the same run too."""
    from kdnas.distill.state import load_state, save_state

    teacher = _student(tiny).eval()
    ckpt = tmp_path / "s.pt"
    with pytest.raises(Stop):
        train(_student(tiny), bundle, RECIPE, seed=3, teacher=teacher, checkpoint=ckpt, arch=str(tiny),
              on_epoch=_stop_after_first)
    state = load_state(ckpt)
    state["meta"]["distill"]["ce_weight"] = ce_weight  # as an older kdnas wrote it
    save_state(ckpt, {k: v for k, v in state.items() if k != "format"})
    assert train(_student(tiny), bundle, RECIPE, seed=3, teacher=teacher, checkpoint=ckpt, arch=str(tiny)).resumed_from == 1


def test_a_state_with_a_ce_weight_apart_from_alpha_is_another_run(bundle, tiny, tmp_path: Path):
    from kdnas.distill.state import load_state, save_state

    teacher = _student(tiny).eval()
    ckpt = tmp_path / "s.pt"
    one = RECIPE.model_copy(update={"epochs": 1})
    train(_student(tiny), bundle, one, seed=3, teacher=teacher, checkpoint=ckpt, arch=str(tiny))
    state = load_state(ckpt)
    state["meta"]["distill"]["ce_weight"] = 1.0  # CE at full weight beside KD at 0.9: not 1 - alpha
    save_state(ckpt, {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(CheckpointError, match="another distill"):
        train(_student(tiny), bundle, one, seed=3, teacher=teacher, checkpoint=ckpt, arch=str(tiny))
