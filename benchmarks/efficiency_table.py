"""The search-efficiency benchmark's table: every student of a small space scored at every rung.

Each student is trained ONCE, under the proxy's own loop (`proxy_loop`: the spec's optimizer, warm-up
then cosine over the top rung's steps, seeded batches), for the top rung's steps, and scored at each
rung's step count on the way (`proxy_eval` on a deep copy, so that recalibrating the copy's BatchNorm
statistics leaves the trajectory alone): what successive halving sees of a student that it promotes,
where the learning-rate schedule's horizon is the top rung. One student's record is one unit of work,
cached under runs/cache/search_efficiency/ and claimed by whichever process of a `--jobs` build gets
there first (`kdnas.claims`), so a killed build resumes where it stopped.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from kdnas.arch import Arch, Stage
from kdnas.claims import obtain
from kdnas.cost import count_macs_params
from kdnas.data import DataBundle
from kdnas.distill.losses import kd_objective
from kdnas.distill.loop import Steps
from kdnas.distill.proxy import proxy_eval, proxy_loop, result_of
from kdnas.distill.spec import ProxySpec
from kdnas.distill.teacher_cache import TeacherOutputs
from kdnas.paths import cache_dir
from kdnas.space import SearchSpace, build_student

#: a rung's figures, as the table keeps them: the proxy's scores of the run so far
RUNG_FIELDS = ("val_acc", "val_loss", "tse", "tse_late")


def enumerate_space(space: SearchSpace) -> list[Arch]:
    """Every distinct architecture of `space` (canonical text decides), in a fixed order."""
    stages = [sorted(sc.distinct()) for sc in space.stages]
    archs = {str(a): a for a in (Arch(stem, tuple(st), head) for stem in space.stem for head in space.head
                                 for st in itertools.product(*stages))}
    return [archs[k] for k in sorted(archs)]


def _concat(parts: list[Steps]) -> Steps:
    """The steps of several `run` calls of one loop, as one run's."""
    terms: dict[str, list[float]] = {}
    for p in parts:
        for k, v in p.terms.items():
            terms.setdefault(k, []).extend(v)
    return Steps([x for p in parts for x in p.losses], terms)


@dataclass(frozen=True)
class TableRun:
    """What every student of the table is trained on: data, teacher outputs, recipe and rungs."""

    data: DataBundle
    teacher: TeacherOutputs
    spec: ProxySpec  # its steps are the top rung's (the schedule's horizon)
    rungs: tuple[int, ...]
    seed: int

    def key(self, arch: Arch, teacher_sha: str) -> str:
        """The cache key of `arch`'s record: everything that decides its figures."""
        return (f"rungs|{teacher_sha}|{self.data.fingerprint}|{arch}|{self.spec.run_json()}|"
                f"{','.join(map(str, self.rungs))}|{self.seed}")

    def student(self, arch: Arch) -> dict:
        """Train `arch` once to the top rung, scored at every rung; its record (costs, each rung's scores)."""
        c, _, _ = self.data.input_shape
        nc = self.data.num_classes
        macs, params = count_macs_params(build_student(arch, c, nc), self.data.input_shape)
        torch.manual_seed(self.seed)
        student = build_student(arch, c, nc).train()
        torch.manual_seed(self.seed)  # as `short_run` does after building: the same run as a plain proxy
        x, y = self.data.train.x, self.data.train.y
        t_logits, spec = self.teacher.logits, self.spec

        def batch_loss(idx: torch.Tensor, _step: int) -> dict[str, torch.Tensor]:
            return kd_objective(student(x[idx]), y[idx], t_logits[idx], spec.temperature, spec.alpha)

        # the same parameters, in the same order, as `short_run`'s ModuleList([student, no adapters])
        loop = proxy_loop(nn.ModuleList([student, nn.ModuleList()]), spec, len(x), self.seed, batch_loss)
        done: list[Steps] = []
        rungs: dict[str, dict[str, float]] = {}
        train_s = 0.0
        for rung in self.rungs:
            t0 = time.perf_counter()
            done.append(loop.run(rung - loop.step))
            train_s += time.perf_counter() - t0
            t1 = time.perf_counter()
            acc, val_loss = proxy_eval(copy.deepcopy(student), x, self.data.val.x, self.data.val.y, spec, self.seed)
            res = result_of(_concat(done), acc, val_loss, train_s, time.perf_counter() - t1)
            rungs[str(rung)] = {"val_acc": res.val_acc, **res.losses(), "train_s": train_s, "eval_s": res.eval_s}
        return {"arch": str(arch), "macs": macs, "params": params, "rungs": rungs}


def cached_students(run: TableRun, archs: list[Arch], teacher_sha: str, *, wait: bool) -> Iterator[dict | None]:
    """Each of `archs`' records, from the cache or trained now (and cached); with `wait` False, None
    for a student another live process is training (a `--jobs` helper moves on to the next)."""
    root = cache_dir() / "search_efficiency"
    for arch in archs:
        path = root / f"{hashlib.sha256(run.key(arch, teacher_sha).encode()).hexdigest()[:24]}.json"
        got = obtain(path, lambda arch=arch: run.student(arch), wait=wait)
        yield None if got is None else got[0]
