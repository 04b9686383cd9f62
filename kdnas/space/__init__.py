"""Search spaces: YAML data in, `Arch` values out, `nn.Module` students built from them."""

from kdnas.space.align import align_stages
from kdnas.space.builder import Student, build_student
from kdnas.space.space import SearchSpace, StageChoices, load_space

__all__ = ["SearchSpace", "StageChoices", "Student", "align_stages", "build_student", "load_space"]
