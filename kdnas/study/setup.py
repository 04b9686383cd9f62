"""Everything a search needs before its first trial, prepared (and validated) in one place.

All user errors surface here, before the study is created or touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kdnas.cost import check_latency_device, count_macs_params, measure_latency
from kdnas.cost.latency_table import LatencyTable, build_latency_table
from kdnas.data import DataBundle, load_data
from kdnas.distill import teacher_outputs
from kdnas.device import describe_device, resolve_placement
from kdnas.distill.evaluate import accuracy
from kdnas.distill.probe import Probe, make_probe, probe_indices
from kdnas.execute import ProxyContext
from kdnas.errors import ConfigError, UserError
from kdnas.log import note
from kdnas.space import SearchSpace, Space, align_stages, bind_space, open_space
from kdnas.study.config import StudyConfig
from kdnas.study.costs import CostModel
from kdnas.study.teacher import LoadedTeacher, ensure_teacher
from kdnas.teachers import feature_modules, stage_shapes


@dataclass(frozen=True)
class SearchSetup:
    """The loaded pieces of a search: config, data, space, teacher, cost model, proxy context."""

    cfg: StudyConfig
    data: DataBundle
    space: Space
    teacher: LoadedTeacher
    teacher_info: dict
    costs: CostModel
    ctx: ProxyContext
    latency_table: LatencyTable | None = None  # the space's, where the latency mode or the block-wise search reads it


def _log(msg: str) -> None:
    note(msg)


def study_device(cfg: StudyConfig) -> torch.device:
    """The study's `device` resolved on this machine and checked against its executor's request, and
    its latency device checked to exist (a `UserError` before anything runs or is written)."""
    device = resolve_placement(cfg.device, cfg.executor.kind, cfg.executor.gpus_per_trial)
    if cfg.needs_latency:  # measured from the first trial on: absent, it must stop the search now
        try:
            check_latency_device(cfg.latency)
        except UserError as err:
            raise UserError(f"latency.device: {err}") from None
    return device


def _probe(cfg: StudyConfig, teacher: torch.nn.Module, data: DataBundle, names: tuple[str, ...],
           alignment: tuple[tuple[int, int], ...], device: str) -> Probe | None:
    """The similarity proxy's (or screen's) probe batch, drawn from the study's seed (None for other
    methods without a screen)."""
    if cfg.proxy.method != "similarity" and cfg.search.screen != "similarity":
        return None
    indices = probe_indices(len(data.train), cfg.proxy.similarity.probe_size, cfg.seed)
    return make_probe(teacher, data.train.x, indices, names, tuple(t for _, t in alignment), device)


def latency_table(cfg: StudyConfig, space: Space, input_shape: tuple[int, int, int], num_classes: int, *,
                  verbose: bool = True) -> LatencyTable | None:
    """The space's latency table (built once, then read from the cache) where the study reads it: a
    table `latency.mode`, or a block-wise search with a latency limit or objective (it scores
    students by the million, too many to time); None otherwise. The table modes need a block space."""
    if not cfg.needs_latency or (cfg.latency.mode == "measured" and cfg.proxy.method != "blockwise"):
        return None
    assert isinstance(space, SearchSpace)  # `prepare` refused the table modes for other spaces
    return build_latency_table(space, input_shape, num_classes, cfg.latency, verbose=verbose)


def prepare(cfg: StudyConfig, *, verbose: bool = True) -> SearchSetup:
    """Resolve the device; load data, space and teacher; check stage alignment; compute (or load)
    teacher outputs once. Teacher training, its outputs and the trials all run on the one device."""
    device = str(study_device(cfg))
    space = open_space(cfg.space)
    if cfg.reads_teacher_stages and space.kind != "blocks":
        what = f"proxy.method '{cfg.proxy.method}'" if cfg.proxy.method in ("hint", "blockwise", "similarity") \
            else "search.screen 'similarity'"
        raise ConfigError(f"{cfg.space}: {what} needs stages aligned with the teacher's, "
                          f"which a '{space.kind}' space does not declare; use 'kd' or 'ce' without a screen")
    if cfg.needs_latency and cfg.latency.mode != "measured" and space.kind != "blocks":
        raise ConfigError(f"{cfg.space}: latency.mode '{cfg.latency.mode}' needs a latency table, which only a "
                          f"block space has (its students are sums of parts); use latency.mode measured")
    data = load_data(cfg.data)
    if verbose:
        _log(f"data: {data.describe()}, device: {describe_device(device)}")
    teacher = ensure_teacher(cfg, data, device=device)
    teacher.model.to(device)  # measured, evaluated and run for its outputs where the students train
    c, h, w = data.input_shape
    space = bind_space(space, c, data.num_classes)
    # a kd or ce study needs only the teacher's logits: no `feature_modules` to name, no stages to align
    stages_read = cfg.reads_teacher_stages
    names = tuple(cfg.teacher.feature_modules or feature_modules(teacher.model)) if stages_read else ()
    t_shapes = stage_shapes(teacher.model, data.input_shape) if stages_read else []
    student_res = space.resolutions((h, w))
    # Only a space that declares its stages lines up with the teacher (needed by hint losses).
    alignment = (tuple(align_stages(student_res, [(s[1], s[2]) for s in t_shapes]))
                 if student_res is not None and t_shapes else ())
    t_macs, t_params = count_macs_params(teacher.model, data.input_shape)
    t_val = accuracy(teacher.model, data.val.x, data.val.y)
    info = {
        "name": cfg.teacher.name, "checkpoint": str(teacher.checkpoint), "sha256": teacher.sha256,
        "val_acc": t_val, "device": device, "macs": t_macs, "params": t_params, "stage_shapes": [list(s) for s in t_shapes],
    }
    if cfg.needs_latency:
        info["latency_ms"] = measure_latency(teacher.model, data.input_shape, cfg.latency).median_ms
    if verbose:
        _log(f"teacher: {cfg.teacher.name} val_acc {t_val:.4f}, {t_macs / 1e6:.2f} M MACs, {t_params / 1e6:.3f} M params")
    stages = tuple(t for _, t in alignment) if cfg.proxy.method == "hint" else ()
    outputs = None
    # the similarity proxy at initialisation needs the teacher on its probe only, not on the split
    if cfg.proxy.method != "ce" and not (cfg.proxy.method == "similarity" and cfg.proxy.similarity.steps == 0):
        outputs = teacher_outputs(
            teacher.model, data.train.x, teacher_id=teacher.sha256, data_fingerprint=data.fingerprint,
            split="train", feature_names=names, stages=stages, device=device, amp=cfg.executor.advanced.amp,
        )
    ctx = ProxyContext(
        x_train=data.train.x, y_train=data.train.y, x_val=data.val.x, y_val=data.val.y, teacher=outputs,
        # blockwise confirms its picks with the end-to-end kd run the other proxy fields describe
        spec=cfg.proxy.model_copy(update={"method": "kd"}) if cfg.proxy.method == "blockwise" else cfg.proxy,
        in_channels=c, num_classes=data.num_classes, alignment=alignment,
        teacher_channels=tuple(s[0] for s in t_shapes), device=device, student=space.builder(),
        probe=_probe(cfg, teacher.model, data, names, alignment, device),
        accel=cfg.executor.advanced.acceleration(),
    )
    table = latency_table(cfg, space, data.input_shape, data.num_classes, verbose=verbose)
    costs = CostModel(data.input_shape, data.num_classes, cfg.latency if cfg.needs_latency else None,
                      build=space.builder(), table=table if cfg.latency.mode != "measured" else None,
                      constraints=cfg.constraints)
    return SearchSetup(cfg, data, space, teacher, info, costs, ctx, table)
