"""A1 scoring: accuracy overall, per question type and per concern, and the unparsed rate; the
same scoring serves Q-Bench+ and A-Bench with their own breakdowns.

Each per-category metric is computed over its own items only: process_results gives an item
``None`` for the categories it does not belong to, and ``aggregations.mean_of_present`` skips
those (a breakdown may also leave those categories out: lm-eval then averages what is there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.judge import NO_OPTION
from qbench_tasks.a1.llvisionqa import CONCERNS, QUESTION_TYPES, A1Question, question_of

# Concern code -> the concern categories an item counts in: one each in Q-Bench's A1; in Q-Bench+,
# one per axis (qbench_tasks.qbench2.pairs.CONCERN_CATEGORIES).
A1_CONCERN_CATEGORIES = {code: (name,) for code, name in CONCERNS.items()}


# A benchmark's categories of an item: category name -> whether the item counts in it.
Breakdown = Callable[[dict, A1Question], dict[str, bool]]


def by_type_and_concern(concerns: dict[int, tuple[str, ...]] = A1_CONCERN_CATEGORIES) -> Breakdown:
    """A1's breakdown (Q-Bench+'s with its concern categories): question type, then concern."""
    names = tuple(dict.fromkeys(c for categories in concerns.values() for c in categories))

    def breakdown(doc: dict, question: A1Question) -> dict[str, bool]:
        return {**{name: question.type == code for code, name in QUESTION_TYPES.items()},
                **{name: name in concerns.get(question.concern, ()) for name in names}}
    return breakdown


A1_BREAKDOWN = by_type_and_concern()


def accuracy_metrics(doc: dict, question: A1Question, chosen: int | None,
                     breakdown: Breakdown = A1_BREAKDOWN) -> dict[str, float | None]:
    """``acc`` plus ``acc_<category>`` for each of ``breakdown``'s; None where the item is not in one."""
    correct = float(chosen is not None and chosen == question.answer)
    return {"acc": correct, **{f"acc_{name}": correct if member else None
                               for name, member in breakdown(doc, question).items()}}


def response_of(result: str | dict) -> str:
    """The model's answer in a filtered A1 result (a dict where the judge filter was on)."""
    return result["response"] if isinstance(result, dict) else result


def process_generation(doc: dict, results: Sequence[str | dict],
                       breakdown: Breakdown = A1_BREAKDOWN) -> dict[str, float | None]:
    """lm-eval hook for the generate_until tasks (dev split). With judge-assisted matching on
    (``a1_judge``), also ``acc_judged`` and its breakdown (the judge's pick where the rules read
    none), ``judge_resolved_rate`` (answers only the judge could read) and ``judge_invalid_rate``."""
    question = question_of(doc)
    chosen = extract_choice(response_of(results[0]), question.options)
    metrics = {**accuracy_metrics(doc, question, chosen, breakdown), "unparsed_rate": float(chosen is None)}
    if isinstance(results[0], dict):
        judged = results[0].get("judge_choice")
        judged = None if judged is None or judged == NO_OPTION else judged
        final = chosen if chosen is not None else judged
        metrics |= {f"{name}_judged": value
                    for name, value in accuracy_metrics(doc, question, final, breakdown).items()}
        metrics |= {"judge_resolved_rate": float(chosen is None and final is not None),
                    "judge_invalid_rate": float(results[0].get("judge_invalid", False))}
    return metrics


def process_prediction_only(doc: dict, results: Sequence[str | dict]) -> dict[str, float]:
    """lm-eval hook for the test split, whose answers are hidden: only whether it parsed."""
    return {"unparsed_rate": float(extract_choice(response_of(results[0]), question_of(doc).options) is None)}


def process_multiple_choice(doc: dict, results: Sequence[tuple[float, bool]],
                            breakdown: Breakdown = A1_BREAKDOWN) -> dict[str, float | None]:
    """lm-eval hook for the log-likelihood task: the most likely option is the answer."""
    logliks = [loglik for loglik, _ in results]
    chosen = max(range(len(logliks)), key=logliks.__getitem__)
    # Every choice is an option by construction: nothing is left unparsed.
    return {**accuracy_metrics(doc, question_of(doc), chosen, breakdown), "unparsed_rate": 0.0}
