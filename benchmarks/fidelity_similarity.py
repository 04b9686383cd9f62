"""The similarity proxy's rows of `python -m benchmarks.fidelity` (`--similarity cka,rsa,diswot`).

Each variant is one row, named ``sim-MEASURE-STAGES@K-pP``: `proxy.method: similarity` with
`similarity.measure` MEASURE, `similarity.advanced.stages` STAGES (all, last, logits),
`similarity.steps` K and `similarity.probe_size` P, through the proxy's own functions
(`kdnas.distill.probe`), on one probe batch of P training images drawn from `--seed` (the study's
probe; `--probe-size` may list several). DisWOT's ``all`` and
``last`` are the same measure (the last stage's sample relation and the logits' class relation), so
only ``last`` is run for it. Two more DisWOT variants, at initialisation only (K = 0, the issue's
target), take the place of a stage set: ``gradcam`` (the class relation from Grad-CAM maps of the
last compared stage, as the paper describes, instead of the logits'; the student's forward and K
backward passes through the layers above that stage are its own cost) and ``batches4`` (the probe
split into 4 interleaved batches of P/4, each run through the student on its own, as 4 probe
batches would be, their DisWOT scores averaged).

A student is built, trained for K steps and run over the probe once per K (the short KD run a
study's `similarity.steps` takes, under the bench's `--short-optimizer`/`--short-lr`, batch 64);
every measure and stage set is then taken from that one forward, and each row's cost is the
training's seconds plus the forward's plus its own measure's, which is what one trial of that study
pays (`similarity_score` is the same forward and measure) (wall time, as every
row; its CPU time is kept beside it, since on a shared machine the wall time also counts waiting). The teacher's pass
over the probe is paid once per study, not per student, and is left out. Records are cached per
(student, K) under runs/cache/fidelity/, so a second run, or one that adds a measure, pays only
what is new.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from kdnas.arch import Arch
from kdnas.distill import HintPair, ProxySpec
from kdnas.distill.probe import (Probe, compared_pairs, gradcam_relation, probe_outputs, similarity_training,
                                 similarity_values)
from kdnas.distill.similarity import diswot, diswot_gradcam
from kdnas.distill.spec import SimilaritySpec
from kdnas.execute.task import ProxyContext, hint_pairs
from kdnas.space import build_student

EXTRA = ("gradcam", "batches4")  # DisWOT variants of the bench only, at K = 0 (module docstring)
STAGES = ("all", "last", "logits", *EXTRA)
SPLIT = 4  # batches4: the probe's batches
BATCH = 64  # the short runs' batch (benchmarks.fidelity.SHORT_BATCH)


@dataclass(frozen=True)
class Variant:
    """One similarity row: the measure, the stages it compares, the KD steps before it and the probe's size."""

    measure: str
    stages: str
    steps: int
    probe: int

    @property
    def name(self) -> str:
        """The row's name in the report."""
        return f"sim-{self.measure}-{self.stages}@{self.steps}-p{self.probe}"

    @property
    def stem(self) -> str:
        """The variant without its steps and probe: its key in the record of one student at one K and probe."""
        return f"{self.measure}-{self.stages}"


def variants(measures: list[str], stages: list[str], steps: list[int], probes: list[int]) -> list[Variant]:
    """Every asked combination, in report order (diswot's ``all`` folded into its ``last``)."""
    out: list[Variant] = []
    for p in probes:
        for k in steps:
            for m in measures:
                for s in stages:
                    if s in EXTRA and (m != "diswot" or k != 0):
                        continue
                    v = Variant(m, "last" if m == "diswot" and s == "all" else s, k, p)
                    if v not in out:
                        out.append(v)
    return out


def proxy_spec(v: Variant, base: ProxySpec) -> ProxySpec:
    """The `proxy` section of a study that scores its students as row `v` does; `base` is the
    similarity proxy with the bench's run settings (`base_spec`)."""
    stages = "last" if v.stages in EXTRA else v.stages  # the study setting nearest to a bench-only variant
    sim = SimilaritySpec(measure=v.measure, steps=v.steps, probe_size=v.probe, advanced={"stages": stages})
    return base.model_copy(update={"similarity": sim})


def base_spec(optimizer: str, lr: float, threads: int) -> ProxySpec:
    """The similarity proxy under the bench's short-run settings (used for the K KD steps)."""
    return ProxySpec(method="similarity", batch_size=BATCH, optimizer=optimizer, lr=lr, threads=threads)


def study_line(base: ProxySpec) -> str:
    """How a study asks for row ``sim-M-S@K`` (the report's sentence)."""
    return (f"A study searches with row `sim-M-S@K-pP` by `proxy: {{method: similarity, batch_size: {base.batch_size}, "
            f"optimizer: {base.optimizer}, lr: {base.lr:g}, similarity: {{measure: M, steps: K, probe_size: "
            f"P, advanced: {{stages: S}}}}}}` (batch, optimizer and lr matter only for K > 0).")


def cache_key(arch: Arch, steps: int, probe: int, *, teacher_sha: str, fingerprint: str, base: ProxySpec,
              seed: int) -> str:
    """The run cache's key of one student's similarity record at `steps` KD steps (its seconds are
    part of what is measured, so the thread count is in it)."""
    return (f"sim|forward-once|{teacher_sha}|{fingerprint}|{arch}|k={steps}|probe={probe}|{base.run_json()}"
            f"|threads={base.threads}|{seed}")


def _extra(v: Variant, student: torch.nn.Module, probe: Probe, pair: HintPair, feats: dict[str, torch.Tensor],
           teacher_class: torch.Tensor | None) -> float:
    """A bench-only DisWOT variant of `EXTRA` (K = 0) on the student as built: its last compared stage
    `pair`, whose output on the whole probe is in `feats`."""
    last, t_last = pair.student_module, probe.teacher_features[pair.teacher_stage]
    if v.stages == "gradcam":
        assert teacher_class is not None, "the teacher's Grad-CAM class relation is computed once per probe"
        s_class = gradcam_relation(student, probe.x, last, train_mode=True)
        return diswot_gradcam(feats[last], t_last, s_class, teacher_class)
    scores = []
    for i in range(SPLIT):  # interleaved: a training split stored by class stays mixed in each batch
        part = Probe(probe.indices[i::SPLIT], probe.x[i::SPLIT], probe.teacher_logits[i::SPLIT],
                     {k: f[i::SPLIT] for k, f in probe.teacher_features.items()})
        s_logits, s_feats = probe_outputs(student, part, [last])
        scores.append(diswot(s_feats[last], t_last[i::SPLIT], s_logits, part.teacher_logits))
    return sum(scores) / len(scores)


def score_student(arch: Arch, steps: int, asked: list[Variant], ctx: ProxyContext, base: ProxySpec, *,
                  seed: int, teacher_class: torch.Tensor | None = None) -> dict:
    # `ctx.probe` is the probe of the asked variants' size: only those of its size and `steps` are measured
    """One student's record: built from `seed`, trained `steps` KD steps once, run once over the probe
    (`probe_outputs`, every aligned stage tapped), then measured under every variant of `asked` at
    those steps ({stem: {score, measure_s, cpu_s, per_stage}}, with train_s, forward_s and their CPU
    times). A variant costs what `similarity_score` does for a trial: the forward plus its measure (an
    `EXTRA` variant's measure includes its own passes; `teacher_class` is the teacher's Grad-CAM class
    relation on the probe, which `gradcam` needs)."""
    assert ctx.probe is not None, "the bench's context carries the probe"
    torch.manual_seed(seed)
    student = build_student(arch, ctx.in_channels, ctx.num_classes)
    pairs = hint_pairs(arch, ctx)
    size = len(ctx.probe.indices)
    spec = proxy_spec(Variant("cka", "all", steps, size), base)
    cpu0 = time.process_time()
    student, train_s = similarity_training(student, ctx.x_train, ctx.y_train, ctx.teacher, spec, seed=seed,
                                           device=ctx.device)
    rec: dict = {"train_s": train_s, "train_cpu_s": time.process_time() - cpu0}
    cpu0, t0 = time.process_time(), time.perf_counter()
    logits, feats = probe_outputs(student, ctx.probe, [p.student_module for p in pairs])
    rec["forward_s"], rec["forward_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    for v in asked:
        if (v.steps, v.probe) != (steps, size):
            continue
        sim = proxy_spec(v, base).similarity
        cpu0, t0 = time.process_time(), time.perf_counter()
        if v.stages in EXTRA:
            values = [_extra(v, student, ctx.probe, pairs[-1], feats, teacher_class)]
        else:
            values = similarity_values(sim, compared_pairs(pairs, sim), feats, logits, ctx.probe)
        rec[v.stem] = {"score": sum(values) / len(values), "measure_s": time.perf_counter() - t0,
                       "cpu_s": time.process_time() - cpu0, "per_stage": values}
    return rec


def row_entries(rec: dict, asked: list[Variant], steps: int, probe: int, n_train: int) -> dict[str, dict]:
    """The panel row's entries of the variants at `steps` from a student's record: score, seconds
    (training plus this measurement, wall time), the same in this process's CPU time (which a machine
    busy with other work inflates far less), student-epochs."""
    # an `EXTRA` variant's measure runs its own passes over the probe, which would serve it alone: the
    # shared forward is not part of its cost
    return {v.name: {"score": rec[v.stem]["score"],
                     "seconds": rec["train_s"] + (0 if v.stages in EXTRA else rec["forward_s"]) + rec[v.stem]["measure_s"],
                     "cpu_seconds": rec["train_cpu_s"] + (0 if v.stages in EXTRA else rec["forward_cpu_s"])
                     + rec[v.stem]["cpu_s"], "per_stage": rec[v.stem]["per_stage"], "student_epochs": steps * BATCH / n_train}
            for v in asked if (v.steps, v.probe) == (steps, probe)}


def teacher_class_relation(teacher: torch.nn.Module, ctx: ProxyContext) -> torch.Tensor:
    """The teacher's Grad-CAM class relation on `ctx.probe`, at the teacher stage the students' last
    aligned stage is compared with (once per probe: the `gradcam` variant's teacher side)."""
    from kdnas.teachers import feature_modules

    assert ctx.probe is not None and ctx.alignment, "the bench's context carries the probe and the alignment"
    module = feature_modules(teacher)[ctx.alignment[-1][1]]
    return gradcam_relation(teacher, ctx.probe.x, module, train_mode=False)


def ensemble_rows(rows: list[dict], names: list[str]) -> list[str]:
    """A clearly labelled zero-cost ensemble for each DisWOT row at K = 0: the rank average of its
    score and the student's parameter count (``ens-rank(NAME+params)``), added to every panel row;
    its cost is the DisWOT row's (a parameter count costs nothing). Returns the new rows' names."""
    from scipy.stats import rankdata

    out = []
    params = rankdata([r["params_proxy"]["score"] for r in rows])
    for name in names:
        if not (name.startswith("sim-diswot-") and "@0-" in name):
            continue
        ens = f"ens-rank({name}+params)"
        ranks = (rankdata([r[name]["score"] for r in rows]) + params) / 2
        for r, v in zip(rows, ranks):
            r[ens] = {**{k: r[name][k] for k in ("seconds", "cpu_seconds", "student_epochs")}, "score": float(v)}
        out.append(ens)
    return out
