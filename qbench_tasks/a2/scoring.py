"""A2 scoring, as the official leaderboard reports it.

Per dimension (completeness, precision, relevance): P(0), P(1), P(2) — the share of judgements
giving each score — and s = P(1) + 2·P(2), the mean score (0-2); ``total`` is the sum of the three
s (0-6). Each description's rounds are averaged first, then descriptions are averaged, so every
description weighs the same; a judgement whose reply had no readable score is left out and
counted in ``judge_invalid_rate``. A description with no readable score in a dimension is left
out of that dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qbench_tasks.a2.judge import DIMENSIONS, SCORES
from qbench_tasks.aggregations import mean_of_present
from qbench_tasks.bootstrap import mean_replicates, replicate_stderr, with_stderr


def item_metrics(judged: dict) -> dict:
    """One description's metric values from the judge filter's output.

    Unjudged (no judge configured): only ``empty_rate``. Judged: the dimensions it was judged on,
    ``judge_invalid_rate``, and ``total`` when all three dimensions were judged.
    """
    metrics: dict = {"empty_rate": float(not judged["description"].strip())}
    if "scores" not in judged:
        return metrics
    for dimension, scores in judged["scores"].items():
        for score in SCORES:
            metrics[f"{dimension}_p{score}"] = scores.count(score) / len(scores) if scores else None
        metrics[dimension] = sum(scores) / len(scores) if scores else None
    metrics["judge_invalid_rate"] = judged["invalid"] / judged["asked"]
    if set(judged["scores"]) == set(DIMENSIONS):
        metrics["total"] = {dimension: metrics[dimension] for dimension in DIMENSIONS}
    return metrics


def process_results(doc: dict, results: Sequence[dict]) -> dict:
    """lm-eval hook: ``results[0]`` is the judge filter's output for this document."""
    return item_metrics(results[0])


def total_stderr(items: Sequence[dict], resamples: int) -> float:
    """Bootstrap over descriptions: each resample's total is the sum of its dimension means."""
    values = np.array([[np.nan if item[d] is None else item[d] for item in items] for d in DIMENSIONS])
    return replicate_stderr(mean_replicates(values, resamples).sum(axis=0))


@with_stderr(total_stderr)
def total(items: Sequence[dict]) -> float:
    """Aggregation of ``total``: the sum over dimensions of each dimension's mean score."""
    return sum(mean_of_present([item[dimension] for item in items]) for dimension in DIMENSIONS)


def aggregate(per_item: Sequence[dict]) -> dict[str, float]:
    """Every metric over all descriptions, as the task's aggregations compute them."""
    names = dict.fromkeys(name for metrics in per_item for name in metrics)
    return {
        name: (total if name == "total" else mean_of_present)([m[name] for m in per_item if name in m])
        for name in names
    }
