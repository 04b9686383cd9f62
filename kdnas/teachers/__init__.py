"""Teachers: the CIFAR zoo, bring-your-own factories, checkpoints, freezing and feature taps.

Zoo (RepDistiller's CIFAR definitions, sized for any input shape): resnet8/14/20/32/56/110,
resnet8x4, resnet32x4, wrn_40_2, vgg13 (with BN). Each model has ``feature_modules``: the
names of its stage-boundary submodules, high to low resolution.
"""

from __future__ import annotations

# the family modules register their models on import
from kdnas.teachers import resnet as _resnet  # noqa: F401
from kdnas.teachers import vgg as _vgg  # noqa: F401
from kdnas.teachers import wrn as _wrn  # noqa: F401
from kdnas.teachers.build import build_model, load_teacher
from kdnas.teachers.checkpoint import load_checkpoint, save_checkpoint, state_dict_sha256
from kdnas.teachers.factory import load_factory
from kdnas.teachers.features import FeatureTaps, feature_modules, stage_shapes
from kdnas.teachers.freeze import freeze, is_frozen
from kdnas.teachers.registry import create_model, list_models, register_model
from kdnas.teachers.spec import TeacherSpec

__all__ = [
    "FeatureTaps",
    "TeacherSpec",
    "build_model",
    "create_model",
    "feature_modules",
    "freeze",
    "is_frozen",
    "list_models",
    "load_checkpoint",
    "load_factory",
    "load_teacher",
    "register_model",
    "save_checkpoint",
    "stage_shapes",
    "state_dict_sha256",
]
