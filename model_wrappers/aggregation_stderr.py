"""Standard errors for Q-Bench's own aggregations in lm-eval's results (its Stderr column).

lm-eval 0.4.13 gives a standard error only to the aggregations it knows (``mean``, ``median``,
...); any ``!function`` aggregation - every Q-Bench metric - gets "N/A". A Q-Bench aggregation
carries its own standard-error function (``qbench_tasks.bootstrap.with_stderr``), and this narrow
hook on ``lm_eval.evaluator_utils.stderr_for_metric`` hands it to lm-eval, with lm-eval's
``--bootstrap_iters`` (0 still turns standard errors off; more than
``qbench_tasks.bootstrap.MAX_RESAMPLES`` is capped, with a log line). Every other metric is left to
lm-eval. Group figures (``qbench_a3``) then get theirs from lm-eval's own group rule.
"""

from __future__ import annotations

import logging

import lm_eval.evaluator_utils

from model_wrappers.lm_eval_hooks import patch
from qbench_tasks.bootstrap import MAX_RESAMPLES

log = logging.getLogger(__name__)

_LM_EVAL_STDERR_FOR_METRIC = lm_eval.evaluator_utils.stderr_for_metric


def stderr_for_metric(metric, bootstrap_iters: int):
    """lm-eval's ``stderr_for_metric``, plus the standard error a Q-Bench aggregation declares."""
    own = getattr(metric, "qbench_stderr", None)
    if own is None or bootstrap_iters <= 0:
        return _LM_EVAL_STDERR_FOR_METRIC(metric, bootstrap_iters)
    if bootstrap_iters > MAX_RESAMPLES:
        log.info("Q-Bench: bootstrap standard errors from %d resamples (of --bootstrap_iters %d)",
                 MAX_RESAMPLES, bootstrap_iters)
    return lambda items: own(items, min(bootstrap_iters, MAX_RESAMPLES))


def install_aggregation_stderr_hook() -> bool:
    """Let lm-eval report the standard errors of Q-Bench aggregations; True when in effect."""
    return patch(lm_eval.evaluator_utils, "stderr_for_metric", stderr_for_metric, "standard errors of Q-Bench metrics")
