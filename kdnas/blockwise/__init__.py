"""Block-wise distillation proxy (DNA / DONNA style): a table of per-block losses, built once per
(teacher, data, block) and cached on disk, from which whole students are scored in microseconds.

- `plan`: which blocks a space needs (student stages grouped by the teacher stage they align to).
- `table`: train each block on the teacher's stage input -> output, cache its loss.
- `costs`: MACs/params of many architectures at once from per-stage tables.
- `score`: architectures as index vectors, scored by gathers over the table.
- `search`: sample/enumerate the space, Pareto front on (block-wise loss, MACs), pick members.
- `stitch`: a student assembled from its trained blocks and run, for comparison (`python -m benchmarks.fidelity`).

Imports point one way: this package uses `distill`, `space`, `teachers`, `cost`; never `study`.
"""

from kdnas.blockwise.costs import CostTable
from kdnas.blockwise.plan import BlockPlan, plan_blocks
from kdnas.blockwise.score import ScoreTable
from kdnas.blockwise.search import TableSearch, search_table
from kdnas.blockwise.table import BlockTable, build_block_table

__all__ = [
    "BlockPlan", "BlockTable", "CostTable", "ScoreTable", "TableSearch", "build_block_table", "plan_blocks",
    "search_table",
]
