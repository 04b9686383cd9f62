"""Checkpoints: round trip, wrong architecture, unsafe pickles, missing and broken files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from kdnas.errors import CheckpointError
from kdnas.teachers import (
    TeacherSpec,
    create_model,
    is_frozen,
    load_checkpoint,
    load_teacher,
    save_checkpoint,
    state_dict_sha256,
)

GEOM = {"num_classes": 10, "in_channels": 3, "input_size": (32, 32)}


class Smuggled:
    """A plain Python object: pickling it makes a file that weights_only must refuse."""

    def __init__(self) -> None:
        self.payload = "anything"


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg


def test_round_trip(tmp_path):
    model = create_model("resnet20", **GEOM)
    path = tmp_path / "sub" / "t.pt"
    digest = save_checkpoint(path, model, {"arch": "resnet20", "acc": 0.9, "epochs": [1, 2], "x": {"a": True}})
    state, meta = load_checkpoint(path)
    assert meta == {"arch": "resnet20", "acc": 0.9, "epochs": [1, 2], "x": {"a": True}}
    assert digest == state_dict_sha256(state) == state_dict_sha256(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [p.name for p in path.parent.iterdir()] == ["t.pt"]  # no temporary file left behind

    teacher = load_teacher(TeacherSpec(name="resnet20", checkpoint=path), **GEOM)
    assert is_frozen(teacher) and not teacher.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(teacher(x), model.eval()(x))


def test_checkpoint_argument_overrides_spec(tmp_path):
    path = tmp_path / "t.pt"
    save_checkpoint(path, create_model("resnet20", **GEOM), {"arch": "resnet20"})
    spec = TeacherSpec(name="resnet20", checkpoint=tmp_path / "elsewhere.pt")
    load_teacher(spec, **GEOM, checkpoint=path)


def test_meta_must_be_plain(tmp_path):
    with pytest.raises(TypeError, match="only plain values"):
        save_checkpoint(tmp_path / "t.pt", create_model("resnet20", **GEOM), {"path": Path("x")})
    assert not list(tmp_path.iterdir())


def test_other_arch_named_in_meta(tmp_path):
    path = tmp_path / "t.pt"
    save_checkpoint(path, create_model("resnet56", **GEOM), {"arch": "resnet56"})
    with pytest.raises(CheckpointError) as exc:
        load_teacher(TeacherSpec(name="resnet20", checkpoint=path), **GEOM)
    assert str(exc.value) == f"checkpoint {path} holds arch 'resnet56', the study's teacher is 'resnet20'"


def test_other_arch_without_meta_does_not_fit(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(create_model("resnet56", **GEOM).state_dict(), path)  # a bare state_dict, no meta
    with pytest.raises(CheckpointError, match="does not fit teacher 'resnet20': .*unexpected key") as exc:
        load_teacher(TeacherSpec(name="resnet20", checkpoint=path), **GEOM)
    _one_line(exc, path)


def test_other_num_classes_is_a_shape_mismatch(tmp_path):
    path = tmp_path / "t.pt"
    save_checkpoint(path, create_model("resnet20", **{**GEOM, "num_classes": 100}), {"arch": "resnet20"})
    with pytest.raises(CheckpointError, match=r"shape mismatch.*'fc.weight'") as exc:
        load_teacher(TeacherSpec(name="resnet20", checkpoint=path), **GEOM)
    _one_line(exc, path)


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": Smuggled()}, path)
    with pytest.raises(CheckpointError, match=r"pickled Python object \(.*Smuggled\) that weights_only") as exc:
        load_checkpoint(path)
    _one_line(exc, path)


def test_plain_pickle_of_object_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Smuggled(), protocol=2))
    with pytest.raises(CheckpointError, match="pickled Python object") as exc:
        load_checkpoint(path)
    _one_line(exc, path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="does not exist") as exc:
        load_checkpoint(path)
    _one_line(exc, path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_teacher(TeacherSpec(name="resnet20", checkpoint=path), **GEOM)


def test_no_checkpoint_at_all():
    with pytest.raises(CheckpointError, match="has no checkpoint"):
        load_teacher(TeacherSpec(name="resnet20"), **GEOM)


def test_garbage_and_wrong_content(tmp_path):
    for i, content in enumerate([b"not a checkpoint at all", b"junk", b"", b"PK\x03\x04 truncated zip"]):
        junk = tmp_path / f"junk{i}.pt"
        junk.write_bytes(content)
        with pytest.raises(CheckpointError, match="not a readable torch file") as exc:
            load_checkpoint(junk)
        _one_line(exc, junk)

    listy = tmp_path / "list.pt"
    torch.save([1, 2, 3], listy)
    with pytest.raises(CheckpointError, match="holds no state_dict") as exc:
        load_checkpoint(listy)
    _one_line(exc, listy)


def test_tampered_weights_fail_the_hash(tmp_path):
    path = tmp_path / "t.pt"
    save_checkpoint(path, create_model("resnet20", **GEOM), {"arch": "resnet20"})
    obj = torch.load(path, weights_only=True)
    obj["state_dict"]["fc.bias"] += 1
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_repdistiller_style_file(tmp_path):
    path = tmp_path / "ckpt_epoch_240.pth"
    model = create_model("resnet20", **GEOM)
    torch.save({"epoch": 240, "model": model.state_dict(), "accuracy": 69.1}, path)
    state, meta = load_checkpoint(path)
    assert meta == {} and set(state) == set(model.state_dict())
