"""Pair student stages with teacher stages by resolution, for stage-wise supervision."""

from __future__ import annotations

from kdnas.errors import ConfigError


def align_stages(
    student_res: list[tuple[int, int]], teacher_res: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """For each teacher stage, the last student stage with the same resolution.

    Returns (student_index, teacher_index) pairs. Raises `ConfigError` when some teacher
    resolution has no student stage, or the student has a resolution the teacher lacks:
    then the student's stages do not line up with the teacher's and stage-wise losses
    (hint, block-wise) are undefined.
    """
    pairs = []
    for t_idx, res in enumerate(teacher_res):
        matches = [i for i, r in enumerate(student_res) if r == res]
        if not matches:
            raise ConfigError(
                f"student stages {student_res} do not reach teacher stage {t_idx} resolution {res}; "
                "set the stages' strides to match the teacher"
            )
        pairs.append((matches[-1], t_idx))
    extra = sorted(set(student_res) - set(teacher_res))
    if extra:
        raise ConfigError(f"student stage resolutions {extra} match no teacher stage {teacher_res}")
    return pairs
