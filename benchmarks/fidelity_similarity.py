"""The similarity proxy's rows of `python -m benchmarks.fidelity` (`--similarity cka,rsa,diswot`).

Each variant is one row, named ``sim-MEASURE-STAGES@K-pP``: `proxy.method: similarity` with
`similarity.measure` MEASURE, `similarity.advanced.stages` STAGES (all, last, logits),
`similarity.steps` K and `similarity.probe_size` P, through the proxy's own functions
(`kdnas.distill.probe`), on one probe batch of P training images drawn from `--seed` (the study's
probe; `--probe-size` may list several). DisWOT's ``all`` and
``last`` are the same measure (the last stage's sample relation and the logits' class relation), so
only ``last`` is run for it.

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
from kdnas.distill import ProxySpec
from kdnas.distill.probe import compared_pairs, probe_outputs, similarity_training, similarity_values
from kdnas.distill.spec import SimilaritySpec
from kdnas.execute.task import ProxyContext, hint_pairs
from kdnas.space import build_student

STAGES = ("all", "last", "logits")
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
                    v = Variant(m, "last" if m == "diswot" and s == "all" else s, k, p)
                    if v not in out:
                        out.append(v)
    return out


def proxy_spec(v: Variant, base: ProxySpec) -> ProxySpec:
    """The `proxy` section of a study that scores its students as row `v` does; `base` is the
    similarity proxy with the bench's run settings (`base_spec`)."""
    sim = SimilaritySpec(measure=v.measure, steps=v.steps, probe_size=v.probe, advanced={"stages": v.stages})
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


def score_student(arch: Arch, steps: int, asked: list[Variant], ctx: ProxyContext, base: ProxySpec, *,
                  seed: int) -> dict:
    # `ctx.probe` is the probe of the asked variants' size: only those of its size and `steps` are measured
    """One student's record: built from `seed`, trained `steps` KD steps once, run once over the probe
    (`probe_outputs`, every aligned stage tapped), then measured under every variant of `asked` at
    those steps ({stem: {score, measure_s, cpu_s, per_stage}}, with train_s, forward_s and their CPU
    times). A variant costs what `similarity_score` does for a trial: the forward plus its measure."""
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
        values = similarity_values(sim, compared_pairs(pairs, sim), feats, logits, ctx.probe)
        rec[v.stem] = {"score": sum(values) / len(values), "measure_s": time.perf_counter() - t0,
                       "cpu_s": time.process_time() - cpu0, "per_stage": values}
    return rec


def row_entries(rec: dict, asked: list[Variant], steps: int, probe: int, n_train: int) -> dict[str, dict]:
    """The panel row's entries of the variants at `steps` from a student's record: score, seconds
    (training plus this measurement, wall time), the same in this process's CPU time (which a machine
    busy with other work inflates far less), student-epochs."""
    return {v.name: {"score": rec[v.stem]["score"],
                     "seconds": rec["train_s"] + rec["forward_s"] + rec[v.stem]["measure_s"],
                     "cpu_seconds": rec["train_cpu_s"] + rec["forward_cpu_s"] + rec[v.stem]["cpu_s"], "per_stage": rec[v.stem]["per_stage"], "student_epochs": steps * BATCH / n_train}
            for v in asked if (v.steps, v.probe) == (steps, probe)}
