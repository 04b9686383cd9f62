"""`python -m benchmarks.fidelity`: does a proxy rank students the way full training does?

A panel of architectures spread over the MACs range of a space (nearest to evenly spaced log-MACs
values among a large random sample, so the rare small students are in it too) is trained under one
fixed KD recipe: the ground truth, `--gt-epochs` epochs of Hinton KD against cached teacher logits,
SGD + cosine, on `--train-subset` training images, scored on the test split. One such run is noisy
(two seeds rank a CIFAR-10 panel with tau about 0.65), so `--gt-seeds` trains each architecture once
per seed and takes the mean, and the report says how alike the seeds rank the panel; on a panel whose
accuracies lie within a point or two, which test images happen to be drawn is noise of the same size,
so `--gt-test-subset` scores the ground truth on more test images than `--test-subset` without
touching anything else's caches. Each proxy then scores the same panel:

- ``kd@N``: the end-to-end short KD proxy (`run_proxy`, method kd) at N steps of batch 64, its
  BatchNorm statistics recomputed on `--short-recal` training images, scored on the validation split
  (what a kdnas trial does); ``kd@N-valloss`` scores the same run by its validation cross-entropy,
  ``kd@N-tse`` by its training speed (the mean training loss over the run, Ru et al. 2021), which
  needs no evaluation pass and is costed without one, ``kd@N-tselate`` by the mean over the run's
  second half only (TSE-E);
- ``blockwise``: the block table's loss (negated: higher is better), with and without stem/head
  (``blockwise_stages``); ``blockwise_tse``: the blocks' training speed instead of their loss;
  ``blockwise_fit``: DONNA's predictor over the block losses, leave-one-out; the report also ranks
  the panel by each component of the block-wise score alone (stem, each teacher stage, head), to
  show which matched layers agree with the ground truth;
- ``sim-MEASURE-STAGES@K`` (with `--similarity`): the similarity proxy (`proxy.method: similarity`)
  under each measure, stage set and KD steps asked (`benchmarks.fidelity_similarity`);
- ``synflow``, ``naswot``: zero-cost proxies on the untrained student;
- ``macs``, ``params``: bigger is better.

For each: Kendall tau and Spearman rho against the ground truth with percentile bootstrap CIs
(panel resampled with replacement), and the cost in seconds and student-epochs. Ground-truth and
short runs are cached per architecture under ``runs/cache/fidelity/``, so an interrupted run
resumes and another seed costs only its own runs; `--short-steps none` runs no short KD proxy (to
score only new proxies against a committed ground truth), `--no-stitch` no stitched students. `--panel-seed` draws a held-out panel under the
same teacher, block table and recipes, to check a conclusion drawn from the first. `--jobs N`
shares the block table and the runs among N processes (claims on the cache files, `kdnas.claims`).
`--ground-truth-from REPORT.json` takes the ground-truth runs of a committed report into that cache
(refused unless its teacher, data and recipe are this run's; `benchmarks.ground_truth`), so new
proxies are scored on another checkout without hours of training again.
Run ``python -m benchmarks.fidelity --help``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

import kdnas
from kdnas.arch import Arch
from benchmarks import fidelity_similarity as simrows
from benchmarks.command import command_line, run
from benchmarks.ground_truth import (block_records, check_recipe, committed_teacher, ground_truth_runs,
                                      load_result, save_teacher)
from benchmarks.machine import machine_info, write_result
from benchmarks.predictor import features, loo_predictions
from benchmarks.ranking import bootstrap, rank, seed_agreement
from kdnas.blockwise import CostTable, ScoreTable, build_block_table, plan_blocks
from kdnas.blockwise.stitch import stitched_scores
from kdnas.blockwise.table import seed_block_cache, subset_index
from kdnas.claims import obtain
from kdnas.cost import count_macs_params
from kdnas.data import DataBundle, DataSpec, Split, load_data, with_train_from
from kdnas.distill import ProxySpec, TrainRecipe, accuracy, run_proxy, teacher_outputs
from kdnas.distill.spec import BlockwiseSpec
from kdnas.distill.trainer import train
from kdnas.distill.probe import make_probe, probe_indices
from kdnas.errors import UserError
from kdnas.execute.task import ProxyContext
from kdnas.paths import cache_dir, runs_dir
from kdnas.space import build_student, load_space
from kdnas.space.align import align_stages
from kdnas.teachers import TeacherSpec, build_model, feature_modules, freeze, stage_shapes, state_dict_sha256
from kdnas.zerocost import naswot_score, synflow_score

SHARED = Path(kdnas.__file__).resolve().parents[2] / "shared" / "datasets"  # ../shared, beside the repository
SHARED_ROOTS = {"fashion_mnist": SHARED / "fashion-mnist", "cifar10": SHARED / "cifar10-jpeg"}
DEFAULT_SPACE = Path(kdnas.__file__).resolve().parents[1] / "search_spaces" / "mbv2.yaml"
SHORT_BATCH = 64
SHORT_FIELDS = ("tse", "val_loss", "tse_late")  # a cached short run lacking one of these (recorded later) is trained again
OPTIMIZER_NAMES = {"sgd": "SGD", "adamw": "AdamW"}
PANEL_POOL = 200_000  # random students the panel is drawn from (costed from the block table: about a second)


def spread_over_range(macs: np.ndarray, k: int) -> np.ndarray:
    """Indices of `k` distinct points whose MACs are nearest to `k` values evenly spaced in log-MACs
    from the smallest to the largest. A random sample of a space is dense at the large end, so even
    spacing by rank would leave the small students out of the panel."""
    order = np.argsort(macs, kind="stable")
    if len(order) <= k:
        return order
    logm = np.log(macs[order].astype(float))
    used: set[int] = set()
    picked = []
    for target in np.linspace(logm[0], logm[-1], k):
        j = int(np.searchsorted(logm, target))
        near = sorted(range(max(0, j - k - 1), min(len(logm), j + k + 1)), key=lambda i: abs(logm[i] - target))
        i = next(i for i in near if i not in used)
        used.add(i)
        picked.append(order[i])
    return np.array(picked)


_LOG_PREFIX = [""]  # "[helper PID] " in a --jobs helper, whose lines share the terminal with the main process's


def _log(msg: str) -> None:
    print(_LOG_PREFIX[0] + msg, file=sys.stderr, flush=True)


def _load(name: str, root: Path | None, n_train: int, n_val: int, n_test: int) -> DataBundle:
    root = root or SHARED_ROOTS.get(name)
    if name == "cifar10" and root == SHARED_ROOTS["cifar10"]:
        spec = DataSpec(name="image_folder", root=root, max_train=n_train, max_val=n_val, max_test=n_test, download=False)
    else:
        spec = DataSpec(name=name, root=root, max_train=n_train, max_val=n_val, max_test=n_test, download=False)
    return load_data(spec)


def _gt_test(a: argparse.Namespace, data: DataBundle) -> tuple[Split, str]:
    """The test images the ground truth is scored on, and the fingerprint that keys its runs: `data`'s,
    or with --gt-test-subset N, N test images drawn from the same pool. The loader draws each split
    on its own, so the training and validation images (all that the teacher, the block table and the
    short runs see, and what their caches are keyed by) stay `data`'s."""
    if a.gt_test_subset is None or a.gt_test_subset == a.test_subset:
        return data.test, data.fingerprint
    other = _load(a.data, a.data_root, a.train_subset, a.val_subset, a.gt_test_subset)
    same = all(torch.equal(getattr(other, s).x, getattr(data, s).x) and torch.equal(getattr(other, s).y, getattr(data, s).y)
               for s in ("train", "val"))
    if not same:  # a loader whose training draw depended on the test size would break the caches' keys
        raise RuntimeError(f"{a.data}: --gt-test-subset changed the training or validation images")
    return other.test, other.fingerprint


def _teacher(a: argparse.Namespace, data: DataBundle,
             committed: list[tuple[dict, Path]]) -> tuple[torch.nn.Module, str, float, int]:
    """The bench's teacher, trained once and kept under runs/teachers/: on the students' training
    subset, or (`--teacher-train N`) on a larger draw from the same training pool, never validation
    or test, loaded only when the teacher has to be trained. Where none is kept yet and a report of
    `committed` (--ground-truth-from) keeps the teacher these flags ask for, that one is taken
    instead of training, so its ground truth applies. Returns the frozen model, its sha256, its
    validation accuracy and how many training images it saw."""
    c, h, w = data.input_shape
    more = a.teacher_train if a.teacher_train and a.teacher_train > len(data.train) else None
    n = f"-n{more}" if more else ""
    path = runs_dir() / "teachers" / f"fidelity-{a.teacher}-{data.name}-{data.fingerprint[:10]}-e{a.teacher_epochs}{n}.pt"
    torch.manual_seed(a.seed)  # the initial weights too: a teacher trained twice in one process is the same teacher
    model = build_model(TeacherSpec(name=a.teacher), num_classes=data.num_classes, in_channels=c, input_size=(h, w))
    kept = path.is_file()
    taken = None if kept else _first_committed_teacher(committed, a.teacher, a.teacher_epochs, more or len(data.train))
    if kept or taken:
        blob = torch.load(path, map_location="cpu", weights_only=True) if kept else taken[2]
        model.load_state_dict(blob["state"])
        val, seen = float(blob["val_acc"]), int(blob.get("train_samples", more or len(data.train)))  # older checkpoints: what the name says
    else:
        tdata = data if not more else with_train_from(data, _load(a.data, a.data_root, more, a.val_subset, a.test_subset))
        seen = len(tdata.train)
        _log(f"training teacher {a.teacher} for {a.teacher_epochs} epochs on {seen} images")
        recipe = TrainRecipe(epochs=a.teacher_epochs, batch_size=128, lr=0.1, warmup_epochs=1, augment=True,
                             threads=a.threads)
        val = train(model, tdata, recipe, seed=a.seed, device=a.device).val_acc
    model = freeze(model.cpu())
    sha = state_dict_sha256(model.state_dict())
    if taken:
        report, src, _ = taken
        if sha != report["teacher"]["sha256"]:  # checked before it is kept: a refused import stores nothing
            raise UserError(f"{src}: its teacher checkpoint (sha256 {sha[:12]}) is not the teacher its ground truth "
                            f"names ({report['teacher']['sha256'][:12]})")
        _log(f"teacher {a.teacher} taken from {_shown(src)} (sha256 {sha[:12]}), not trained here")
    if not kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(_teacher_blob(model, val, seen), path)
    return model, sha, val, seen


def _teacher_blob(model: torch.nn.Module, val: float, seen: int) -> dict:
    """A bench teacher's checkpoint: its weights, validation accuracy and training images."""
    return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "val_acc": val, "train_samples": seen}


def _first_committed_teacher(committed: list[tuple[dict, Path]], name: str, epochs: int,
                             train_samples: int) -> tuple[dict, Path, dict] | None:
    """(report, its path, checkpoint) of the first report in `committed` that keeps its teacher."""
    for r, src in committed:
        blob = committed_teacher(r, src, name=name, epochs=epochs, train_samples=train_samples)
        if blob is not None:
            return r, src, blob
    return None


def _cache_path(key_text: str) -> Path:
    return cache_dir() / "fidelity" / f"{hashlib.sha256(key_text.encode()).hexdigest()[:24]}.json"


def _cached(key_text: str, fn, fresh: list[str] | None = None, need: tuple[str, ...] = (),  # noqa: ANN001
            since: float | None = None, skip_claimed: bool = False) -> dict | None:
    """`fn()`'s record, computed once per key and kept under runs/cache/fidelity/ (again when the
    stored record lacks a field named in `need`).

    Several processes share the work (`--jobs`, see `kdnas.claims.obtain`): a key another live
    process is computing is waited for, or skipped (None) with `skip_claimed`. The key's kind (the
    text before its first `|`) is appended to `fresh` when the record was written by this run: by
    this call, or at or after the time `since` (by a helper of this run), so a report can say how
    much of its wall time was spent now."""
    path = _cache_path(key_text)
    # made_by: which process of a --jobs run made the record (kept in the file, not in reports)
    got = obtain(path, lambda: {**fn(), "made_by": os.getpid()}, wait=not skip_claimed,
                 usable=lambda rec: all(k in rec for k in need))
    if got is None:
        return None
    rec, made = got
    # a run taken from a report (--ground-truth-from) was written now but trained then
    if fresh is not None and "imported_from" not in rec and (
            made or (since is not None and path.stat().st_mtime >= since)):
        fresh.append(key_text.split("|", 1)[0])
    return {k: v for k, v in rec.items() if k != "made_by"}


def _shown(path: Path) -> str:
    """`path` as the report shows it: relative to the repository when inside it, so reports do not
    carry one machine's directories."""
    repo = DEFAULT_SPACE.parents[1]
    try:
        return str(path.resolve().relative_to(repo))
    except ValueError:
        return str(path)


def bench_fidelity(a: argparse.Namespace, command: str) -> dict | None:
    """Run the benchmark described by the parsed flags `a`; writes JSON, Markdown and a figure.

    With `a.jobs` > 1, that many - 1 helper processes of the same command (`a.argv`) share the block
    table and the runs through claims on their cache files; a helper (`a.worker`) writes no report
    and returns None. Helpers still running when this returns or fails are stopped."""
    helpers: list[subprocess.Popen] = []
    try:
        return _bench(a, command, helpers)
    finally:
        for h in helpers:
            if h.poll() is None:
                h.terminate()
                h.wait()


def _spawn_helper(a: argparse.Namespace) -> subprocess.Popen:
    # a helper must run this very command: without it, it would run the defaults' benchmark and fill
    # the cache with runs nobody asked for
    if getattr(a, "argv", None) is None:
        raise ValueError("--jobs > 1 needs the command's arguments in a.argv (set by main)")
    return subprocess.Popen([sys.executable, "-m", "benchmarks.fidelity", *a.argv, "--worker", "--jobs", "1"])


def _exit_with_parent() -> None:
    """Stop this helper once the process that spawned it is gone (killed, even by SIGKILL): left
    running, it would go on training runs, under its parent's settings, that nobody reads. Its
    claims are then a dead process's, which other builders take over (`kdnas.claims`)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:  # an orphan is re-parented, so its parent id changes
            time.sleep(1.0)
        _log("the benchmark that started this helper is gone: stopping")
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def block_spec(a: argparse.Namespace, n_val: int) -> BlockwiseSpec:
    """How the bench trains its block table, from its flags (`n_val`: validation images there are)."""
    return BlockwiseSpec(steps=a.block_steps, batch_size=a.block_batch, lr=a.block_lr, max_samples=a.block_samples,
                         threads=a.threads, advanced={"val_samples": min(a.block_samples // 4, n_val)})


def _bench(a: argparse.Namespace, command: str, helpers: list[subprocess.Popen]) -> dict | None:
    started = _dt.datetime.now(_dt.timezone.utc)
    _LOG_PREFIX[0] = f"[helper {os.getpid()}] " if a.worker else ""
    if a.worker:
        _exit_with_parent()
    torch.set_num_threads(a.threads)
    data = _load(a.data, a.data_root, a.train_subset, a.val_subset, a.test_subset)
    _log(f"data: {data.describe()}")
    c, h, w = data.input_shape
    n_train = len(data.train)
    # bn_recalibration 0: a long run's running statistics have converged, and the cache keys stay stable
    gt_spec = ProxySpec(method="kd", epochs=a.gt_epochs, batch_size=a.gt_batch, optimizer="sgd", lr=a.gt_lr,
                        threads=a.threads, advanced={"bn_recalibration": 0})
    # threads are how a run is executed, not part of its recipe: a ground truth cached at one thread count
    # serves every other (keyed as threads 1, which also keeps the keys of runs cached before this rule)
    gt_key = gt_spec.model_copy(update={"threads": 1}).run_json()
    gt_test, gt_fp = _gt_test(a, data)
    recipe = _gt_recipe(a.gt_epochs, a.gt_batch, a.gt_lr, n_train, len(gt_test))
    # committed reports' ground truth (--ground-truth-from): data and recipe checked before anything is stored
    committed = [(load_result(source), source) for source in a.ground_truth_from or []]
    for r, source in committed:
        check_recipe(r, _shown(source), fingerprint=gt_fp, recipe=recipe, key=gt_key)
    teacher, t_sha, t_val, t_seen = _teacher(a, data, committed)

    def gt_cache_key(arch: Arch | str, seed: int) -> str:
        return f"gt|{t_sha}|{gt_fp}|{arch}|{gt_key}|{seed}"

    # every report checked against the teacher before any run is taken
    found = [run for r, source in committed for run in ground_truth_runs(
        r, _shown(source), teacher_sha=t_sha, fingerprint=gt_fp, recipe=recipe, key=gt_key)]
    for run in found:
        _cached(gt_cache_key(run.arch, run.seed), lambda rec=run.record: rec)
    if not a.worker:  # spawned once the teacher is trained, so that only this process trains it
        helpers.extend(_spawn_helper(a) for _ in range(a.jobs - 1))
    t_test_acc = accuracy(teacher, gt_test.x, gt_test.y)  # on the images the students' ground truth is
    _log(f"teacher {a.teacher}: val {t_val:.4f} test {t_test_acc:.4f}")
    space = load_space(a.space)
    shapes = stage_shapes(teacher, data.input_shape)
    bw = block_spec(a, len(data.val))
    plan = plan_blocks(space, (h, w), [(s[1], s[2]) for s in shapes], True)
    costs = CostTable(space, plan.choices, data.input_shape, data.num_classes)

    # the block table a committed report keeps, where it was trained with these settings
    for r, source in committed:
        # a report's table was built at its --seed (kept since; reports before it ran at the default, 0)
        n = seed_block_cache(block_records(r, bw), teacher_id=t_sha, data_fingerprint=data.fingerprint, spec=bw,
                             seed=r.get("block_table", {}).get("seed", 0))
        if n:
            _log(f"{n} block results taken from {_shown(source)}")
    # the block table (its cost is paid once for the whole space, not per panel member)
    table = build_block_table(plan, teacher, data.train.x, data.val.x, teacher_id=t_sha,
                              data_fingerprint=data.fingerprint, num_classes=data.num_classes, spec=bw,
                              seed=a.seed, device=a.device, verbose=True, need=("tse", "weights") if a.stitch else ("tse",))
    scores = ScoreTable(table)
    stitched = ["blockwise_stitched", "blockwise_stitched_acc"] if a.stitch else []
    if stitched:  # students stitched from their trained blocks run (on the CPU) on the blocks' validation images
        pick = subset_index(len(data.val), bw.advanced.val_samples, a.seed)
        stitch_x, stitch_y = data.val.x[pick], data.val.y[pick]
        stitch_t = teacher_outputs(teacher, data.val.x, teacher_id=t_sha, data_fingerprint=data.fingerprint,
                                   split="val").logits[pick]
    scores_tse = ScoreTable(table, "tse")  # the same students scored by their blocks' training speed
    # --panel-seed draws another panel (a held-out one) with everything else, teacher and table included, unchanged
    codes = scores.sample(PANEL_POOL, a.seed if a.panel_seed is None else a.panel_seed)
    macs, _ = costs(codes)
    if a.max_macs:
        keep = macs <= a.max_macs
        codes, macs = codes[keep], macs[keep]
    chosen = spread_over_range(macs, a.panel)
    panel_codes = codes[chosen]
    panel = [scores.decode(r) for r in panel_codes]
    _log(f"panel: {len(panel)} architectures, {macs[chosen].min() / 1e6:.2f}-{macs[chosen].max() / 1e6:.2f} M MACs")

    gt_seeds = a.gt_seeds or [a.seed]
    sim_asked = (simrows.variants(a.similarity, a.similarity_stages, a.similarity_steps, a.probe_size)
                 if a.similarity else [])
    # the teacher's outputs on the training split: for whatever trains a student here (none when only
    # similarity at initialisation is asked against a ground truth that is all cached)
    trains = a.short_steps or any(v.steps for v in sim_asked) or not a.no_gt_training
    outputs = teacher_outputs(teacher, data.train.x, teacher_id=t_sha, data_fingerprint=data.fingerprint) if trains else None
    sim_base = simrows.base_spec(a.short_optimizer, a.short_lr, a.threads)
    sim_ctx = {p: _similarity_context(a, data, teacher, shapes, outputs, sim_base, p)
               for p in sorted({v.probe for v in sim_asked})}
    sim_class = {v.probe: simrows.teacher_class_relation(teacher, sim_ctx[v.probe])  # the gradcam rows' teacher side
                 for v in sim_asked if v.stages == "gradcam"}
    short_specs = [ProxySpec(method="kd", steps=steps, batch_size=SHORT_BATCH, optimizer=a.short_optimizer,
                             lr=a.short_lr, threads=a.threads, advanced={"bn_recalibration": a.short_recal})
                   for steps in a.short_steps]

    def gt_task(arch: Arch, seed: int) -> tuple[str, object]:
        def run() -> dict:
            torch.manual_seed(seed)
            res = run_proxy(build_student(arch, c, data.num_classes), data.train.x, data.train.y, gt_test.x,
                            gt_test.y, outputs, gt_spec, seed=seed, device=a.device)
            return {"acc": res.val_acc, "seconds": res.train_s + res.eval_s, "steps": res.steps}
        return gt_cache_key(arch, seed), run

    def short_task(arch: Arch, spec: ProxySpec) -> tuple[str, object]:
        def run() -> dict:
            torch.manual_seed(a.seed)
            res = run_proxy(build_student(arch, c, data.num_classes), data.train.x, data.train.y, data.val.x,
                            data.val.y, outputs, spec, seed=a.seed, device=a.device)
            return {"score": res.val_acc, "seconds": res.train_s + res.eval_s, "train_s": res.train_s,
                    **res.losses()}
        # cached with its thread count: a short run's seconds are part of what is measured (not of its result)
        return f"short|{t_sha}|{data.fingerprint}|{arch}|{spec.run_json()}|threads={spec.threads}|{a.seed}", run

    def sim_task(arch: Arch, unit: tuple[int, int]) -> tuple[str, object]:
        steps, probe = unit
        key = simrows.cache_key(arch, steps, probe, teacher_sha=t_sha, fingerprint=data.fingerprint, base=sim_base,
                                seed=a.seed)
        return key, lambda: simrows.score_student(arch, steps, sim_asked, sim_ctx[probe], sim_base, seed=a.seed,
                                                  teacher_class=sim_class.get(probe))

    sim_units = sorted({(v.steps, v.probe) for v in sim_asked})  # one forward (and training) each

    def sim_need(unit: tuple[int, int]) -> tuple[str, ...]:  # a record lacking an asked variant is measured again
        return tuple(v.stem for v in sim_asked if (v.steps, v.probe) == unit)

    if a.ground_truth_from:
        covered = {run.arch for run in found} & {str(arch) for arch in panel}
        _log(f"ground truth imported for {len(covered)} of the panel's {len(panel)} architectures")

    if a.no_gt_training:  # checked before any work: a ground truth is hours of training
        missing = [str(arch) for arch in panel for s in gt_seeds if not _cache_path(gt_cache_key(arch, s)).is_file()]
        if missing:
            raise UserError(f"--no-gt-training: {len(missing)} ground-truth runs of this panel are neither cached nor "
                            f"in a --ground-truth-from report (first: {missing[0]})")
    # the work pass: every ground-truth run first (the long ones), then the short runs, each done by
    # whichever process of this run (--jobs) claims it first; records from before runs kept their
    # losses are trained again
    for key, fn in [gt_task(arch, s) for arch in panel for s in gt_seeds]:
        _cached(key, fn, skip_claimed=True)
    for key, fn in [short_task(arch, spec) for arch in panel for spec in short_specs]:
        _cached(key, fn, need=SHORT_FIELDS, skip_claimed=True)
    for arch in panel:
        for unit in sim_units:
            _cached(*sim_task(arch, unit), need=sim_need(unit), skip_claimed=True)
    if a.worker:
        return None
    for helper in helpers:
        helper.wait()

    rows: list[dict] = []
    fresh: list[str] = []
    since = started.timestamp()
    for i, arch in enumerate(panel):
        model = build_student(arch, c, data.num_classes)
        m, p = count_macs_params(model, data.input_shape)
        row: dict = {"arch": str(arch), "macs": m, "params": p}
        runs = [{"seed": s, **_cached(*gt_task(arch, s), fresh, since=since)} for s in gt_seeds]
        row["gt"] = {"acc": float(np.mean([r["acc"] for r in runs])),
                     "seconds": float(np.mean([r["seconds"] for r in runs])), "runs": runs}
        for steps, spec in zip(a.short_steps, short_specs):
            rec = _cached(*short_task(arch, spec), fresh, need=SHORT_FIELDS, since=since)
            se = steps * SHORT_BATCH / n_train
            row[f"kd@{steps}"] = {"score": rec["score"], "seconds": rec["seconds"], "student_epochs": se}
            # the same run scored by its validation loss, and by its training speed (no evaluation pass)
            row[f"kd@{steps}-valloss"] = {"score": -rec["val_loss"], "seconds": rec["seconds"], "student_epochs": se}
            row[f"kd@{steps}-tse"] = {"score": -rec["tse"], "seconds": rec["train_s"], "student_epochs": se}
            row[f"kd@{steps}-tselate"] = {"score": -rec["tse_late"], "seconds": rec["train_s"], "student_epochs": se}
        for unit in sim_units:
            row.update(simrows.row_entries(_cached(*sim_task(arch, unit), fresh, need=sim_need(unit), since=since),
                                           sim_asked, *unit, n_train))
        t0 = time.perf_counter()
        code = panel_codes[i][None]
        row["blockwise"] = {"score": -float(scores.score(code)[0]), "seconds": time.perf_counter() - t0}
        comp = scores.components(code)[0]
        row["blockwise_components"] = [float(v) for v in comp]
        row["blockwise_stages"] = {"score": -float(comp[1:-1].sum()), "seconds": row["blockwise"]["seconds"]}
        row["blockwise_tse"] = {"score": -float(scores_tse.score(code)[0]), "seconds": row["blockwise"]["seconds"]}
        if stitched:
            t0 = time.perf_counter()
            st = stitched_scores(table, arch, stitch_x, stitch_y, stitch_t)
            row["blockwise_stitched"] = {"score": -st["kd"], "seconds": time.perf_counter() - t0, **st}
            row["blockwise_stitched_acc"] = {"score": st["acc"], "seconds": row["blockwise_stitched"]["seconds"]}
        torch.manual_seed(a.seed)
        t0 = time.perf_counter()
        row["synflow"] = {"score": synflow_score(build_student(arch, c, data.num_classes), data.input_shape)}
        row["synflow"]["seconds"] = time.perf_counter() - t0
        torch.manual_seed(a.seed)
        t0 = time.perf_counter()
        row["naswot"] = {"score": naswot_score(build_student(arch, c, data.num_classes), data.train.x[:64])}
        row["naswot"]["seconds"] = time.perf_counter() - t0
        row["macs_proxy"] = {"score": float(m), "seconds": 0.0}
        row["params_proxy"] = {"score": float(p), "seconds": 0.0}
        rows.append(row)
        _log(f"[{i + 1}/{len(panel)}] {m / 1e6:.2f} M MACs gt {row['gt']['acc']:.4f} ({row['gt']['seconds']:.0f}s) "
             + " ".join(f"kd@{s} {row[f'kd@{s}']['score']:.3f}" for s in a.short_steps)
             + f" bw {row['blockwise']['score']:.3f}")

    gt = np.array([r["gt"]["acc"] for r in rows])
    per_seed = np.array([[run["acc"] for run in r["gt"]["runs"]] for r in rows]).T  # seeds x panel
    gt_s = float(np.mean([r["gt"]["seconds"] for r in rows]))
    t0 = time.perf_counter()
    fitted = loo_predictions(features([r["blockwise_components"] for r in rows], [r["macs"] for r in rows]), gt)
    for r, v in zip(rows, fitted):
        r["blockwise_fit"] = {"score": float(v), "seconds": (time.perf_counter() - t0) / len(rows)}
    gt_epochs = a.gt_epochs
    names = [f"kd@{s}{v}" for s in a.short_steps for v in ("", "-valloss", "-tse", "-tselate")]
    names += [v.name for v in sim_asked]
    names += simrows.ensemble_rows(rows, names)  # zero-cost ensembles: rank average of DisWOT and params
    names += ["blockwise", "blockwise_tse", *stitched, "blockwise_stages", "blockwise_fit", "synflow", "naswot",
              "macs_proxy", "params_proxy"]
    proxies = {}
    for name in names:
        x = np.array([r[name]["score"] for r in rows], dtype=float)
        x = np.where(np.isfinite(x), x, np.nanmin(np.where(np.isfinite(x), x, np.nan)) - 1)
        per_s = float(np.mean([r[name]["seconds"] for r in rows]))
        entry = {**bootstrap(x, gt, a.boot, a.seed), "seconds_per_arch": per_s, "fraction_of_gt": per_s / gt_s}
        if len(gt_seeds) > 1:  # what the same proxy scores against one ground-truth run, on average
            entry["tau_single_seed"] = float(np.mean([rank(x, run)["tau"] for run in per_seed]))
        if name.startswith(("kd@", "sim-", "ens-")):
            entry["student_epochs_per_arch"] = rows[0][name]["student_epochs"]
        if name.startswith(("sim-", "ens-")):
            entry["cpu_fraction_of_gt"] = float(np.mean([r[name]["cpu_seconds"] for r in rows])) / gt_s
        if name.startswith("blockwise"):
            entry["table_seconds"] = table.block_train_s
            entry["table_blocks"] = table.size
            entry["table_fraction_of_panel_gt"] = table.block_train_s / (gt_s * len(rows))
        proxies[name] = entry
    # each component of the block-wise score on its own: which groups' block losses rank the panel, which invert it
    comp = np.array([r["blockwise_components"] for r in rows])
    by_component = [{"component": n, **rank(-comp[:, i], gt)} for i, n in enumerate(scores.component_names)]
    result = {
        "benchmark": "fidelity", "command": command, "date": started.isoformat(timespec="seconds"),
        "wall_s": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(), "jobs": a.jobs,
        "machine": machine_info(),
        "data": {"name": a.data, "loader": data.name, "describe": data.describe(), "fingerprint": data.fingerprint},
        "teacher": {"name": a.teacher, "epochs": a.teacher_epochs, "val_acc": t_val, "test_acc": t_test_acc,
                    "sha256": t_sha, "train_samples": t_seen},
        "space": _shown(a.space),
        # data_fingerprint: the data the ground truth was scored on (another test subset than `data`'s with --gt-test-subset)
        "ground_truth": {"recipe": recipe, "key": gt_key, "data_fingerprint": gt_fp, "epochs": gt_epochs, "seeds": gt_seeds, "seconds_per_arch": gt_s,
                         "seed_agreement": seed_agreement(per_seed, gt_seeds)},
        "short_kd": {"batch_size": SHORT_BATCH, "optimizer": a.short_optimizer, "lr": a.short_lr,
                     "bn_recalibration": a.short_recal, "steps": a.short_steps},
        **({"similarity": {"proxy": sim_base.model_dump(include={"batch_size", "optimizer", "lr", "threads"}),
                           "probe_sizes": a.probe_size, "probe_seed": a.seed, "measures": a.similarity,
                           "stages": a.similarity_stages, "steps": a.similarity_steps,
                           "study_line": simrows.study_line(sim_base)}} if sim_asked else {}),
        "block_table": {"seed": a.seed, "blocks": table.size, "trained": table.trained, "cached": table.cached,
                        "by_other_jobs": table.by_others,
                        "wall_s": table.wall_s, "block_train_s": table.block_train_s,
                        "settings": bw.model_dump(),
                        # every block's result, so that another checkout can take the table (--ground-truth-from)
                        "records": [{k: v for k, v in rec.items() if k != "cached"} for rec in table.records]},
        "runs_now": {"gt": fresh.count("gt"), "short": fresh.count("short"),
                     "gt_imported": sum("imported_from" in run for r in rows for run in r["gt"]["runs"]),
                     "gt_total": len(rows) * len(gt_seeds), "short_total": len(rows) * len(a.short_steps),
                     **({"similarity": fresh.count("sim"), "similarity_total": len(rows) * len(sim_units)}
                        if sim_units else {})},
        "proxies": proxies, "blockwise_by_component": by_component, "panel": rows,
    }
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the teacher beside the report, so that its ground truth can be taken elsewhere (--ground-truth-from)
    result["teacher"]["checkpoint"] = save_teacher(out, t_sha, _teacher_blob(teacher, t_val, t_seen))
    stem = a.name or f"fidelity-{a.data}"
    _figure(rows, names, gt, out / f"{stem}.png")
    write_result(out, stem, result, _markdown(result, stem, _shown(out / f"{stem}.json")), echo=False)
    return result


def _similarity_context(a: argparse.Namespace, data: DataBundle, teacher: torch.nn.Module, shapes: list,
                        outputs: object, base: ProxySpec, size: int) -> ProxyContext:
    """What the similarity rows of one probe size share: the probe of `size` training images drawn from `--seed`
    (the teacher run once over it), the stage alignment and the teacher's outputs for K > 0."""
    c, h, w = data.input_shape
    space = load_space(a.space)
    alignment = tuple(align_stages(space.resolutions((h, w)), [(s[1], s[2]) for s in shapes]))
    probe = make_probe(teacher, data.train.x, probe_indices(len(data.train), size, a.seed),
                       tuple(feature_modules(teacher)), tuple(t for _, t in alignment), a.device)
    return ProxyContext(x_train=data.train.x, y_train=data.train.y, x_val=data.val.x, y_val=data.val.y,
                        teacher=outputs, spec=base, in_channels=c, num_classes=data.num_classes, alignment=alignment,
                        teacher_channels=tuple(s[0] for s in shapes), device=a.device, probe=probe)


def _gt_recipe(epochs: int, batch: int, lr: float, n_train: int, n_test: int) -> str:
    """The ground truth's recipe as a report states it (also what an imported report must match)."""
    return (f"KD (T=4, alpha=0.9) from cached teacher logits, {epochs} epochs of batch {batch}, SGD lr {lr} cosine, "
            f"no augmentation, {n_train} training images; test accuracy on {n_test} images")


def _figure(rows: list[dict], names: list[str], gt: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    fig, axes = plt.subplots(math.ceil(len(names) / cols), cols, figsize=(3.2 * cols, 2.8 * math.ceil(len(names) / cols)))
    for ax, name in zip(axes.ravel(), names):
        ax.scatter([r[name]["score"] for r in rows], gt, s=14)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("ground-truth acc", fontsize=8)
        if name in ("macs_proxy", "params_proxy"):
            ax.set_xscale("log")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _agreement_lines(ag: dict | None) -> list[str]:
    """The report's lines on how alike the ground-truth seeds rank the panel (none with one seed)."""
    if not ag:
        return []
    pairs = "; ".join(f"seeds {p['seeds'][0]}-{p['seeds'][1]} tau {p['tau']:.3f}" for p in ag["pairs"])
    return [f"- ground-truth seeds against each other: Kendall tau {ag['tau']:.3f} on average ({pairs}), Spearman rho "
            f"{ag['rho']:.3f}; they differ by {100 * ag['mean_abs_diff']:.2f} points on average and by up to "
            f"{100 * ag['max_abs_diff']:.2f}, against a spread of {100 * ag['spread_of_mean']:.2f} points in the mean. "
            f"A proxy equal to the noise-free accuracy would reach Spearman rho of about "
            f"{ag['rho_ceiling_one_run']:.2f} against one seed and {ag['rho_ceiling_mean']:.2f} against the mean, "
            f"Kendall tau of about {ag['tau_ceiling_one_run']:.2f} and {ag['tau_ceiling_mean']:.2f} "
            "(Spearman-Brown estimate from the seeds' agreement; see benchmarks.ranking.seed_agreement)"]


def _jobs(n: int) -> str:
    return f" in {n} processes sharing the work (--jobs {n})" if n > 1 else ""


def _runs_now(n: dict | None) -> str:
    """How many of the report's training runs this invocation made (the rest came from the cache)."""
    if not n:
        return ""
    imported = n.get("gt_imported", 0)
    return (f", in which {n['gt']} of {n['gt_total']} ground-truth runs and {n['short']} of {n['short_total']} short "
            "runs were trained (the others were read from runs/cache/fidelity/, with the seconds they took then"
            + (f"; {imported} ground-truth runs there came from committed reports, --ground-truth-from" if imported else "")
            + ")" + (f"; {n['similarity']} of {n['similarity_total']} similarity measurements (a student at one K) were "
                     "made now" if n.get("similarity_total") else ""))


def _by_others(t: dict) -> str:
    n = t.get("by_other_jobs", 0)
    return f", {n} trained now by other --jobs processes" if n else ""


def _similarity_settings_lines(sim: dict | None) -> list[str]:
    """The report's line on the similarity rows' probe and run settings (none without them)."""
    if not sim:
        return []
    run = sim["proxy"]
    return [f"- similarity: probes of {', '.join(map(str, sim['probe_sizes']))} training images drawn from seed {sim['probe_seed']} (the "
            f"teacher's pass over it is paid once per study and left out of the cost); the K KD steps of "
            f"`sim-...@K-pP` use batch {run['batch_size']}, {OPTIMIZER_NAMES[run['optimizer']]} lr {run['lr']:g}; a row's "
            "cost is those steps plus its own measurement"]


def _similarity_target_lines(proxies: dict) -> list[str]:
    """The similarity proxy's target (issue 28): tau >= 0.5 at <= 0.1% of a ground-truth run, above
    every zero-cost baseline (synflow, NASWOT, MACs, params)."""
    sim = {k: v for k, v in proxies.items() if k.startswith("sim-")}
    if not sim:
        return []
    base_name, base = max(((k, proxies[k]["tau"]) for k in ("synflow", "naswot", "macs_proxy", "params_proxy")),
                          key=lambda kv: kv[1])
    cheap = {k: v for k, v in sim.items() if v["fraction_of_gt"] <= 0.001}
    lines = []
    if cheap:
        name, top = max(cheap.items(), key=lambda kv: kv[1]["tau"])
        ok = top["tau"] >= 0.5 and top["tau"] > base
        lines.append(f"- similarity tau >= 0.5 at <= 0.1% of GT cost, above synflow/NASWOT/MACs/params: best {name} "
                     f"tau {top['tau']:.3f} at {100 * top['fraction_of_gt']:.3g}%: **{'met' if ok else 'NOT met'}** "
                     f"(best baseline {base_name} tau {base:.3f})")
    else:
        lines.append("- similarity at <= 0.1% of GT cost: no variant that cheap was run: **NOT met**")
    cpu = {k: v for k, v in sim.items() if v.get("cpu_fraction_of_gt", 1) <= 0.001 and k not in cheap}
    if cpu:  # wall time on a busy machine counts waiting for a core; CPU time does not
        name, top = max(cpu.items(), key=lambda kv: kv[1]["tau"])
        lines.append(f"  (counted in CPU time instead, {len(cpu)} more variants cost <= 0.1%; the best of them: {name}, "
                     f"tau {top['tau']:.3f} at {100 * top['cpu_fraction_of_gt']:.3g}%)")
    name, top = max(sim.items(), key=lambda kv: kv[1]["tau"])
    lines.append(f"  (the best similarity at any cost: {name}, tau {top['tau']:.3f} at {100 * top['fraction_of_gt']:.3g}% "
                 "of GT cost)")
    ens = {k: v for k, v in proxies.items() if k.startswith("ens-")}
    if ens:  # not the similarity alone: said apart, with whether it beats both of its parts
        cheap_ens = {k: v for k, v in ens.items() if v["fraction_of_gt"] <= 0.001}
        name, top = max((cheap_ens or ens).items(), key=lambda kv: kv[1]["tau"])
        part = name[len("ens-rank("):-len("+params)")]
        both = top["tau"] > proxies[part]["tau"] and top["tau"] > proxies["params_proxy"]["tau"]
        ok = bool(cheap_ens) and top["tau"] >= 0.5 and top["tau"] > base
        lines.append(f"- zero-cost ensemble (rank average of DisWOT and params, not the similarity alone): best {name} "
                     f"tau {top['tau']:.3f} at {100 * top['fraction_of_gt']:.3g}%: {'above' if both else 'NOT above'} "
                     f"both parts ({part} {proxies[part]['tau']:.3f}, params {proxies['params_proxy']['tau']:.3f}); "
                     f"the target's bar: **{'met' if ok else 'NOT met'}**")
    return lines


def _as_study_lines(kd: dict | None) -> list[str]:
    """How a study asks for the short runs of the table's kd@ rows (the `proxy` section)."""
    if not kd:
        return []
    spec = (f"method: kd, steps: N, batch_size: {kd['batch_size']}, optimizer: {kd.get('optimizer', 'sgd')}, "
            f"lr: {kd['lr']:g}, advanced: {{score: accuracy, bn_recalibration: {kd['bn_recalibration']}}}")
    return ["", f"A study searches with row `kd@N` by `proxy: {{{spec}}}`; `kd@N-valloss`, "
            "`kd@N-tse` and `kd@N-tselate` are the same runs ranked by `advanced.score: val_loss`, `tse` and "
            "`tse_late`."]


def _component_lines(parts: list[dict] | None) -> list[str]:
    """The report's table of each block-wise component ranking the panel on its own (none in old results)."""
    if not parts:
        return []

    def fmt(v: float) -> str:
        return "n/a" if not math.isfinite(v) else f"{v:.3f}"

    return ["## Block-wise, one component at a time", "",
            "Each component's normalised block loss (negated) against the ground truth. A component the panel "
            "does not vary reads n/a; a negative one ranks the panel backwards.", "",
            "| component | Kendall tau | Spearman rho |", "|---|---:|---:|",
            *(f"| {p['component']} | {fmt(p['tau'])} | {fmt(p['rho'])} |" for p in parts), ""]


def _markdown(r: dict, stem: str, json_path: str) -> str:
    gt = r["ground_truth"]
    lines = [f"# Proxy fidelity on {r['data']['name']}", "", f"Generated {r['date']} by:", "", "```",
             r["command"], "```", "",
             f"- data: {r['data']['describe']}",
             f"- teacher: {r['teacher']['name']} trained {r['teacher']['epochs']} epochs on "
             f"{r['teacher'].get('train_samples', '?')} training images: val {r['teacher']['val_acc']:.4f}, "
             f"test {r['teacher']['test_acc']:.4f}"
             + (f"; kept in `{r['teacher']['checkpoint']}`, so this ground truth can be reused on another checkout: the "
                f"command above with `--ground-truth-from {json_path}`"
                if r["teacher"].get("checkpoint") else ""),
             f"- space: `{r['space']}`; panel of {len(r['panel'])} architectures spread over its MACs range",
             f"- ground truth: {gt['recipe']}; {gt['seconds_per_arch']:.0f} s per architecture and seed; "
             f"seeds {', '.join(map(str, gt['seeds']))}"
             + (" (an architecture's ground truth is its mean over them)" if len(gt["seeds"]) > 1 else ""),
             *_agreement_lines(gt.get("seed_agreement")),
             *([f"- short KD: batch {r['short_kd']['batch_size']}, {OPTIMIZER_NAMES[r['short_kd'].get('optimizer', 'sgd')]} lr "
                f"{r['short_kd']['lr']} warmup+cosine, BatchNorm "
                f"statistics recomputed on {r['short_kd']['bn_recalibration']} training images before scoring"]
               if r.get("short_kd", {}).get("steps", [0]) else []),
             *_similarity_settings_lines(r.get("similarity")),
             f"- block table: {r['block_table']['blocks']} blocks ({r['block_table']['trained']} trained now, "
             f"{r['block_table']['cached']} cached{_by_others(r['block_table'])}), {r['block_table']['wall_s']:.0f} s "
             "in this run; its blocks took "
             f"{r['block_table'].get('block_train_s', float('nan')):.0f} s to train in all (as measured when each was "
             "trained); settings "
             f"{r['block_table']['settings']}", "",
             "| proxy | Kendall tau [95% CI] | Spearman rho [95% CI] | s / arch | % of GT cost / arch | student-epochs / arch "
             "| tau against one seed (mean) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for name, p in r["proxies"].items():
        se, one = p.get("student_epochs_per_arch"), p.get("tau_single_seed")
        lines.append(f"| {name} | {p['tau']:.3f} [{p['tau_ci'][0]:.2f}, {p['tau_ci'][1]:.2f}] | {p['rho']:.3f} "
                     f"[{p['rho_ci'][0]:.2f}, {p['rho_ci'][1]:.2f}] | {p['seconds_per_arch']:.3g} | "
                     f"{100 * p['fraction_of_gt']:.3g} | {'' if se is None else f'{se:.3g}'} | "
                     f"{'' if one is None else f'{one:.3f}'} |")
    lines += _as_study_lines(r.get("short_kd") if r.get("short_kd", {}).get("steps", [0]) else None)
    if "similarity" in r:
        lines += ["", r["similarity"]["study_line"]]
    # the block-wise scores from the table alone (not the fit, which needs ground truth; not the stages-only
    # part, which leaves blocks out): the best one is judged
    judged = ("blockwise", "blockwise_tse", "blockwise_stitched", "blockwise_stitched_acc")
    bw_name = max((k for k in judged if k in r["proxies"]), key=lambda k: r["proxies"][k]["tau"])
    bw = r["proxies"][bw_name]
    lines += ["", f"Ground truth costs {gt['epochs']} student-epochs per architecture. The block table is paid once "
              f"for the whole space: {bw['table_seconds']:.0f} s of block training = {100 * bw['table_fraction_of_panel_gt']:.1f}% of "
              "this panel's ground-truth cost; after it, a score is a table lookup.", "",
              "`blockwise_fit` is DONNA's predictor: a ridge regression from the per-stage block losses and log-MACs "
              "to ground-truth accuracy, each member predicted by a fit on the other members (leave-one-out). "
              "It needs trained architectures to fit, so it is shown for comparison and not judged against the "
              "1% target. `blockwise` sums the blocks' validation losses after training (`proxy.blockwise.advanced.score: "
              "loss`), `blockwise_tse` their training speed, the mean training loss over the block's steps "
              "(`score: tse`), from the same block runs."
              + (" `blockwise_stitched` runs each student stitched from its trained blocks (stem block, each "
                 "teacher stage's chain, head block, each fed the previous block's output; see "
                 "`kdnas.blockwise.stitch`) on the blocks' validation images and ranks it by its KD loss to the "
                 "teacher, `blockwise_stitched_acc` by its accuracy; a study cannot ask for these."
                 if "blockwise_stitched" in r["proxies"] else ""), "", *_component_lines(r.get("blockwise_by_component")),
              "## Targets", ""]
    kd = {k: v for k, v in r["proxies"].items() if k.startswith("kd@") and v["fraction_of_gt"] <= 0.05}
    best_kd = max(kd.items(), key=lambda kv: kv[1]["tau"]) if kd else None
    base = max(r["proxies"][k]["tau"] for k in ("synflow", "naswot", "macs_proxy"))
    every_kd = {k: v for k, v in r["proxies"].items() if k.startswith("kd@")}
    if best_kd:
        ok = best_kd[1]["tau"] >= 0.7 and best_kd[1]["tau"] > base
        lines.append(f"- short KD tau >= 0.7 at <= 5% of GT cost, above synflow/NASWOT/MACs: best {best_kd[0]} "
                     f"tau {best_kd[1]['tau']:.3f} at {100 * best_kd[1]['fraction_of_gt']:.1f}%: **{'met' if ok else 'NOT met'}**")
    elif every_kd:
        lines.append("- short KD at <= 5% of GT cost: no budget that cheap was run: **NOT met**")
    if every_kd:
        name, top = max(every_kd.items(), key=lambda kv: kv[1]["tau"])
        lines.append(f"  (the best short KD at any budget run: {name}, tau {top['tau']:.3f} at "
                     f"{100 * top['fraction_of_gt']:.1f}% of GT cost)")
    ok = bw["tau"] >= 0.6 and bw["fraction_of_gt"] <= 0.01 and bw["tau"] > base
    lines.append(f"- block-wise tau >= 0.6 at <= 1% per architecture, above the baselines: best {bw_name} tau {bw['tau']:.3f} at "
                 f"{100 * bw['fraction_of_gt']:.3g}%: **{'met' if ok else 'NOT met'}** (best baseline tau {base:.3f})")
    lines += _similarity_target_lines(r["proxies"])
    m = r["machine"]
    lines += ["", "## Machine", "", f"- CPU: {m['cpu_model']}; nproc {m['nproc']}; torch threads {m['torch_threads']}; "
              f"load average at start {m['loadavg_at_start']}", f"- torch {m['torch']}, Python {m['python']}",
              f"- total wall time: {r['wall_s']:.0f} s{_jobs(r.get('jobs', 1))}" + _runs_now(r.get("runs_now")), "", f"Figure: `{stem}.png` (each proxy against the ground truth). "
              f"Every figure per architecture is in `{stem}.json`.", ""]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    """A comma-separated list of integers; `none` (or nothing) is the empty list."""
    return [] if text.strip().lower() in ("", "none") else [int(v) for v in text.split(",")]


def _names(allowed: tuple[str, ...]):  # noqa: ANN202
    def parse(text: str) -> list[str]:
        out = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in out if v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
        return out
    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion_mnist", choices=["digits", "fashion_mnist", "cifar10"])
    p.add_argument("--data-root", type=Path, default=None, help="data folder (default: the shared copy)")
    p.add_argument("--teacher", default="resnet20")
    p.add_argument("--teacher-epochs", type=int, default=8)
    p.add_argument("--teacher-train", type=int, default=None,
                   help="training images the teacher sees (default: the students' --train-subset); never val or test")
    p.add_argument("--space", type=Path, default=DEFAULT_SPACE)
    p.add_argument("--panel", type=int, default=16)
    p.add_argument("--panel-seed", type=int, default=None,
                   help="seed of the random sample the panel is drawn from (default --seed); another value gives a "
                        "held-out panel under the same teacher, block table and recipes")
    p.add_argument("--max-macs", type=float, default=None, help="panel only below this many MACs")
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--val-subset", type=int, default=1000)
    p.add_argument("--test-subset", type=int, default=2000)
    p.add_argument("--gt-test-subset", type=int, default=None,
                   help="test images the ground truth is scored on (default --test-subset); the training and "
                        "validation images, and so the teacher, block table and short runs and their caches, stay "
                        "the same, only the ground-truth runs are keyed (and trained) anew")
    p.add_argument("--gt-epochs", type=int, default=10)
    p.add_argument("--gt-batch", type=int, default=128)
    p.add_argument("--gt-lr", type=float, default=0.1)
    p.add_argument("--short-steps", type=_ints, default=[25, 50, 100],
                   help="short KD budgets in steps of batch 64, comma-separated; none: no short KD rows")
    p.add_argument("--short-lr", type=float, default=0.1)
    p.add_argument("--short-optimizer", default="sgd", choices=["sgd", "adamw"],
                   help="optimizer of the short runs (sgd: with momentum 0.9)")
    p.add_argument("--short-recal", type=int, default=2048,
                   help="training images over which a short run's BatchNorm statistics are recomputed before scoring")
    p.add_argument("--block-steps", type=int, default=80)
    p.add_argument("--block-batch", type=int, default=32)
    p.add_argument("--block-lr", type=float, default=3e-3)
    p.add_argument("--block-samples", type=int, default=1024)
    p.add_argument("--stitch", action=argparse.BooleanOptionalAction, default=True,
                   help="also score each student stitched from its trained blocks (keeps block weights; a table "
                        "taken from a report, which keeps no weights, is then trained again)")
    p.add_argument("--similarity", type=_names(("cka", "rsa", "diswot")), default=[],
                   help="similarity proxy rows: measures, comma-separated (cka, rsa, diswot; default none)")
    p.add_argument("--similarity-stages", type=_names(simrows.STAGES), default=["all"],
                   help="stage sets each measure compares, comma-separated (all, last, logits)")
    p.add_argument("--similarity-steps", type=_ints, default=[0],
                   help="KD steps of batch 64 before measuring (the short runs' optimizer and lr), comma-separated")
    p.add_argument("--probe-size", type=_ints, default=[256],
                   help="training images in the similarity probe batch, comma-separated (each a row of its own)")
    p.add_argument("--boot", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gt-seeds", type=lambda s: [int(v) for v in s.split(",")], default=None,
                   help="seeds of the ground-truth runs, comma-separated (default --seed): each architecture's "
                        "ground truth is the mean over them, and the report says how alike the seeds rank the panel "
                        "(the ceiling of any proxy against one run)")
    p.add_argument("--ground-truth-from", type=Path, action="append", default=None, metavar="REPORT.json",
                   help="take the ground-truth runs of an earlier fidelity report into the cache instead of training "
                        "them again (refused unless its teacher, data and recipe are this run's); repeatable")
    p.add_argument("--no-gt-training", action="store_true",
                   help="refuse to run unless every ground-truth run is cached or imported (--ground-truth-from)")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes sharing the block table and the runs (each with --threads threads); seconds "
                        "are measured with the cores shared, so compare figures taken at the same --jobs")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a --jobs helper: no report
    p.add_argument("--name", default=None, help="report file stem (default fidelity-DATA)")
    p.add_argument("--out-dir", type=Path, default=Path("reports/benchmarks"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: parse `argv`, run the benchmark, print the Markdown report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    if a.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {a.jobs}")
    if a.gt_test_subset is not None and a.gt_test_subset < 1:
        raise UserError(f"--gt-test-subset must be at least 1, got {a.gt_test_subset}")
    a.argv = argv
    if bench_fidelity(a, command_line("benchmarks.fidelity", argv)) is None:
        return 0  # a --jobs helper
    print((Path(a.out_dir) / f"{a.name or f'fidelity-{a.data}'}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
