"""The loss of one training step: the student, the frozen teacher and the distillation terms.

mdistiller's shape: the distiller holds the student, the teacher (kept in eval mode, never
trained, never a submodule so it is neither optimised nor saved) and the 1x1 hint adapters, and
returns the logits and named, already weighted loss terms; the trainer sums them. Features come
from forward hooks (`FeatureTaps`) on stage-boundary modules, so no model is rewritten.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdnas.distill.losses import dkd_loss, hint_loss, kd_loss, rkd_angle_loss, rkd_distance_loss
from kdnas.distill.proxy import HintPair, hint_adapters
from kdnas.distill.spec import DistillSpec
from kdnas.space.align import align_stages
from kdnas.teachers import FeatureTaps, feature_modules, stage_shapes


def _pooled(f: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(f.float(), 1).flatten(1)


class Distiller(nn.Module):
    """Student + frozen teacher + adapters -> (logits, {term: weighted loss}).

    Hint pairs are the student's stage features aligned to the teacher's by resolution
    (`align_stages`), each through a trained 1x1 conv adapter (FitNets' regressor). RKD compares the
    pooled last-stage features. Without a teacher only the label term is computed.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module | None,
        spec: DistillSpec,
        input_shape: tuple[int, int, int],
        *,
        label_smoothing: float = 0.0,
        teacher_features: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self.student = student
        self._teacher = [teacher]  # a list hides it from nn.Module: not trained, not in state_dict
        self.spec = spec
        self.label_smoothing = label_smoothing
        self.pairs: list[HintPair] = []
        self.adapters = nn.ModuleList()
        self._s_names: tuple[str, ...] = ()
        self._t_names: tuple[str, ...] = ()
        self._rkd = teacher is not None and (spec.rkd_distance > 0 or spec.rkd_angle > 0)
        if teacher is None or not (spec.hint_weight > 0 or self._rkd):
            return
        t_all = tuple(teacher_features or feature_modules(teacher))
        s_all = feature_modules(student)
        if spec.hint_weight > 0:
            s_shapes, t_shapes = stage_shapes(student, input_shape), stage_shapes(teacher, input_shape)
            aligned = align_stages([(h, w) for _, h, w in s_shapes], [(h, w) for _, h, w in t_shapes])
            self.pairs = [HintPair(s_all[s], t, s_shapes[s][0], t_shapes[t][0]) for s, t in aligned]
            device = next(student.parameters()).device
            self.adapters = hint_adapters(self.pairs).to(device)
        s_names = [p.student_module for p in self.pairs] + ([s_all[-1]] if self._rkd else [])
        t_names = [t_all[p.teacher_stage] for p in self.pairs] + ([t_all[-1]] if self._rkd else [])
        self._s_names = tuple(dict.fromkeys(s_names))
        self._t_names = tuple(dict.fromkeys(t_names))
        self._s_last, self._t_last = s_all[-1], t_all[-1]
        self._t_stage_names = {p.teacher_stage: t_all[p.teacher_stage] for p in self.pairs}

    @property
    def teacher(self) -> nn.Module | None:
        """The frozen teacher, or None for labels-only training."""
        return self._teacher[0]

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # BN statistics of the teacher never move
        return self

    @property
    def logits_only(self) -> bool:
        """Whether the teacher contributes only through its logits (KD, DKD): then, on inputs that
        are not augmented, its outputs can be computed once and passed to `forward`."""
        return self.teacher is not None and not self._t_names

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor, batch_size: int = 1024,
                       device: torch.device | str | None = None) -> torch.Tensor:
        """The frozen teacher's logits on every row of `x` (float32, on `device`, default `x`'s).

        `x` moves to `device` one chunk at a time: a full training split (an image folder) may not
        fit on a GPU beside the models, while its logits (rows x classes) always do."""
        assert self.teacher is not None
        device = x.device if device is None else device
        return torch.cat([self.teacher(x[i : i + batch_size].to(device)).float() for i in range(0, len(x), batch_size)])

    def forward(self, x: torch.Tensor, y: torch.Tensor, epoch: float = 0.0,
                t_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits of the student on `x` and the weighted loss terms; `epoch` (fractional) ramps DKD in.

        `t_logits`: the teacher's logits on `x`, precomputed (only when `logits_only`); the teacher
        is then not run.
        """
        spec = self.spec
        with FeatureTaps(self.student, self._s_names) as s_taps:
            out = self.student(x)
        teacher = self.teacher
        if teacher is None:
            return out, {"ce": F.cross_entropy(out.float(), y, label_smoothing=self.label_smoothing)}
        terms: dict[str, torch.Tensor] = {}
        if spec.label_weight > 0:
            terms["ce"] = spec.label_weight * F.cross_entropy(out.float(), y, label_smoothing=self.label_smoothing)
        if t_logits is not None and self.logits_only:
            t_out, t_feat = t_logits.float(), {}
        else:
            with torch.no_grad(), FeatureTaps(teacher, self._t_names) as t_taps:
                t_out = teacher(x).float()
            t_feat = dict(zip(self._t_names, t_taps.features)) if self._t_names else {}
        s_feat = dict(zip(self._s_names, s_taps.features)) if self._s_names else {}
        if spec.alpha > 0:
            terms["kd"] = spec.alpha * kd_loss(out.float(), t_out, spec.temperature)
        if spec.dkd_weight > 0:
            ramp = min(1.0, epoch / spec.dkd_warmup_epochs) if spec.dkd_warmup_epochs > 0 else 1.0
            terms["dkd"] = spec.dkd_weight * ramp * dkd_loss(out, t_out, y, spec.dkd_alpha, spec.dkd_beta, spec.temperature)
        for adapter, pair in zip(self.adapters, self.pairs):
            s = adapter(s_feat[pair.student_module].float())
            t = t_feat[self._t_stage_names[pair.teacher_stage]]
            terms[f"hint{pair.teacher_stage}"] = spec.hint_weight * hint_loss(s, t)
        if self._rkd:
            s_emb, t_emb = _pooled(s_feat[self._s_last]), _pooled(t_feat[self._t_last])
            if spec.rkd_distance > 0:
                terms["rkd_d"] = spec.rkd_distance * rkd_distance_loss(s_emb, t_emb)
            if spec.rkd_angle > 0:
                terms["rkd_a"] = spec.rkd_angle * rkd_angle_loss(s_emb, t_emb)
        return out, terms
