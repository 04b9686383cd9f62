"""Search spaces: YAML data in, `Arch` values out, `nn.Module` students built from them.

Block-wise spaces live in `space`/`builder`; NNI model spaces in `nni_space` (imported, with nni,
only when a space file says ``kind: nni``). `open_space` loads either.
"""

from kdnas.space.align import align_stages
from kdnas.space.builder import Student, build_student
from kdnas.space.load import bind_space, open_space, student_builder
from kdnas.space.protocol import Space, StudentBuilder
from kdnas.space.sample import sample_random
from kdnas.space.space import BlockBuilder, SearchSpace, StageChoices, load_space

__all__ = ["BlockBuilder", "SearchSpace", "Space", "StageChoices", "Student", "StudentBuilder", "align_stages",
           "bind_space", "build_student", "load_space", "open_space", "sample_random", "student_builder"]
