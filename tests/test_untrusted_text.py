"""Every parser of model or judge text runs in linear time: adversarial replies of 100,000
characters (whitespace runs after a keyword, repeated keywords, digit runs) are read in well under
a second. Patterns with adjacent unbounded runs took minutes on a few hundred characters."""

import time

import pytest

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.judge import parse_choice_reply
from qbench_tasks.a2.judge import parse_judge_score
from qbench_tasks.demo.judge import describes

N = 100_000
OPTIONS = ["Yes", "No", "Motion blur", "Blur"]
PARSERS = {
    "A2 judge score": parse_judge_score,
    "A1 answer": lambda text: extract_choice(text, OPTIONS),
    "A1 judge reply": lambda text: parse_choice_reply(text, len(OPTIONS)),
    "demo description": describes,
}
ADVERSARIAL = {
    "keyword then spaces": lambda word: word + " " * N + "x",
    "keyword, label, spaces": lambda word: word + " is" + " " * N + ": x",
    "keyword and separators": lambda word: word + " :-*" * (N // 4) + "x",
    "repeated keyword": lambda word: (word + " ") * (N // (len(word) + 1)) + "x",
    "digits": lambda word: word + ": " + "1" * N + "x",
    "digits and dots": lambda word: word + " " + "1." * (N // 2) + "x",
}
KEYWORDS = ["Score", "Answer", "the answer is", "Option", "motion", "Blur", "Yes, ", "A or", "quality is", "is"]


@pytest.mark.parametrize("shape", ADVERSARIAL)
@pytest.mark.parametrize("parser", PARSERS)
def test_parsers_are_linear_on_adversarial_text(parser, shape):
    read = PARSERS[parser]
    for keyword in KEYWORDS:
        text = ADVERSARIAL[shape](keyword)
        start = time.perf_counter()
        read(text)
        assert time.perf_counter() - start < 0.5, (parser, shape, keyword)


def test_the_linear_patterns_read_what_they_read_before():
    # Spot checks beside the parser tables in test_a1.py / test_a2.py / test_a1_judge.py.
    assert parse_judge_score("Score" + " " * 1000 + "2") == 2
    assert parse_judge_score("**Score:** \n 1") == 1 and parse_judge_score("Score: -1") is None
    assert extract_choice("Answer" + " " * 1000 + "B", OPTIONS) == 1
    assert extract_choice("motion blur " * 5000, OPTIONS) == 2  # "Blur" inside "Motion blur" is not a match
    assert parse_choice_reply("The answer is" + " " * 1000 + "C", 4) == 2
