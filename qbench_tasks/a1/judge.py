"""Opt-in judge-assisted A1 answer matching, as VLMEvalKit's "choice extractor" does.

Answers the rules of ``answers.extract_choice`` cannot read (verbose, paraphrased) go to a
judge that is any lm-eval model - the run's ``judge_model`` / ``judge_model_args``, through the
A2 machinery (reply cache, retries, unreadable replies counted) - which names the option the
answer chooses, or none. Asked once per answer at temperature 0, so the result is determined by
the judge's replies. The rules' accuracy (``acc``) is unchanged; ``acc_judged`` and its breakdown
use the judge's pick where the rules found none.
"""

from __future__ import annotations

import dataclasses
import re

from lm_eval.api.filter import Filter

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.llvisionqa import OPTION_LETTERS, question_of
from qbench_tasks.judging.asking import Ask, ask_until_readable
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.prompts import A1_JUDGE_NONE, A1_JUDGE_SYSTEM, a1_judge_question
from qbench_tasks.settings import RunSettings

# The document column that carries the run's A1 judge (JSON; "" when matching is by rules only).
A1_JUDGE_FIELD = "a1_judge_spec"
NO_OPTION = -1  # the judge's reading: the answer chooses no option (or several)
# "Answer:", "The option is" opening a reply; linear (no adjacent runs that share characters).
_ANSWER_LABEL = re.compile(r"^(?:the\s+)?(?:answer|option|choice)(?:\s*is\b)?[\s:\-]*", re.I)


def a1_judge_spec(settings: RunSettings) -> JudgeSpec | None:
    """The judge for A1 matching when ``a1_judge`` is on: the run's judge, asked once at temperature 0."""
    spec = JudgeSpec.from_settings(settings)
    if not settings["a1_judge"]:
        return None
    if spec is None:
        raise ValueError("--metadata a1_judge needs a judge: pass judge_model (and judge_model_args)")
    return dataclasses.replace(spec, rounds=1, temperature=0.0)


def parse_choice_reply(reply: str, option_count: int) -> int | None:
    """The option index a judge's reply names, ``NO_OPTION`` for 'none', None when unreadable
    ("A", "(b).", "**C**", "Answer: D", "Option A", "none"; a letter the question lacks: unreadable)."""
    text = _ANSWER_LABEL.sub("", reply.strip(), count=1)
    text = text.strip(" \t\n*().:'\"`").strip()
    if text.lower() == A1_JUDGE_NONE:
        return NO_OPTION
    if len(text) == 1 and text.upper() in OPTION_LETTERS[:option_count]:
        return OPTION_LETTERS.index(text.upper())
    return None


class A1JudgeFilter(Filter):
    """lm-eval filter for the A1 generation tasks. Without ``a1_judge`` each answer passes through
    as it is; with it, each becomes {response}, plus {judge_reply, judge_choice, judge_invalid}
    where the rules could not read it and the judge was asked."""

    def apply(self, resps, docs):
        answers = [resp[0] for resp in resps]
        spec = JudgeSpec.from_json(docs[0][A1_JUDGE_FIELD]) if docs else None
        if spec is None:
            return answers
        questions = [question_of(doc) for doc in docs]
        unread = [i for i, (answer, q) in enumerate(zip(answers, questions))
                  if extract_choice(answer, q.options) is None]
        asks = [Ask(i, "", 0, a1_judge_question(questions[i].question, questions[i].options, answers[i]))
                for i in unread]
        replies = ask_until_readable(
            spec, asks, lambda reply, ask: parse_choice_reply(reply, len(questions[ask.item].options)),
            "A1", A1_JUDGE_SYSTEM)
        records = [{"response": answer} for answer in answers]
        for ask, (reply, choice) in zip(asks, replies):
            records[ask.item] |= {"judge_reply": reply, "judge_choice": choice, "judge_invalid": choice is None}
        return records
