"""Opt-in judge-assisted A1 matching: answers the rules cannot read go to a judge (any lm-eval
model; here a scripted one registered for the test) through the A2 machinery."""

import re
import zlib

import pytest
from conftest import evaluate_scripted
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from qbench_tasks.a1.judge import NO_OPTION, parse_choice_reply
from qbench_tasks.a1.llvisionqa import question_of
from qbench_tasks.a1.scoring import accuracy_metrics
from qbench_tasks.prompts import a1_judge_question

ASKED: list[str] = []  # every question the judge received


@register_model("qbench-test-choice-judge")
class ChoiceJudge(LM):
    """Replies from the answer it is shown: "... pick X" -> "X", "nothing" -> "none", anything
    else -> an unreadable reply."""

    def __init__(self, **kwargs):
        super().__init__()

    @classmethod
    def create_from_arg_obj(cls, arg_dict, additional_config=None):
        return cls()

    def generate_until(self, requests, disable_tqdm=False):
        replies = []
        for request in requests:
            ASKED.append(request.args[0])
            answer = re.search(r"Answer: (.*)", request.args[0])[1]
            picked = re.search(r"pick ([A-D])\b", answer)
            replies.append(f"**{picked[1]}**" if picked else "none" if "nothing" in answer else "hmm, hard to say")
        return replies

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def answer(doc):
    """By question: a plain letter (rules read it), the right letter in words the rules cannot
    read, "nothing fits", or gibberish the judge cannot read either."""
    letter = question_of(doc).answer_letter
    return [letter, f"Looking closely, I would pick {letter} here", "nothing fits", "zzz"][kind(doc)]


def kind(doc):
    return zlib.crc32(doc["img_path"].encode()) % 4


@pytest.mark.parametrize(
    "reply,count,expected",
    [("B", 3, 1), ("(b).", 3, 1), ("**C**", 3, 2), ("Answer: D", 4, 3), ("Option A", 2, 0), (" none.", 4, NO_OPTION),
     ("D", 3, None), ("A or B", 4, None), ("I think A", 4, None), ("", 2, None)],
)
def test_judge_reply_parsing(reply, count, expected):
    assert parse_choice_reply(reply, count) == expected


def test_unparsed_answers_are_matched_by_the_judge_once_and_reported_apart(tmp_path):
    metadata = {"a1_judge": True, "judge_model": "qbench-test-choice-judge", "judge_retries": 1,
                "judge_cache": str(tmp_path / "replies.sqlite3")}
    rules_only = evaluate_scripted(answer, "qbench_a1_demo", {}, log_samples=True)
    ASKED.clear()
    judged = evaluate_scripted(answer, "qbench_a1_demo", metadata, log_samples=True)
    docs = [s["doc"] for s in judged["samples"]["qbench_a1_demo"]]
    counts = [sum(kind(d) == k for d in docs) for k in range(4)]
    assert all(counts)
    # Only answers the rules could not read are sent, each distinct prompt once; gibberish is asked
    # again once, then counted.
    prompts = {(kind(d), a1_judge_question(question_of(d).question, question_of(d).options, answer(d)))
               for d in docs if kind(d)}
    assert len(ASKED) == len({p for _, p in prompts}) + len({p for k, p in prompts if k == 3})
    assert {p.split("#User: ")[1] for p in ASKED} == {p for _, p in prompts}
    before, after = rules_only["results"]["qbench_a1_demo"], judged["results"]["qbench_a1_demo"]
    assert after["acc,none"] == before["acc,none"] == pytest.approx(counts[0] / len(docs))
    assert after["acc_judged,none"] == pytest.approx((counts[0] + counts[1]) / len(docs))
    assert after["judge_resolved_rate,none"] == pytest.approx(counts[1] / len(docs))
    assert after["judge_invalid_rate,none"] == pytest.approx(counts[3] / len(docs))
    for category in ("acc_yes_or_no", "acc_what", "acc_how", "acc_distortion", "acc_incontext_other"):
        mine = [kind(d) in (0, 1) for d in docs if in_category(d, category)]
        assert after[f"{category}_judged,none"] == pytest.approx(sum(mine) / len(mine))
    assert "acc_judged,none" not in before
    first_asked = list(ASKED)
    ASKED.clear()
    again = evaluate_scripted(answer, "qbench_a1_demo", metadata)["results"]["qbench_a1_demo"]
    # Every readable reply came from the cache; only the gibberish (never stored) is asked again.
    assert sorted(ASKED) == sorted(p for p in first_asked if "zzz" in p) and again == after


def in_category(doc, category):
    return accuracy_metrics(doc, question_of(doc), 0)[category] is not None


def test_a1_judge_needs_a_judge():
    with pytest.raises(ValueError, match="a1_judge needs a judge: pass judge_model"):
        evaluate_scripted(answer, "qbench_a1_demo", {"a1_judge": True})


def test_a1_judge_matching_works_on_a_bench(tmp_path):
    """A-Bench asks A1's kind of question, and its tasks take the same opt-in judge matching."""
    metadata = {"a1_judge": True, "judge_model": "qbench-test-choice-judge", "judge_retries": 0,
                "judge_cache": str(tmp_path / "judge.sqlite3")}
    says = lambda doc: f"Looking closely, I would pick {question_of(doc).answer_letter} here"  # noqa: E731
    judged = evaluate_scripted(says, "abench_demo", metadata)["results"]["abench_demo"]
    assert judged["acc,none"] == 0.0 and judged["unparsed_rate,none"] == 1.0  # the rules read none
    assert judged["acc_judged,none"] == 1.0 and judged["judge_resolved_rate,none"] == 1.0
    assert judged["judge_invalid_rate,none"] == 0.0
