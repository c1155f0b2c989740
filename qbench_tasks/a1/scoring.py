"""A1 scoring: accuracy overall, per question type and per concern, and the unparsed rate.

Each per-category metric is computed over its own items only: process_results gives an item
``None`` for the categories it does not belong to, and ``aggregations.mean_of_present`` skips
those.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.judge import NO_OPTION
from qbench_tasks.a1.llvisionqa import CONCERNS, QUESTION_TYPES, A1Question, question_of

# Concern code -> the concern categories an item counts in: one each in Q-Bench's A1; in Q-Bench+,
# one per axis (qbench_tasks.qbench2.pairs.CONCERN_CATEGORIES).
A1_CONCERN_CATEGORIES = {code: (name,) for code, name in CONCERNS.items()}


def accuracy_metrics(question: A1Question, chosen: int | None,
                     concerns: dict[int, tuple[str, ...]] = A1_CONCERN_CATEGORIES) -> dict[str, float | None]:
    """``acc`` plus ``acc_<type>`` and ``acc_<concern category>``; None where the item is not in them."""
    correct = float(chosen is not None and chosen == question.answer)
    metrics: dict[str, float | None] = {"acc": correct}
    for code, name in QUESTION_TYPES.items():
        metrics[f"acc_{name}"] = correct if question.type == code else None
    for category in dict.fromkeys(c for categories in concerns.values() for c in categories):
        metrics[f"acc_{category}"] = correct if category in concerns.get(question.concern, ()) else None
    return metrics


def response_of(result: str | dict) -> str:
    """The model's answer in a filtered A1 result (a dict where the judge filter was on)."""
    return result["response"] if isinstance(result, dict) else result


def process_generation(doc: dict, results: Sequence[str | dict],
                       concerns: dict[int, tuple[str, ...]] = A1_CONCERN_CATEGORIES) -> dict[str, float | None]:
    """lm-eval hook for the generate_until tasks (dev split). With judge-assisted matching on
    (``a1_judge``), also ``acc_judged`` and its breakdown (the judge's pick where the rules read
    none), ``judge_resolved_rate`` (answers only the judge could read) and ``judge_invalid_rate``."""
    question = question_of(doc)
    chosen = extract_choice(response_of(results[0]), question.options)
    metrics = {**accuracy_metrics(question, chosen, concerns), "unparsed_rate": float(chosen is None)}
    if isinstance(results[0], dict):
        judged = results[0].get("judge_choice")
        judged = None if judged is None or judged == NO_OPTION else judged
        final = chosen if chosen is not None else judged
        metrics |= {f"{name}_judged": value for name, value in accuracy_metrics(question, final, concerns).items()}
        metrics |= {"judge_resolved_rate": float(chosen is None and final is not None),
                    "judge_invalid_rate": float(results[0].get("judge_invalid", False))}
    return metrics


def process_prediction_only(doc: dict, results: Sequence[str | dict]) -> dict[str, float]:
    """lm-eval hook for the test split, whose answers are hidden: only whether it parsed."""
    return {"unparsed_rate": float(extract_choice(response_of(results[0]), question_of(doc).options) is None)}


def process_multiple_choice(doc: dict, results: Sequence[tuple[float, bool]],
                            concerns: dict[int, tuple[str, ...]] = A1_CONCERN_CATEGORIES) -> dict[str, float | None]:
    """lm-eval hook for the log-likelihood task: the most likely option is the answer."""
    logliks = [loglik for loglik, _ in results]
    chosen = max(range(len(logliks)), key=logliks.__getitem__)
    # Every choice is an option by construction: nothing is left unparsed.
    return {**accuracy_metrics(question_of(doc), chosen, concerns), "unparsed_rate": 0.0}
