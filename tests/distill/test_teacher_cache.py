"""Teacher outputs are computed once, stored on disk under a key of (teacher, data, split, stages)."""

from __future__ import annotations

import pytest
import torch

from kdnas.distill import ProxySpec, run_proxy, teacher_outputs
from kdnas.distill.proxy import HintPair
from kdnas.distill.teacher_cache import cache_key
from kdnas.space import build_student


class Counting(torch.nn.Module):
    """Wraps a student-shaped teacher and counts forward calls."""

    def __init__(self, arch) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = build_student(arch, 1, 2)
        self.feature_modules = tuple(f"net.{n}" for n in self.net.feature_modules)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.fixture
def teacher(tiny):
    return Counting(tiny)


def _outputs(teacher, x, tmp_path, **kw):
    args = dict(teacher_id="t1", data_fingerprint="d1", feature_names=teacher.feature_modules, stages=(0, 1),
                cache=tmp_path / "cache")
    args.update(kw)
    return teacher_outputs(teacher, x, **args)


def test_second_call_loads_from_disk(teacher, tmp_path, data):
    x = data[0]
    first = _outputs(teacher, x, tmp_path)
    calls = teacher.calls
    assert calls >= 1
    assert (tmp_path / "cache" / f"{first.key}.pt").is_file()
    second = _outputs(teacher, x, tmp_path)
    assert teacher.calls == calls  # loaded, not recomputed
    assert second.key == first.key
    torch.testing.assert_close(second.logits, first.logits)
    assert second.features.keys() == first.features.keys() == {0, 1}
    for s in (0, 1):
        torch.testing.assert_close(second.features[s], first.features[s])


def test_outputs_match_the_teacher(teacher, tmp_path, data, tiny):
    x = data[0][:40]
    out = _outputs(teacher, x, tmp_path)
    with torch.no_grad():
        teacher.eval()
        expected = teacher.net(x)
    torch.testing.assert_close(out.logits, expected)
    assert out.logits.dtype == torch.float32
    assert out.features[1].dtype == torch.float16
    assert out.features[0].shape == (40, tiny.out_width(0), 4, 4)
    assert out.features[1].shape == (40, tiny.out_width(1), 2, 2)


def test_computes_in_batches_with_eval_mode(teacher, tmp_path, data):
    from kdnas.distill.teacher_cache import compute_outputs

    teacher.train()
    logits, feats = compute_outputs(teacher, data[0][:50], teacher.feature_modules, (1,), batch_size=16)
    assert teacher.calls == 4 and logits.shape == (50, 2) and feats[1].shape[0] == 50
    assert not teacher.training


@pytest.mark.parametrize(
    "change", [{"teacher_id": "t2"}, {"data_fingerprint": "d2"}, {"stages": (1,)}, {"split": "val"}]
)
def test_key_changes_and_recomputes(teacher, tmp_path, data, change):
    x = data[0][:32]
    base = _outputs(teacher, x, tmp_path)
    calls = teacher.calls
    other = _outputs(teacher, x, tmp_path, **change)
    assert other.key != base.key
    assert teacher.calls > calls
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_cache_key_is_stable_and_sensitive():
    k = cache_key("t", "d", "train", (0, 1))
    assert k == cache_key("t", "d", "train", (0, 1))
    assert len({k, cache_key("t", "d", "train", (0,)), cache_key("t", "d", "train", (1, 0)),
                cache_key("u", "d", "train", (0, 1)), cache_key("t", "e", "train", (0, 1))}) == 5


def test_stale_file_of_other_length_is_recomputed(teacher, tmp_path, data):
    x = data[0]
    _outputs(teacher, x[:10], tmp_path)
    calls = teacher.calls
    out = _outputs(teacher, x[:20], tmp_path)
    assert teacher.calls > calls and out.logits.shape[0] == 20


def test_default_cache_folder_is_under_runs(teacher, tmp_path, data):
    # conftest points KDNAS_RUNS at tmp_path / "runs"
    out = teacher_outputs(teacher, data[0][:8], teacher_id="t", data_fingerprint="d")
    assert (tmp_path / "runs" / "cache" / "teacher_outputs" / f"{out.key}.pt").is_file()
    assert out.features == {}


@pytest.mark.parametrize("fresh", [True, False])
def test_cached_outputs_drive_a_hint_proxy(teacher, tmp_path, data, tiny, fresh):
    # Outputs computed under inference mode (fresh) or loaded from disk must both train a student.
    x_train, y_train, x_val, y_val = data
    if not fresh:
        _outputs(teacher, x_train, tmp_path)
    outs = _outputs(teacher, x_train, tmp_path)
    torch.manual_seed(0)
    student = build_student(tiny, 1, 2)
    hints = [HintPair("stages.1", 1, tiny.out_width(1), tiny.out_width(1))]
    result = run_proxy(student, x_train, y_train, x_val, y_val, outs, ProxySpec(method="hint", steps=5), seed=0,
                       hints=hints)
    assert set(result.loss_terms) == {"kd", "ce", "hint1"}
