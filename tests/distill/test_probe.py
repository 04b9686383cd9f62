"""The similarity proxy on a student: one probe for every student, the measures wired to the
aligned stages, the student left as it was, and k KD steps through the short run."""

from __future__ import annotations

import pytest
import torch

from kdnas.distill import HintPair, ProxySpec, TeacherOutputs
from kdnas.distill.probe import Probe, probe_indices, run_similarity, similarity_score
from kdnas.distill.spec import SimilaritySpec
from kdnas.space import build_student
from kdnas.teachers import FeatureTaps

from tests.distill.conftest import TINY

PAIRS = [HintPair("stages.0", 0, 4, 4), HintPair("stages.1", 1, 8, 8)]


def _student(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_student(TINY, 1, 2)


def _probe_of(net: torch.nn.Module, x: torch.Tensor, indices: tuple[int, ...]) -> Probe:
    """A probe whose 'teacher' is `net` itself, its features taken as the proxy takes a student's
    (batch statistics): the student then compares with exactly its own representation."""
    net.train()
    with torch.no_grad(), FeatureTaps(net, ["stages.0", "stages.1"]) as taps:
        logits = net(x)
    return Probe(indices, x, logits, dict(enumerate(taps.features)))


def test_the_probe_is_drawn_from_the_seed_alone() -> None:
    first = probe_indices(1000, 64, seed=3)
    assert first == probe_indices(1000, 64, seed=3)  # every student of a study gets this one
    assert len(set(first)) == 64 and list(first) == sorted(first) and max(first) < 1000
    assert first != probe_indices(1000, 64, seed=4)
    assert probe_indices(10, 64, seed=0) == tuple(range(10))  # a small split is probed whole


@pytest.mark.parametrize(("measure", "identical"), [("cka", 1.0), ("rsa", 1.0), ("diswot", 0.0)])
def test_the_teacher_itself_scores_best_and_another_student_lower(data, measure: str, identical: float) -> None:
    x = data[0][:64]
    spec = SimilaritySpec(measure=measure)
    teacher = _student(0)
    probe = _probe_of(teacher, x, tuple(range(64)))
    same = similarity_score(_student(0), probe, PAIRS, spec)
    other = similarity_score(_student(1), probe, PAIRS, spec)
    assert same.score == pytest.approx(identical, abs=1e-6)
    assert other.score < same.score - 1e-3
    # the same images in another order: the sample relations no longer match
    shuffled = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    permuted = Probe(probe.indices, x, probe.teacher_logits[shuffled],
                     {k: v[shuffled] for k, v in probe.teacher_features.items()})
    assert similarity_score(_student(0), permuted, PAIRS, spec).score < same.score - 1e-3
    assert same.measure == measure and same.similarity_s > 0
    assert same.stages == ((("stages.1", 1),) if measure == "diswot" else (("stages.0", 0), ("stages.1", 1)))


def test_last_stage_only_and_the_student_is_left_as_it_was(data) -> None:
    x = data[0][:64]
    probe = _probe_of(_student(0), x, tuple(range(64)))
    student = _student(1).eval()
    before = {k: v.clone() for k, v in student.state_dict().items()}
    result = similarity_score(student, probe, PAIRS, SimilaritySpec(advanced={"stages": "last"}))
    assert result.stages == (("stages.1", 1),) and len(result.per_stage) == 1
    assert not student.training  # its mode is restored, and the batch statistics moved no running ones
    assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())


def test_kd_steps_before_measuring_change_the_student_deterministically(data) -> None:
    x, y = data[0], data[1]
    probe = _probe_of(_student(0), x[:64], tuple(range(64)))
    logits = torch.stack([-(2.0 * y - 1.0), 2.0 * y - 1.0], 1) * 4.0
    teacher = TeacherOutputs(logits, {}, key="fake")

    def run(steps: int, seed: int = 0) -> float:
        spec = ProxySpec(method="similarity", similarity={"steps": steps}, batch_size=32)
        return run_similarity(_student(1), x, y, teacher, spec, probe, PAIRS, seed=seed).score

    at_init, trained = run(0), run(20)
    assert trained != at_init  # the 20 KD steps moved the student
    assert run(20) == trained  # deterministic for a seed
    assert run(0) == at_init


@pytest.mark.parametrize(("measure", "identical"), [("cka", 1.0), ("rsa", 1.0), ("diswot", 0.0)])
def test_logits_only_compares_the_logits_alone(data, measure: str, identical: float) -> None:
    x = data[0][:64]
    probe = _probe_of(_student(0), x, tuple(range(64)))
    spec = SimilaritySpec(measure=measure, advanced={"stages": "logits"})
    same = similarity_score(_student(0), probe, PAIRS, spec)
    assert same.score == pytest.approx(identical, abs=1e-6) and same.stages == (("logits", -1),)
    # features no longer the teacher's, logits still its own: a logits-only score cannot tell
    blind = Probe(probe.indices, x, probe.teacher_logits, {k: torch.randn_like(v) for k, v in probe.teacher_features.items()})
    assert similarity_score(_student(0), blind, PAIRS, spec).score == pytest.approx(same.score)
    assert similarity_score(_student(0), blind, PAIRS, SimilaritySpec(measure=measure)).score < same.score - 1e-3
    # and other logits score lower
    other = Probe(probe.indices, x, torch.randn_like(probe.teacher_logits), probe.teacher_features)
    assert similarity_score(_student(0), other, PAIRS, spec).score < same.score - 1e-3


def test_at_initialisation_it_screens_without_training_or_teacher_outputs(data) -> None:
    """The first rung of a halving search: k = 0 needs the probe only, trains nothing, and scores as
    `similarity_score` does on the student as built."""
    x, y = data[0], data[1]
    probe = _probe_of(_student(0), x[:64], tuple(range(64)))
    student = _student(1)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    spec = ProxySpec(method="similarity")
    result = run_similarity(student, x, y, None, spec, probe, PAIRS, seed=0)
    assert result.train_s == 0.0 and result.steps == 0
    assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())
    assert result.score == similarity_score(_student(1), probe, PAIRS, spec.similarity).score
