"""Pairing student stages with teacher stages by resolution."""

from __future__ import annotations

import pytest

from kdnas.errors import ConfigError
from kdnas.space import align_stages


def test_last_student_stage_of_each_resolution():
    student = [(32, 32), (32, 32), (16, 16), (16, 16), (8, 8), (8, 8)]
    teacher = [(32, 32), (16, 16), (8, 8)]
    assert align_stages(student, teacher) == [(1, 0), (3, 1), (5, 2)]


def test_one_to_one():
    assert align_stages([(8, 8), (4, 4)], [(8, 8), (4, 4)]) == [(0, 0), (1, 1)]


def test_teacher_resolution_missing_from_student():
    with pytest.raises(ConfigError, match="teacher stage 2 resolution \\(4, 4\\)"):
        align_stages([(16, 16), (8, 8)], [(16, 16), (8, 8), (4, 4)])


def test_student_resolution_missing_from_teacher():
    with pytest.raises(ConfigError, match=r"\[\(2, 2\)\] match no teacher stage"):
        align_stages([(8, 8), (4, 4), (2, 2)], [(8, 8), (4, 4)])
