"""Standard errors and 95% intervals for Q-Bench figures, and paired model comparisons.

* A mean over items (accuracies and their breakdowns, A2's P0/P1/P2 and s): the standard error
  of the mean, s/sqrt(n) with s the sample standard deviation (for a 0/1 accuracy this is the
  binomial sqrt(p(1-p)/(n-1))) - the value a bootstrap over items converges to, at no cost.
* A correlation (SRCC, PLCC) and A2's ``total``: a bootstrap over items. Items are resampled with
  replacement, within each stratum where a figure is a mean over strata (CGIQA-6K's game and movie
  halves), every resample at once as an array (no Python loop per resample). The standard error
  is the replicates' standard deviation; resamples where the statistic is undefined (a constant
  column) are left out.
* Intervals: figure +/- 1.96 standard errors. A paired comparison resamples the same items for
  both models and takes the 2.5th and 97.5th percentiles of the difference; it is resolved when
  that interval excludes 0.

Every bootstrap draws from ``numpy.random.default_rng(BOOTSTRAP_SEED)``: the same inputs give the
same figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

BOOTSTRAP_SEED = 1234
# lm-eval's --bootstrap_iters defaults to 100,000; a correlation's standard error is stable to a
# few per cent long before that, and 100,000 resamples of a 10,000-image database take minutes.
MAX_RESAMPLES = 1000
Z_95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
# Resamples computed at once: bounds memory at a few (rows x items) float arrays.
_CHUNK_CELLS = 2_000_000


def with_stderr(stderr: Callable[[Sequence, int], float]):
    """Mark an lm-eval aggregation with its standard-error function ``stderr(items, resamples)``;
    the Q-Bench hook on lm-eval (``model_wrappers.lm_eval_hooks``) hands it to lm-eval."""
    def mark(aggregation):
        aggregation.qbench_stderr = stderr
        return aggregation
    return mark


def mean_stderr(values: Sequence[float | None]) -> float:
    """Standard error of the mean of the present values (None: the item does not count)."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return math.nan
    return float(np.std(present, ddof=1) / math.sqrt(len(present)))


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=1) / denominator
    return np.where(denominator > 0, np.clip(r, -1.0, 1.0), np.nan)


def _value_codes(values: np.ndarray) -> np.ndarray:
    """Each value's index among the sorted distinct values (equal values, equal codes)."""
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def _resample_ranks(codes: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Ranks (ties averaged, as scipy's rankdata) of the picked items within each resample (row
    of ``picks``), from how often each distinct value was picked: no sort per resample."""
    distinct = int(codes.max()) + 1
    picked = codes[picks]
    rows = picks.shape[0]
    counts = np.bincount((np.arange(rows)[:, None] * distinct + picked).ravel(),
                         minlength=rows * distinct).reshape(rows, distinct)
    rank_of_value = np.cumsum(counts, axis=1) - (counts - 1) / 2
    return np.take_along_axis(rank_of_value, picked, axis=1)


def correlation_replicates(
    name: str, scores, mos, strata: Sequence[np.ndarray], resamples: int,
) -> np.ndarray:
    """Bootstrap replicates of SRCC ("srcc") or PLCC ("plcc"), shape (models, resamples).

    ``scores`` is (models, items): every model is read on the same resampled items, so the
    replicates pair up. Items are resampled within each stratum (index arrays); the statistic is
    computed per stratum and averaged over strata.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    mos = np.asarray(mos, dtype=float)
    if name == "srcc":  # Spearman = Pearson on ranks
        columns = [_value_codes(model_scores) for model_scores in scores]
        truth_column = _value_codes(mos)
        on_picks = _resample_ranks
    elif name == "plcc":
        columns, truth_column = list(scores), mos
        on_picks = lambda values, picks: values[picks]  # noqa: E731
    else:
        raise ValueError(f"unknown correlation {name!r}; expected 'srcc' or 'plcc'")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    replicates = np.empty((scores.shape[0], resamples))
    chunk = max(1, _CHUNK_CELLS // max(1, mos.size))
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        per_stratum = []
        for stratum in strata:
            picks = stratum[rng.integers(0, len(stratum), size=(count, len(stratum)))]
            truth = on_picks(truth_column, picks)
            per_stratum.append([_rowwise_pearson(on_picks(column, picks), truth) for column in columns])
        replicates[:, start : start + count] = np.mean(per_stratum, axis=0)
    return replicates


def mean_replicates(values: np.ndarray, resamples: int) -> np.ndarray:
    """Bootstrap replicates of the mean of each row's present (non-NaN) values, (rows, resamples)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = values.shape[1]
    replicates = np.empty((values.shape[0], resamples))
    chunk = max(1, _CHUNK_CELLS // max(1, values.size))
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        picks = rng.integers(0, n, size=(count, n))
        with np.errstate(invalid="ignore"):
            replicates[:, start : start + count] = np.nanmean(values[:, picks], axis=2)
    return replicates


def replicate_stderr(replicates: np.ndarray) -> float:
    """Standard deviation of the defined replicates (NaN with fewer than two)."""
    defined = replicates[np.isfinite(replicates)]
    return float(np.std(defined, ddof=1)) if defined.size >= 2 else math.nan


def normal_interval(value: float, stderr: float) -> tuple[float, float]:
    return value - Z_95 * stderr, value + Z_95 * stderr


def percentile_interval(replicates: np.ndarray) -> tuple[float, float]:
    defined = replicates[np.isfinite(replicates)]
    if defined.size < 2:
        return math.nan, math.nan
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def resolved(interval: tuple[float, float]) -> bool:
    """Whether a difference's interval excludes 0."""
    low, high = interval
    return bool(low > 0 or high < 0)
