"""The similarity proxy: a student scored by how similar its stage features are to the teacher's on
one probe batch of the training split, drawn once per study so every student sees the same images.

`similarity_score` is the whole measurement given a student, the probe (the teacher's outputs on
it) and the stage pairs; `similarity_training` the optional KD steps before it. Together they are
`run_similarity`, the search proxy on its own; with `similarity.steps` 0 it trains nothing and
needs no teacher outputs beyond the probe's, which makes it a cheap first screen (a first rung of a
halving strategy): build the student, call `run_similarity(..., teacher=None, ...)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from kdnas.distill.proxy import HintPair, short_run
from kdnas.distill.similarity import class_relation, diswot, gradcam_class_relation, linear_cka, rsa
from kdnas.teachers.features import resolve_modules
from kdnas.distill.spec import ProxySpec, SimilaritySpec
from kdnas.distill.teacher_cache import TeacherOutputs, compute_outputs
from kdnas.teachers import FeatureTaps


@dataclass(frozen=True)
class Probe:
    """The probe batch of a study: its indices in the training split, its images, and the frozen
    teacher's logits and stage features (by teacher stage index) on them."""

    indices: tuple[int, ...]
    x: torch.Tensor
    teacher_logits: torch.Tensor
    teacher_features: dict[int, torch.Tensor]


@dataclass(frozen=True)
class SimilarityResult:
    """One student's similarity: the score (higher is more similar), each compared stage's value,
    the stages as (student module, teacher stage), the measure, the KD steps before it and seconds."""

    score: float
    per_stage: tuple[float, ...]
    stages: tuple[tuple[str, int], ...]
    measure: str
    steps: int
    train_s: float
    similarity_s: float


def probe_indices(n_train: int, size: int, seed: int) -> tuple[int, ...]:
    """`size` distinct training indices (all of them when the split is smaller), drawn from `seed`
    alone: the same probe for every student of a study, in ascending order."""
    g = torch.Generator().manual_seed(seed)
    return tuple(sorted(torch.randperm(n_train, generator=g)[: min(size, n_train)].tolist()))


def make_probe(teacher: nn.Module, x_train: torch.Tensor, indices: tuple[int, ...], feature_names: tuple[str, ...],
               stages: tuple[int, ...], device: str = "cpu") -> Probe:
    """The probe of `indices`, the teacher run once over it for its logits and `stages`' features."""
    x = x_train[list(indices)]
    logits, feats = compute_outputs(teacher, x, feature_names, stages, device=device)
    return Probe(indices, x, logits, feats)


LOGITS = ("logits", -1)  # the compared "stage" of `advanced.stages: logits`: the student's logits against the teacher's


def compared_pairs(pairs: list[HintPair], spec: SimilaritySpec) -> list[HintPair]:
    """The stage pairs a measure compares: every aligned one, or the last one only (`advanced.stages`
    last; always for diswot, whose sample relation is of the last stage); none with `logits`."""
    if spec.advanced.stages == "logits":
        return []
    return pairs[-1:] if spec.measure == "diswot" or spec.advanced.stages == "last" else list(pairs)


def similarity_values(spec: SimilaritySpec, used: list[HintPair], feats: dict[str, torch.Tensor],
                      logits: torch.Tensor, probe: Probe) -> list[float]:
    """The measure of each compared pair `used` (the logits' own pair with `advanced.stages: logits`),
    from the student's probe outputs: its logits and its features by module name (CPU tensors)."""
    s_feats = [feats[p.student_module] for p in used]
    t_feats = [probe.teacher_features[p.teacher_stage] for p in used]
    t_logits = probe.teacher_logits
    if spec.advanced.stages == "logits":
        if spec.measure == "diswot":  # its class relation alone
            return [-float(torch.linalg.matrix_norm(class_relation(logits) - class_relation(t_logits)))]
        s_feats, t_feats = [logits], [t_logits]
    if spec.measure == "diswot":
        return [diswot(s_feats[-1], t_feats[-1], logits, t_logits)]
    if spec.measure == "cka":
        return [linear_cka(a, b) for a, b in zip(s_feats, t_feats)]
    return [rsa(a, b, spec.advanced.rsa_correlation) for a, b in zip(s_feats, t_feats)]


@torch.no_grad()
def probe_outputs(student: nn.Module, probe: Probe, modules: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The student's logits and the outputs of `modules` on the probe (on the CPU), the student left
    as it was (weights and mode).

    The forward uses the probe's own BatchNorm statistics: at initialisation the running ones are
    the defaults (mean 0, variance 1), which describe no network, and after a few KD steps they lag
    the weights (the reason the `kd` proxy recalibrates them).
    """
    device = next(student.parameters()).device
    modes = {m: m.training for m in student.modules()}
    saved = {k: v.clone() for k, v in student.state_dict().items()}  # the batch statistics move the running ones
    try:
        student.train()
        with FeatureTaps(student, modules) as taps:
            logits = student(probe.x.to(device))
        feats = {name: f.cpu() for name, f in zip(modules, taps.features)}
    finally:
        student.load_state_dict(saved)
        for m, mode in modes.items():
            m.training = mode
    return logits.cpu(), feats


def gradcam_relation(model: nn.Module, x: torch.Tensor, module: str, *, train_mode: bool) -> torch.Tensor:
    """The Grad-CAM class relation (`gradcam_class_relation`) of `model`'s `module` output on `x`, with
    BatchNorm on the batch's statistics (`train_mode`, a student: as `probe_outputs`) or its running
    ones (a trained teacher); the model is left as it was. The module's output is cut from the graph
    below it, so the backward runs through the layers above it only (and works on a frozen teacher)."""
    device = next(model.parameters()).device
    modes = {m: m.training for m in model.modules()}
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    cut: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
        cut.append(out.detach().requires_grad_())
        return cut[-1]

    handle = resolve_modules(model, (module,))[0].register_forward_hook(hook)
    try:
        model.train(train_mode)
        with torch.enable_grad():
            logits = model(x.to(device))
            return gradcam_class_relation(cut[-1], logits).cpu()
    finally:
        handle.remove()
        model.load_state_dict(saved)
        for m, mode in modes.items():
            m.training = mode


def similarity_score(student: nn.Module, probe: Probe, pairs: list[HintPair], spec: SimilaritySpec) -> SimilarityResult:
    """How similar `student` is to the teacher on `probe`, under `spec.measure` (`probe_outputs`,
    then `similarity_values`); the student is left as it was."""
    t0 = time.perf_counter()
    used = compared_pairs(pairs, spec)
    if not used and spec.advanced.stages != "logits":
        raise ValueError("the similarity proxy needs at least one student stage aligned with a teacher stage")
    logits, feats = probe_outputs(student, probe, [p.student_module for p in used])
    values = similarity_values(spec, used, feats, logits, probe)
    stages = tuple((p.student_module, p.teacher_stage) for p in used) or (LOGITS,)
    return SimilarityResult(sum(values) / len(values), tuple(values), stages, spec.measure, 0, 0.0,
                            time.perf_counter() - t0)


def similarity_training(student: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                        teacher: TeacherOutputs | None, spec: ProxySpec, *, seed: int,
                        device: str = "cpu") -> tuple[nn.Module, float]:
    """The student on `device` after the `spec.similarity.steps` KD steps the proxy takes before
    measuring (the short `kd` run under the run settings of `spec`), and their seconds; with 0 steps
    the student as built, and `teacher` may be None."""
    student = student.to(device)
    if spec.similarity.steps == 0:
        return student, 0.0
    kd = spec.model_copy(update={"method": "kd", "steps": spec.similarity.steps, "epochs": None})
    student, _, train_s = short_run(student, x_train, y_train, teacher, kd, seed=seed, device=device)
    return student, train_s


def run_similarity(student: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, teacher: TeacherOutputs | None,
                   spec: ProxySpec, probe: Probe, pairs: list[HintPair], *, seed: int,
                   device: str = "cpu") -> SimilarityResult:
    """The similarity proxy of one student: `spec.similarity.steps` steps of the short KD run (with the
    run settings of `spec`), then `similarity_score` on the probe."""
    sim = spec.similarity
    student, train_s = similarity_training(student, x_train, y_train, teacher, spec, seed=seed, device=device)
    result = similarity_score(student, probe, pairs, sim)
    return SimilarityResult(result.score, result.per_stage, result.stages, result.measure, sim.steps, train_s,
                            result.similarity_s)
