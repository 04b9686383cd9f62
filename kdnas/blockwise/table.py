"""Build the block table: each block of a `BlockPlan` trained to map the teacher's stage input to
its stage output, its validation loss cached on disk.

A block's loss depends only on the teacher (checkpoint hash), the data (fingerprint), the block
(group, chain text, channel counts), the block training settings and the seed, so that is its
cache key (`block_key`): one small JSON file per block under ``runs/cache/blockwise/`` (and beside
it the block's trained weights, ``.pt``, for stitching students from their blocks), written
atomically, shared by every study of the same seed and every worker that points at the same runs
folder (a concurrent builder at worst trains a block twice and writes the same file). With every file present a build trains nothing.

Losses are made comparable across stages: a feature block's loss is its MSE divided by the
variance of the teacher's target (the fraction of the target's variance it fails to explain), the
head block's is the KD loss to the teacher's logits.

Every feature block ends in a trained 1x1 adapter to the teacher's channels, also where its width
already equals them. Without one (cache version 1) a block whose width happened to match the
teacher's had to hit the target with its own last BatchNorm, and after a short training it lost
to *narrower* blocks that had an adapter (CIFAR-10, ResNet-20 stage 2: width 32 at 1.13 against
width 24 at 0.93; stage 3: width 64 at 0.93 against 48 at 0.67). That penalised one width of
every stage for a reason a student trained end to end never meets, since it has no target there.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kdnas.blockwise.plan import HEAD, STEM, Block, BlockPlan
from kdnas.claims import obtain
from kdnas.device import autocast
from kdnas.distill.loop import NonFiniteLoss, StepLoop, random_batches
from kdnas.distill.losses import hint_adapter, kd_loss
from kdnas.distill.optim import make_optimizer, warmup_cosine
from kdnas.distill.spec import BlockwiseSpec
from kdnas.errors import ConfigError
from kdnas.log import note
from kdnas.paths import cache_dir
from kdnas.space.blocks import conv_bn
from kdnas.space.builder import build_stage
from kdnas.teachers import feature_modules
from kdnas.teachers.checkpoint import load_checkpoint, save_checkpoint
from kdnas.teachers.features import resolve_modules

KD_TEMPERATURE = 4.0
CACHE_VERSION = "blockwise-v2"  # v2: an adapter on every feature block


@dataclass(frozen=True)
class StageIO:
    """The teacher's tensors the blocks learn from, on one subset of images (float16 features).

    `inputs[0]` is the input of teacher stage 0 (the stem's output); `outputs[g]` the output of
    stage g, which is also stage g+1's input; `logits` the teacher's logits; `x` the images.
    """

    x: torch.Tensor
    stem_out: torch.Tensor
    outputs: tuple[torch.Tensor, ...]
    logits: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def block_io(self, group: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) of a block of `group`."""
        if group == STEM:
            return self.x, self.stem_out
        if group == HEAD:
            return self.outputs[-1], self.logits
        g = int(group[1:])
        return (self.stem_out if g == 0 else self.outputs[g - 1]), self.outputs[g]


@torch.inference_mode()
def teacher_stage_io(teacher: nn.Module, x: torch.Tensor, names: tuple[str, ...] | None = None,
                     batch_size: int = 256, device: str = "cpu") -> StageIO:
    """Run the frozen teacher over `x`, keeping stage 0's input (a pre-hook, so any teacher's stem
    works), every stage's output and the logits."""
    names = tuple(names or feature_modules(teacher))
    modules = resolve_modules(teacher, names)
    teacher.eval().to(device)
    got: dict[str, torch.Tensor] = {}
    handles = [modules[0].register_forward_pre_hook(lambda _m, inp: got.__setitem__("in", inp[0]))]
    for i, m in enumerate(modules):
        handles.append(m.register_forward_hook(lambda _m, _i, out, i=i: got.__setitem__(f"o{i}", out)))
    stem, outs, logits = [], [[] for _ in names], []
    try:
        for s in range(0, len(x), batch_size):
            out = teacher(x[s : s + batch_size].to(device))
            # clone: a later in-place op inside the teacher must not change what we keep
            stem.append(got["in"].detach().clone().half().cpu())
            for i in range(len(names)):
                outs[i].append(got[f"o{i}"].detach().half().cpu())
            logits.append(out.float().cpu())
    finally:
        for h in handles:
            h.remove()
    return StageIO(x.cpu(), torch.cat(stem), tuple(torch.cat(o) for o in outs), torch.cat(logits))


class ChainBlock(nn.Module):
    """A group's chain of student stages, fed the teacher's input channels, then a 1x1 adapter to
    the teacher's output channels (FitNets' regressor), whatever the chain's width (module doc)."""

    def __init__(self, chain: tuple, c_in: int, c_out: int) -> None:
        super().__init__()
        stages, width = [], c_in
        for st in chain:
            stages.append(build_stage(st, width))
            if st.op != "skip":
                width = st.width
        self.body = nn.Sequential(*stages)
        self.adapter = hint_adapter(width, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.body(x))


class HeadBlock(nn.Module):
    """The student's tail on the teacher's last stage output: optional 1x1 head conv, pool, linear."""

    def __init__(self, c_in: int, head: int, num_classes: int) -> None:
        super().__init__()
        self.head = conv_bn(c_in, head, 1) if head else nn.Identity()
        self.fc = nn.Linear(head or c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.head(x), 1), 1))


def make_block(block: Block, c_in: int, c_out: int, num_classes: int) -> nn.Module:
    """The trainable module of `block` for `c_in` input and `c_out` target channels."""
    if block.group == STEM:
        return nn.Sequential(conv_bn(c_in, block.width, 3), hint_adapter(block.width, c_out))
    if block.group == HEAD:
        return HeadBlock(c_in, block.width, num_classes)
    return ChainBlock(block.chain, c_in, c_out)


def _loss(block: Block, out: torch.Tensor, target: torch.Tensor, var: float) -> torch.Tensor:
    if block.group == HEAD:
        return kd_loss(out, target, KD_TEMPERATURE)
    return F.mse_loss(out, target.float()) / var


def train_block(block: Block, train: StageIO, val: StageIO, spec: BlockwiseSpec, *, seed: int,
                num_classes: int, device: str = "cpu", keep: Path | None = None, amp: bool = True) -> dict:
    """Train one block for `spec.steps` and measure its loss on `val`; returns the record cached.
    With `keep`, the trained weights are saved there too (the record then names the file), so a
    student can later be stitched from its blocks (`kdnas.blockwise.stitch`). `amp`: bfloat16
    autocast on CUDA (`kdnas.device.autocast`)."""
    x_tr, y_tr = train.block_io(block.group)
    x_va, y_va = val.block_io(block.group)
    c_in, c_out = int(x_tr.shape[1]), int(y_tr.shape[1]) if y_tr.dim() == 4 else num_classes
    if block.group == STEM and tuple(y_tr.shape[2:]) != tuple(x_tr.shape[2:]):
        raise ConfigError("the teacher's stem changes resolution; set proxy.blockwise.advanced.include_stem_head: false")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = make_block(block, c_in, c_out, num_classes).to(device).train()
    opt = make_optimizer(model, "adamw", spec.lr, 0.9, 0.0)
    total = spec.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, min(total // 10, 20)))
    # the variance of the teacher's target, so feature losses read as the unexplained fraction
    var_tr = float(y_tr.float().var()) if block.group != HEAD else 1.0
    var_va = float(y_va.float().var()) if block.group != HEAD else 1.0
    x_dev, y_dev = x_tr.to(device), y_tr.to(device)  # on the device for the whole block

    def batch_loss(idx: torch.Tensor, _step: int) -> dict[str, torch.Tensor]:
        idx = idx.to(device)
        with autocast(device, amp):
            return {"loss": _loss(block, model(x_dev[idx].float()), y_dev[idx], var_tr)}

    t0 = time.perf_counter()
    try:
        step_losses = StepLoop(batch_loss, random_batches(len(x_tr), spec.batch_size, gen), opt, sched).run(total).losses
    except NonFiniteLoss:
        step_losses = [math.inf]  # a block that diverges scores as infinitely bad, the table goes on
    train_loss = step_losses[-1]
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.inference_mode():
        tot, count = 0.0, 0
        for s in range(0, len(x_va), 256):
            out = model(x_va[s : s + 256].float().to(device))
            tot += float(_loss(block, out, y_va[s : s + 256].to(device), var_va)) * len(out)
            count += len(out)
    finite = math.isfinite(train_loss)
    loss_val = tot / max(1, count) if finite else math.inf
    # training speed: the mean training loss over every step (as `proxy.advanced.score: tse` for whole students)
    tse = float(torch.tensor(step_losses).mean()) if finite else math.inf
    rec = {"group": block.group, "block": block.text(), "loss": loss_val, "train_loss": train_loss, "tse": tse,
           "train_s": train_s, "steps": total, "c_in": c_in, "c_out": c_out}
    if keep is not None:  # a kdnas checkpoint: written atomically, its weights hashed
        save_checkpoint(keep, model, {"group": block.group, "block": block.text()})
        rec["weights"] = keep.name
    return rec


def load_block(block: Block, rec: dict, folder: Path, num_classes: int) -> nn.Module:
    """`block` trained: rebuilt from its cached record and loaded from the checkpoint the record
    names (`weights`, in `folder`), in eval mode."""
    model = make_block(block, int(rec["c_in"]), int(rec["c_out"]), num_classes)
    model.load_state_dict(load_checkpoint(folder / rec["weights"])[0])
    return model.eval()


def block_key(teacher_id: str, data_fingerprint: str, block: Block, c_in: int, c_out: int, spec: BlockwiseSpec,
              seed: int) -> str:
    """Cache key of a block's result: what changes it, and nothing else: teacher, data, block, its
    channels, the settings that train and measure it (`BlockwiseSpec.fingerprint`) and the seed
    (the block's initial weights, its batches and the images drawn for it). Not the device or
    threads: they change rounding, not the experiment (see `ProxySpec.run_json`)."""
    return _key(teacher_id, data_fingerprint, block.group, block.text(), c_in, c_out, spec, seed)


def _key(teacher_id: str, data_fingerprint: str, group: str, text: str, c_in: int, c_out: int,
         spec: BlockwiseSpec, seed: int) -> str:
    text = (f"{CACHE_VERSION}|{teacher_id}|{data_fingerprint}|{group}|{text}|{c_in}|{c_out}|{spec.fingerprint()}"
            f"|seed={seed}")
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def seed_block_cache(records: list[dict], *, teacher_id: str, data_fingerprint: str, spec: BlockwiseSpec,
                     seed: int, cache: Path | None = None) -> int:
    """Write the block results `records` (a `BlockTable.records` list, kept in a report) into the
    cache under their keys, where no result is cached yet; they must come from a table built against
    this teacher and data with these settings and `seed`. Returns how many were written."""
    folder = cache or cache_dir() / "blockwise"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for rec in records:
        path = folder / f"{_key(teacher_id, data_fingerprint, rec['group'], rec['block'], rec['c_in'], rec['c_out'], spec, seed)}.json"
        # written the way a trained block is (claimed, atomic), so a concurrent builder never reads half a file
        written += obtain(path, lambda rec=rec: {k: v for k, v in rec.items() if k != "cached"})[1]
    return written


@dataclass
class BlockTable:
    """Every block's validation loss and training speed, with what building the table cost."""

    plan: BlockPlan
    losses: dict[tuple[str, str], float]
    tse: dict[tuple[str, str], float] = field(default_factory=dict)  # NaN for results cached before it was kept
    records: list[dict] = field(default_factory=list)
    trained: int = 0  # by this build
    cached: int = 0  # found in the cache when the build began
    by_others: int = 0  # trained during this build by another builder sharing the cache (claims)
    train_s: float = 0.0
    features_s: float = 0.0
    wall_s: float = 0.0
    folder: Path | None = None  # the cache folder the records' weight files are in
    num_classes: int = 0
    _modules: dict[tuple[str, str], nn.Module] = field(default_factory=dict, repr=False)

    def module(self, block: Block) -> nn.Module:
        """`block` as trained, loaded once from its weights file (eval mode, no gradients); a
        `KeyError` names a block whose record keeps no weights (build with ``need=("weights",)``)."""
        key = (block.group, block.text())
        if key not in self._modules:
            rec = next((r for r in self.records if (r["group"], r["block"]) == key), None)
            if rec is None or "weights" not in rec or self.folder is None:
                raise KeyError(f"block {key[0]} {key[1]}: no trained weights kept in the table")
            self._modules[key] = load_block(block, rec, self.folder, self.num_classes).requires_grad_(False)
        return self._modules[key]

    def values(self, kind: str = "loss") -> dict[tuple[str, str], float]:
        """Every block's validation loss (`kind` "loss") or training speed ("tse"), by (group, block text)."""
        if kind not in ("loss", "tse"):
            raise ValueError(f"unknown block figure {kind!r}: loss or tse")
        return self.losses if kind == "loss" else self.tse

    @property
    def block_train_s(self) -> float:
        """Training seconds of every block in the table, cached ones included (as measured when each
        was trained): what the table costs to build from nothing, less extracting teacher features."""
        return float(sum(rec.get("train_s", 0.0) for rec in self.records))

    @property
    def size(self) -> int:
        """Number of blocks in the table."""
        return len(self.losses)


def subset_index(total: int, n: int, seed: int) -> torch.Tensor:
    """Which of `total` images the table draws when it uses `n` of them (all, in order, when n >= total)."""
    if n >= total:
        return torch.arange(total)
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]


def _subset(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    return x[subset_index(len(x), n, seed)]


def _record(table: BlockTable, block: Block, rec: dict, made: bool, *, now: bool = False) -> None:
    """Add `block`'s result to `table`; `made`: trained by this build, not read from the cache;
    `now`: missing when the build began, so a record this build did not make was made meanwhile by
    another builder."""
    if made:
        table.trained += 1
        table.train_s += rec["train_s"]
    elif now:
        table.by_others += 1
    else:
        table.cached += 1
    table.losses[(block.group, block.text())] = float(rec["loss"])
    table.tse[(block.group, block.text())] = float(rec.get("tse", math.nan))
    table.records.append({**rec, "cached": not made})


def build_block_table(
    plan: BlockPlan,
    teacher: nn.Module,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    *,
    teacher_id: str,
    data_fingerprint: str,
    num_classes: int,
    spec: BlockwiseSpec,
    seed: int = 0,
    feature_names: tuple[str, ...] | None = None,
    cache: Path | None = None,
    device: str = "cpu",
    verbose: bool = False,
    need: tuple[str, ...] = (),
    amp: bool = True,
) -> BlockTable:
    """Train (or load from the cache) every block of `plan`; the teacher runs once per build, and
    not at all when every block is cached. A cached result lacking a field of `need` (or the
    `spec.advanced.score` field: results cached before `tse` was kept) is trained again; ``"weights"`` in
    `need` also trains again a block whose weights file is missing (results cached before weights
    were kept, or taken from a report)."""
    fields = {*need, spec.advanced.score}
    folder = cache or cache_dir() / "blockwise"

    def usable(rec: dict) -> bool:
        # a record naming weights is usable for stitching only while its file is there
        return all(f in rec for f in fields) and ("weights" not in fields or (folder / rec["weights"]).is_file())

    t_start = time.perf_counter()
    table = BlockTable(plan, {}, folder=folder, num_classes=num_classes)
    prev = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        # channel counts come from one dry forward, so cache lookups need no teacher pass
        probe = teacher_stage_io(teacher, x_train[:2], feature_names, device=device)
        todo: list[tuple[Block, Path]] = []
        for block in plan.blocks:
            x_in, y = probe.block_io(block.group)
            c_in, c_out = int(x_in.shape[1]), int(y.shape[1]) if y.dim() == 4 else num_classes
            path = folder / f"{block_key(teacher_id, data_fingerprint, block, c_in, c_out, spec, seed)}.json"
            rec = json.loads(path.read_text()) if path.is_file() else None
            if rec is not None and usable(rec):
                _record(table, block, rec, made=False)
            else:
                todo.append((block, path))
        if todo:
            t0 = time.perf_counter()
            train_io = teacher_stage_io(teacher, _subset(x_train, spec.max_samples, seed), feature_names, device=device)
            val_io = teacher_stage_io(teacher, _subset(x_val, spec.advanced.val_samples, seed), feature_names, device=device)
            table.features_s = time.perf_counter() - t0

            def trainer(block: Block, path: Path):  # noqa: ANN202
                # the weights are kept beside the record (for `kdnas.blockwise.stitch`)
                return lambda: train_block(block, train_io, val_io, spec, seed=seed, num_classes=num_classes,
                                           device=device, keep=path.with_suffix(".pt"), amp=amp)

            # a block another builder is training (a claim, see kdnas.claims) is skipped at first and
            # waited for at the end
            deferred: list[tuple[Block, Path]] = []
            for i, (block, path) in enumerate(todo):
                got = obtain(path, trainer(block, path), wait=False, usable=usable)
                if got is None:
                    deferred.append((block, path))
                    continue
                _record(table, block, *got, now=True)
                if verbose and got[1]:
                    note(f"  block {i + 1}/{len(todo)} {block.group} {block.text()}: loss {got[0]['loss']:.4f} "
                         f"({got[0]['train_s']:.1f}s)")
            for block, path in deferred:
                _record(table, block, *obtain(path, trainer(block, path), usable=usable), now=True)
    finally:
        torch.set_num_threads(prev)
    table.wall_s = time.perf_counter() - t_start
    return table
