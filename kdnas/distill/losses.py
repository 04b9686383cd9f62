"""Distillation losses as plain functions of tensors (mdistiller style), and the 1x1 adapter that
feature losses compare through."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al. (2015): KL(teacher_T || student_T) scaled by T^2 so its gradients keep their size."""
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits.float() / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)


def hint_adapter(student_channels: int, teacher_channels: int) -> nn.Conv2d:
    """FitNets' regressor: a trained 1x1 convolution from student to teacher channels, used even where
    the counts are equal (a feature matched without one must fit the target with its own last layer)."""
    return nn.Conv2d(student_channels, teacher_channels, 1, bias=False)


def hint_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """FitNets (Romero et al. 2015): mean squared error between (adapted) student and teacher features."""
    return F.mse_loss(student_feat, teacher_feat.float())


def kd_objective(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    temperature: float,
    alpha: float,
) -> dict[str, torch.Tensor]:
    """The standard mix: (1 - alpha) * CE(labels) + alpha * KD; labels only when no teacher logits.

    Returns named terms (already weighted); the trainer sums them.
    """
    if teacher_logits is None or alpha == 0.0:
        return {"ce": F.cross_entropy(student_logits, labels)}
    terms = {"kd": alpha * kd_loss(student_logits, teacher_logits, temperature)}
    if alpha < 1.0:
        terms["ce"] = (1.0 - alpha) * F.cross_entropy(student_logits, labels)
    return terms


def _pairwise_distances(e: torch.Tensor) -> torch.Tensor:
    # Euclidean distances between the rows of e (B, D); the diagonal is exactly 0.
    sq = e.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * e @ e.t()).clamp_min(1e-12)
    d = d2.sqrt()
    return d * (1.0 - torch.eye(len(e), device=e.device, dtype=e.dtype))


def rkd_distance_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """RKD distance term (Park et al. 2019): Huber loss between mean-normalised pairwise distances.

    Embeddings are (B, D) and may differ in D: only the relations between samples are compared.
    """
    s, t = student_emb.flatten(1).float(), teacher_emb.flatten(1).float()
    with torch.no_grad():
        td = _pairwise_distances(t)
        td = td / td[td > 0].mean().clamp_min(1e-12)
    sd = _pairwise_distances(s)
    sd = sd / sd[sd > 0].mean().clamp_min(1e-12)
    return F.smooth_l1_loss(sd, td)


def _angles(e: torch.Tensor) -> torch.Tensor:
    # cos of the angle at j between i and k, for every triple: (B*B*B,)
    diff = F.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)  # diff[j, i] = e_i - e_j, unit
    return torch.bmm(diff, diff.transpose(1, 2)).reshape(-1)


def rkd_angle_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """RKD angle term (Park et al. 2019): Huber loss between the cosines of the angles of all triples."""
    s, t = student_emb.flatten(1).float(), teacher_emb.flatten(1).float()
    with torch.no_grad():
        ta = _angles(t)
    return F.smooth_l1_loss(_angles(s), ta)


def dkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> torch.Tensor:
    """Decoupled KD (Zhao et al. 2022): alpha * TCKD + beta * NCKD, each scaled by T^2.

    TCKD: KL between the binary (target, all others) distributions of teacher and student.
    NCKD: KL between the distributions over the non-target classes only (the target masked out).
    """
    t = temperature
    s_logits, t_logits = student_logits.float(), teacher_logits.float()
    gt = F.one_hot(labels, s_logits.shape[1]).bool()
    p_s, p_t = F.softmax(s_logits / t, dim=1), F.softmax(t_logits / t, dim=1)
    bin_s = torch.stack([(p_s * gt).sum(1), (p_s * ~gt).sum(1)], dim=1).clamp_min(1e-12)
    bin_t = torch.stack([(p_t * gt).sum(1), (p_t * ~gt).sum(1)], dim=1).clamp_min(1e-12)
    tckd = F.kl_div(bin_s.log(), bin_t, reduction="batchmean") * (t * t)
    big = 1000.0  # pushes the target class out of the softmax over the non-target classes
    log_nt_s = F.log_softmax(s_logits / t - big * gt, dim=1)
    log_nt_t = F.log_softmax(t_logits / t - big * gt, dim=1)
    nckd = F.kl_div(log_nt_s, log_nt_t, reduction="batchmean", log_target=True) * (t * t)
    return alpha * tckd + beta * nckd
