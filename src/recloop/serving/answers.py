"""What counts as an answer from a served model: rows with recommendations, finite numbers.

The gate's infrastructure probe and the registry's load check before a champion moves
both send requests through the MLflow pyfunc and judge the output the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def inspect_output(output: Any, expected_rows: int) -> tuple[int, int]:
    """Users with a non-empty answer, and NaN/inf numbers anywhere in the output.

    A frame of the wrong length answers nobody: (0, 0).
    """
    import pandas as pd

    frame = output if isinstance(output, pd.DataFrame) else pd.DataFrame({"items": list(output)})
    if len(frame) != expected_rows:
        return 0, 0
    # recloop's pyfunc answers in "item_ids"; any other pyfunc: a row with a non-empty cell.
    answer_columns = [c for c in ("item_ids", "items") if c in frame.columns][:1]
    answered = non_finite = 0
    for _, row in frame.iterrows():
        cells = list(row.values)
        answer = [row[c] for c in answer_columns] or cells
        answered += any(_non_empty(c) for c in answer)
        non_finite += sum(_count_non_finite(c) for c in cells)
    return answered, non_finite


def _non_empty(cell: Any) -> bool:
    if isinstance(cell, list | tuple | np.ndarray):
        return len(cell) > 0
    return cell is not None and not (isinstance(cell, float) and math.isnan(cell))


def _count_non_finite(cell: Any) -> int:
    if isinstance(cell, dict):
        return sum(_count_non_finite(v) for v in cell.values())
    if isinstance(cell, list | tuple | np.ndarray):
        return sum(_count_non_finite(v) for v in cell)
    if isinstance(cell, float | np.floating):
        return int(not math.isfinite(cell))
    return 0
