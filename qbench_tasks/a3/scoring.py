"""A3 scoring: the quality score from two log-likelihoods, and its correlation with MOS.

Follows the official Q-Bench A3 code: softmax over the " good" / " poor" next-token logits at
temperature 100, then Spearman (SRCC) and Pearson (PLCC) on the raw scores, no logistic fit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import special, stats

from qbench_tasks.bootstrap import correlation_replicates, replicate_stderr, with_stderr

log = logging.getLogger(__name__)

# The official script divides the two logits by 100 before the softmax.
A3_SOFTMAX_TEMPERATURE = 100.0

# CGIQA-6K is scored per half (game frames, movie frames) and the two are averaged.
CGIQA_HALVES = ("game_", "movie_")

# Fewer items give no correlation worth reporting: any two distinct pairs give exactly +-1.
MIN_CORRELATION_ITEMS = 3

# One scored item as process_results hands it to the aggregations.
ScoredItem = tuple[float, float, str]  # (model score, MOS, img_path)


def a3_score_from_logliks(
    positive: float, negative: float, temperature: float = A3_SOFTMAX_TEMPERATURE
) -> float:
    """exp(g/T) / (exp(g/T) + exp(p/T)), i.e. sigmoid((g - p) / T).

    ``g`` and ``p`` may be log-likelihoods rather than logits: both share the same
    log-softmax normaliser, so their difference is the logit difference and the score is exact.
    """
    return float(special.expit((positive - negative) / temperature))


def level_score(logliks: Sequence[float], weights: Sequence[float]) -> float:
    """Q-Align's score: the expectation of the level weights under the softmax over the level
    words' log-likelihoods (their shared normaliser cancels, as for the two-word score)."""
    return float(np.dot(special.softmax(np.asarray(logliks, dtype=float)), weights))


def process_results(doc: dict, results: Sequence[tuple[float, bool]]) -> dict[str, ScoredItem]:
    """lm-eval hook: one log-likelihood per word of ``doc["choices"]`` -> metric inputs: the
    official two-word score, and the level score where the run asked for levels."""
    loglik = {word: value for word, (value, _) in zip(doc["choices"], results)}
    positive, negative = doc["choice_words"]
    item = (a3_score_from_logliks(loglik[positive], loglik[negative]), float(doc["mos"]), doc["img_path"])
    metrics = {"srcc": item, "plcc": item}
    if doc["level_words"]:
        levels = (level_score([loglik[w] for w in doc["level_words"]], doc["level_weights"]),
                  float(doc["mos"]), doc["img_path"])
        metrics |= {"srcc_levels": levels, "plcc_levels": levels}
    return metrics


def _correlation(
    name: str, fn: Callable, scores: Sequence[float], mos: Sequence[float]
) -> float:
    """``fn``'s statistic, or NaN with a logged reason where it is undefined."""
    if len(scores) < MIN_CORRELATION_ITEMS:  # two points always lie on a line: +-1 says nothing
        log.warning("%s undefined on %d item(s) (fewer than %d); reporting NaN", name, len(scores),
                    MIN_CORRELATION_ITEMS)
        return math.nan
    if not all(map(math.isfinite, [*scores, *mos])):
        log.warning("%s undefined: a score or MOS is not a finite number; reporting NaN", name)
        return math.nan
    if min(scores) == max(scores) or min(mos) == max(mos):
        which = "scores" if min(scores) == max(scores) else "MOS values"
        log.warning("%s undefined: all %d %s are equal; reporting NaN", name, len(scores), which)
        return math.nan
    return float(fn(scores, mos).statistic)


def _unzip(items: Sequence[ScoredItem]) -> tuple[list[float], list[float]]:
    return [item[0] for item in items], [item[1] for item in items]


def cgiqa_halves(img_paths: Sequence[str]) -> list[list[int]]:
    """Indices of the game half and of the movie half, those present (the official CGIQA-6K
    figure is the mean over the two)."""
    halves: dict[str, list[int]] = {prefix: [] for prefix in CGIQA_HALVES}
    for index, img_path in enumerate(img_paths):
        prefix = next((p for p in CGIQA_HALVES if img_path.startswith(p)), None)
        if prefix is None:
            raise ValueError(
                f"CGIQA-6K item {img_path!r} is neither a game_* nor a movie_* image; "
                "the official score averages the two halves"
            )
        halves[prefix].append(index)
    present = [h for h in halves.values() if h]
    if len(present) < len(halves):
        log.warning("CGIQA-6K: only %d of 2 halves present; averaging those", len(present))
    return present


def correlation_stderr(name: str, by_cgiqa_half: bool = False) -> Callable[[Sequence[ScoredItem], int], float]:
    """Bootstrap standard error of SRCC or PLCC over images (within each CGIQA-6K half)."""
    def stderr(items: Sequence[ScoredItem], resamples: int) -> float:
        scores, mos = _unzip(items)
        strata = cgiqa_halves([item[2] for item in items]) if by_cgiqa_half else [range(len(items))]
        strata = [np.asarray(stratum) for stratum in strata]
        return replicate_stderr(correlation_replicates(name, [scores], mos, strata, resamples)[0])
    return stderr


@with_stderr(correlation_stderr("srcc"))
def srcc(items: Sequence[ScoredItem]) -> float:
    """Spearman rank correlation between model scores and MOS."""
    return _correlation("SRCC", stats.spearmanr, *_unzip(items))


@with_stderr(correlation_stderr("plcc"))
def plcc(items: Sequence[ScoredItem]) -> float:
    """Pearson linear correlation between raw model scores and MOS."""
    return _correlation("PLCC", stats.pearsonr, *_unzip(items))


def _mean_over_cgiqa_halves(metric: Callable, items: Sequence[ScoredItem]) -> float:
    present = cgiqa_halves([item[2] for item in items])
    return sum(metric([items[i] for i in half]) for half in present) / len(present) if present else math.nan


@with_stderr(correlation_stderr("srcc", by_cgiqa_half=True))
def srcc_cgiqa(items: Sequence[ScoredItem]) -> float:
    """SRCC on game and movie frames separately, averaged (official CGIQA-6K rule)."""
    return _mean_over_cgiqa_halves(srcc, items)


@with_stderr(correlation_stderr("plcc", by_cgiqa_half=True))
def plcc_cgiqa(items: Sequence[ScoredItem]) -> float:
    """PLCC on game and movie frames separately, averaged (official CGIQA-6K rule)."""
    return _mean_over_cgiqa_halves(plcc, items)
