"""Distillation: losses, cached teacher outputs, the proxy run, full training."""

from kdnas.distill.evaluate import accuracy
from kdnas.distill.losses import dkd_loss, hint_loss, kd_loss, kd_objective, rkd_angle_loss, rkd_distance_loss
from kdnas.distill.proxy import HintPair, ProxyResult, proxy_score, run_proxy
from kdnas.distill.spec import DistillSpec, ProxySpec, RetrainRecipe, TrainRecipe
from kdnas.distill.teacher_cache import TeacherOutputs, teacher_outputs

__all__ = [
    "DistillSpec", "HintPair", "ProxyResult", "ProxySpec", "RetrainRecipe", "TeacherOutputs", "TrainRecipe",
    "accuracy", "dkd_loss", "hint_loss", "kd_loss", "kd_objective", "rkd_angle_loss", "rkd_distance_loss",
    "proxy_score", "run_proxy", "teacher_outputs",
]
