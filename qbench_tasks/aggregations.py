"""Aggregations shared by the Q-Bench tasks (lm-eval ``metric_list`` entries)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from qbench_tasks.bootstrap import mean_stderr, with_stderr


@with_stderr(lambda values, resamples: mean_stderr(values))
def mean_of_present(values: Sequence[float | None]) -> float:
    """Mean over the items a metric applies to: an item gives None where the metric does not
    apply to it (e.g. another question type, or a judgement with no readable score); NaN when
    it applies to none."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else math.nan
