"""Distillation: losses, cached teacher outputs, the proxy run, full training."""

from kdnas.distill.evaluate import accuracy
from kdnas.distill.losses import dkd_loss, hint_loss, kd_loss, kd_objective, rkd_angle_loss, rkd_distance_loss
from kdnas.distill.proxy import HintPair, ProxyResult, run_proxy
from kdnas.distill.spec import BlockwiseAdvanced, DistillSpec, ProxyAdvanced, ProxySpec, RetrainRecipe, TrainRecipe
from kdnas.distill.teacher_cache import TeacherOutputs, teacher_outputs

__all__ = [
    "BlockwiseAdvanced", "DistillSpec", "HintPair", "ProxyAdvanced", "ProxyResult", "ProxySpec", "RetrainRecipe",
    "TeacherOutputs", "TrainRecipe",
    "accuracy", "dkd_loss", "hint_loss", "kd_loss", "kd_objective", "rkd_angle_loss", "rkd_distance_loss",
    "run_proxy", "teacher_outputs",
]
