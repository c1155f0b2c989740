"""The demo's A2 judge (``--model``-style name ``qbench-demo-judge``): a rule, not a language model.

It answers the three judge questions of ``prompts.A2_JUDGE_QUESTIONS`` about descriptions
written in the demo's wording only: from each description (the model's and the golden one) it
reads the facts the demo's sentences state (``describes``): how the photo looks ("sharp", or
"blurred" / "noisy" / "compressed"), how strongly, and the overall quality. Then

* completeness: 2 when the description states every fact of the golden one, 1 some, 0 none;
* precision: 2 when no fact it states contradicts the golden one, 0 when every one does, else 1;
* relevance: 2 for two or more low-level facts, 1 for one, 0 for none.

It goes through the same judge machinery as a real judge (lm-eval model registry, reply cache,
reply parsing), so the demo's A2 row is scored end to end without a judge LLM. Any other
question gets a reply without a score, which the machinery counts as invalid.
"""

from __future__ import annotations

import re

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from qbench_tasks.demo.data import DEGREES, DISTORTED, UNDISTORTED
from qbench_tasks.prompts import A2_JUDGE_QUESTIONS

_LOOK = re.compile(rf"\bis ({UNDISTORTED}|(?:({'|'.join(DEGREES.values())}) )?({'|'.join(DISTORTED.values())}))\b")
_QUALITY = re.compile(r"\bquality is (high|medium|low)\b")
# Each judge question with its two descriptions captured (the model's, then the golden one).
_QUESTIONS = {
    dimension: re.compile(
        re.escape(question).replace(re.escape("[MLLM_DESC]"), "(?P<description>.*)")
        .replace(re.escape("[GOLDEN_DESC]"), "(?P<golden>.*)"),
        re.S,
    )
    for dimension, question in A2_JUDGE_QUESTIONS.items()
}
NO_SCORE = "This is no question about a demo description."


def describes(text: str) -> dict[str, str]:
    """The facts a demo-worded description states: ``look``, ``degree`` and ``quality``, each
    where stated ("The photo is strongly blurred. Overall, its quality is low." states all three)."""
    text = text.lower()
    facts = {}
    if look := _LOOK.search(text):
        facts["look"] = look[3] or look[1]
        if look[2]:
            facts["degree"] = look[2]
    if quality := _QUALITY.search(text):
        facts["quality"] = quality[1]
    return facts


def score(dimension: str, description: str, golden: str) -> int:
    """The 0/1/2 score of ``dimension`` by the rules of the module docstring."""
    stated, truth = describes(description), describes(golden)
    if dimension == "relevance":
        return min(len(stated), 2)
    if dimension == "completeness":
        matched = sum(stated.get(name) == value for name, value in truth.items())
        return 2 if matched == len(truth) else 1 if matched else 0
    wrong = sum(truth.get(name) != value for name, value in stated.items())
    return 2 if not wrong else 0 if wrong == len(stated) else 1


def reply(prompt: str) -> str:
    """The judge's reply to one prompt (flat or chat-rendered: the question is found inside)."""
    for dimension, question in _QUESTIONS.items():
        if found := question.search(prompt):
            return f"Score: {score(dimension, found['description'], found.groupdict().get('golden') or '')}"
    return NO_SCORE


@register_model("qbench-demo-judge")
class DemoJudgeLM(LM):
    """``reply`` as an lm-eval model: generation only, no arguments."""

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        replies = []
        for request in requests:
            replies.append(reply(request.args[0]))
            self.cache_hook.add_partial("generate_until", request.args, replies[-1])
        return replies

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("qbench-demo-judge only judges A2 demo descriptions (generation)")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("qbench-demo-judge only judges A2 demo descriptions (generation)")
