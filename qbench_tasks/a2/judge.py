"""A2 judging: the judge scores each description 0/1/2 for completeness, precision and relevance.

Every (description, dimension, round) is one request to the run's judge
(``qbench_tasks.judging``); a reply without a readable 0/1/2 score is asked again and, if still
unreadable, left out of the scores and counted, never scored 0.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from lm_eval.api.filter import Filter

from qbench_tasks.judging.asking import Ask, ask_until_readable, load_judge
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.prompts import A2_GOLDEN_FREE_DIMENSIONS, A2_JUDGE_QUESTIONS, A2_JUDGE_SYSTEM, a2_judge_question

logger = logging.getLogger(__name__)

DIMENSIONS = tuple(A2_JUDGE_QUESTIONS)  # completeness, precision, relevance
SCORES = (0, 1, 2)
# The document column that carries the run's judge (JSON; "" when none is configured).
JUDGE_FIELD = "judge_spec"

def parse_judge_score(reply: str) -> int | None:
    """The 0/1/2 score in a judge's reply, or None when the reply states none.

    Read, in order: the first labelled score ("Score: 2", "score:1.", "**Score:** 2", "the score
    is 1"), else a reply that is nothing but a number ("2", " 1."). A number outside 0-2 or not a
    whole number is no score; free text with a stray number ("I think 1") is no score either.
    """
    labelled = _LABELLED_SCORE.search(reply)
    number = labelled[1] if labelled else None
    if number is None:
        bare = _BARE_NUMBER.fullmatch(reply)
        number = bare[1] if bare else None
    if number is None:
        return None
    value = float(number)
    return int(value) if value.is_integer() and int(value) in SCORES else None


# Linear in the reply's length, as every pattern over model or judge text must be: no two
# unbounded runs that can share characters stand next to each other (a reply of "Score" and
# spaces made the earlier pattern, with five adjacent \s*, take minutes).
_SEPARATOR = r"[\s:=*\-]*"
_LABELLED_SCORE = re.compile(rf"\bscore\b{_SEPARATOR}(?:(?:is|of)\b{_SEPARATOR})?(?<![-\d.])(\d+(?:\.\d+)?)", re.I)
_BARE_NUMBER = re.compile(r"[\s*.:]*(\d+(?:\.\d+)?)[\s*.]*")


@dataclass
class Judgement:
    """One description's judgements: the readable scores per dimension, in round order."""

    scores: dict[str, list[int]]
    invalid: int  # judgements still without a readable score after every retry
    asked: int  # judgements (dimensions x rounds)
    replies: dict[str, list[str]] = field(default_factory=dict)  # each round's final reply


def judge_descriptions(
    spec: JudgeSpec,
    items: Sequence[tuple[str, str | None]],
    make_judge: Callable[[JudgeSpec], object] = load_judge,
) -> list[Judgement]:
    """Judge each (description, golden description or None).

    Relevance is always judged; completeness and precision where a golden description exists.
    The judge is only built when some reply is not in the cache.
    """
    asks = [
        Ask(i, dimension, round_, a2_judge_question(dimension, description, golden))
        for i, (description, golden) in enumerate(items)
        for dimension in (DIMENSIONS if golden else A2_GOLDEN_FREE_DIMENSIONS)
        for round_ in range(spec.rounds)
    ]
    final = ask_until_readable(spec, asks, lambda reply, _: parse_judge_score(reply), "A2", A2_JUDGE_SYSTEM,
                               make_judge=make_judge)
    judgements = [Judgement(scores={}, invalid=0, asked=0) for _ in items]
    for ask, (reply, score) in zip(asks, final):
        judgement = judgements[ask.item]
        judgement.asked += 1
        judgement.scores.setdefault(ask.dimension, [])
        judgement.replies.setdefault(ask.dimension, []).append(reply)
        if score is None:
            judgement.invalid += 1
        else:
            judgement.scores[ask.dimension].append(score)
    return judgements


def judged_records(spec: JudgeSpec, descriptions: Sequence[str], golden: Sequence[str | None]) -> list[dict]:
    """{description, scores, invalid, asked, replies} per description: the judge filter's output,
    which ``qbench_tasks.a2.scoring.item_metrics`` reads."""
    judged = judge_descriptions(spec, list(zip(descriptions, golden)))
    return [{"description": d, **asdict(j)} for d, j in zip(descriptions, judged)]


class JudgeFilter(Filter):
    """lm-eval filter for qbench_a2: each description becomes {description, judgement}.

    Runs once per task over all its responses, so the judge sees every request in one go.
    Without a judge configured the descriptions pass through unscored (predict-only).
    """

    def apply(self, resps, docs):
        descriptions = [resp[0] for resp in resps]
        spec = JudgeSpec.from_json(docs[0][JUDGE_FIELD]) if docs else None
        if spec is None:
            logger.warning(
                "qbench A2: no judge configured, so descriptions are generated but not scored. "
                "Pass --metadata with judge_model and judge_model_args, or score the logged "
                "samples later with `qbench judge --samples ...`."
            )
            return [{"description": d} for d in descriptions]
        return judged_records(spec, descriptions, [doc.get("golden_description") for doc in docs])
