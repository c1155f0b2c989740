"""The offline demo: every row of its table shows the part working, and the rule judge behind
its A2 row reads the demo's descriptions by its stated rules."""

import re

import pytest
from conftest import run_lm_eval

from qbench_tasks.a2.judge import parse_judge_score
from qbench_tasks.demo.data import demo_description, demo_golden_description, demo_recipes
from qbench_tasks.demo.judge import NO_SCORE, describes, reply, score
from qbench_tasks.prompts import A2_JUDGE_QUESTIONS, a2_judge_question, judge_flat_prompt

# How far a fresh run may be from the README's rows: the demo's build is not bit-identical across
# CPUs (docs/tasks.md, "The demo"), its figures are, to this.
DEMO_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def demo_run(signal_model):
    return run_lm_eval(["qbench_demo"], signal_model, batch_size=8)


@pytest.fixture(scope="module")
def demo_chat_run(signal_model):
    return run_lm_eval(["qbench_demo"], signal_model, batch_size=8, apply_chat_template=True)


def readme_demo_rows() -> dict[tuple[str, str], tuple[float, float]]:
    """(task, metric) -> (plain prompt, chat template) from the README's demo table."""
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- demo-figures:", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| ([\d.]+) \| ([\d.]+) \|$", table, re.M)
    return {(task, metric): (float(plain), float(chat)) for task, metric, plain, chat in rows}


def test_the_readme_states_the_demo_figures():
    rows = readme_demo_rows()
    assert {task for task, _ in rows} == {"qbench_a1_demo", "qbench_a1_demo_mc", "qbench2_a1_demo",
                                          "qbench2_a1_demo_mc", "qbench_a2_demo", "qbench_a3_demo",
                                          "abench_demo", "abench_demo_mc"}
    assert len(rows) >= 15


@pytest.mark.parametrize("style", ["plain prompt", "chat template"])
def test_the_demo_gives_the_readmes_figures(request, style):
    """The README's demo rows are what `make demo` prints here, under both prompt styles: the
    demo model answers under the chat template too (it was fitted on both renderings)."""
    results = request.getfixturevalue("demo_run" if style == "plain prompt" else "demo_chat_run")["results"]
    column = 0 if style == "plain prompt" else 1
    for (task, metric), values in readme_demo_rows().items():
        key = f"{metric},{'judge' if task == 'qbench_a2_demo' else 'none'}"
        assert results[task][key] == pytest.approx(values[column], abs=DEMO_TOLERANCE), (task, metric)


def test_the_demo_a1_answers_follow_the_images_not_the_question_text(demo_run):
    """Questions asked with the same words get different right answers (the images differ); the
    demo model gets most of them right, so it reads the image."""
    samples = demo_run["samples"]["qbench_a1_demo"]
    blurry = [s for s in samples if s["doc"]["question"] == "Is this image blurry?"]
    assert {s["target"] for s in blurry} == {"A", "B"}
    assert sum(s["acc"] for s in blurry) >= 0.85 * len(blurry)


def ask(dimension: str, description: str, golden: str) -> str:
    return reply(judge_flat_prompt(a2_judge_question(dimension, description, golden)))


@pytest.mark.parametrize("description, expected", [
    ("The photo is strongly noisy. Overall, its quality is low.", {"completeness": 2, "precision": 2, "relevance": 2}),
    # one fact (the degree) wrong: part of the reference, one contradiction of three
    ("The photo is severely noisy. Overall, its quality is low.", {"completeness": 1, "precision": 1, "relevance": 2}),
    # every fact it states is wrong
    ("The photo is sharp and clean. Overall, its quality is high.", {"completeness": 0, "precision": 0,
                                                                      "relevance": 2}),
    ("The photo is noisy.", {"completeness": 1, "precision": 2, "relevance": 1}),
    ("A photo of a cat.", {"completeness": 0, "precision": 2, "relevance": 0}),
])
def test_the_demo_judge_scores_by_its_rules(description, expected):
    noisy = next(item for item in demo_recipes() if item.kind == "noise" and item.severity == 0.75)
    golden = demo_golden_description(noisy)
    assert describes(golden) == {"look": "noisy", "degree": "strongly", "quality": "low"}
    assert {dim: ask(dim, description, golden) for dim in A2_JUDGE_QUESTIONS} == {
        dim: f"Score: {value}" for dim, value in expected.items()}


def test_every_demo_description_states_its_golden_ones_facts():
    """What the demo model is fitted to say about an image is what the judge reads in the golden
    description: the fitted description scores 2 on every question."""
    for item in demo_recipes():
        facts = describes(demo_golden_description(item))
        assert describes(demo_description(item)) == facts and facts["look"] and facts["quality"]
        assert all(score(dim, demo_description(item), demo_golden_description(item)) == 2 for dim in A2_JUDGE_QUESTIONS)


def test_other_questions_get_a_reply_without_a_score():
    assert reply("Which option does the answer choose? Reply with that option's letter alone.") == NO_SCORE
    assert parse_judge_score(NO_SCORE) is None  # counted as an invalid reply
