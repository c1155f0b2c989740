"""Every prompt and answer word Q-Bench uses, in one place.

A1 lists the options as lettered lines after the question. The default style ends with the
instruction of the authors' later evaluation scripts; ``llava`` is the original LLaVA-script
wording (selectable per run with --metadata '{"a1_prompt_style": "llava"}').

A3 follows the official Q-Bench scoring code: the user turn asks for a rating, the assistant turn
is pre-filled with ``A3_ANSWER_PREFIX`` and the next token is compared between the two choice
words. Per-model wording (e.g. "The answer is", or InstructBLIP-T5's high/low) is chosen at run
time with ``--metadata`` (the ``a3_*`` settings in ``qbench_tasks.settings``), never by copying
task YAML.
"""

import re

from qbench_tasks.a1.llvisionqa import OPTION_LETTERS

A3_PROMPT = "Rate the quality of the image."
A3_ANSWER_PREFIX = "The quality of the image is"
# (positive, negative): the score is the softmax weight of the first.
A3_CHOICE_WORDS = ("good", "poor")

# Q-Align's level scoring (opt-in), read from the same next-token distribution (no extra forward):
# the expectation of these weights under the softmax over the five level words.
A3_LEVEL_WORDS = ("excellent", "good", "fair", "poor", "bad")
A3_LEVEL_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)

A1_ANSWER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
A1_LLAVA_INTRODUCTION = "Choose between one of the options as follows:"
A1_PROMPT_STYLES = ("letter", "llava")


def a1_prompt(question: str, options, style: str = "letter") -> str:
    """The A1 question with its lettered options, in one of ``A1_PROMPT_STYLES``."""
    lines = [f"{letter}. {option}" for letter, option in zip(OPTION_LETTERS, options)]
    if style == "letter":
        return "\n".join([question, *lines, A1_ANSWER_INSTRUCTION])
    if style == "llava":
        return "\n".join([question, A1_LLAVA_INTRODUCTION, *lines]) + "\n"
    raise ValueError(f"unknown A1 prompt style {style!r}; the styles are {A1_PROMPT_STYLES}")


# Q-Bench+ pairs: each image is introduced by its ordinal ahead of the question, so that "the
# first image" / "the second image" in a question name the images in the order the model gets them.
A1_PAIR_IMAGE_LABELS = ("The first image:", "The second image:")


def a1_pair_images(placeholder: str) -> str:
    """The lines that show a pair's two images, each as ``placeholder``."""
    return "".join(f"{label} {placeholder}\n" for label in A1_PAIR_IMAGE_LABELS)


# Q-Bench+ pairs for models that take one image: the pair joined side by side (qbench2_*_concat).
A1_PAIR_SIDE_BY_SIDE = "The first image is on the left, the second image on the right."


def a1_pair_side_by_side(placeholder: str) -> str:
    """The line that shows a pair joined side by side as one ``placeholder``."""
    return f"{placeholder}{A1_PAIR_SIDE_BY_SIDE}\n"


# Opt-in judge-assisted matching (--metadata a1_judge): an answer the rules cannot read goes to
# the run's judge (judge_model, ...), which names the option it chooses, or none.
A1_JUDGE_SYSTEM = "You match a model's answer to the options of a multiple-choice question."
A1_JUDGE_NONE = "none"


def a1_judge_question(question: str, options, answer: str) -> str:
    lines = [f"{letter}. {option}" for letter, option in zip(OPTION_LETTERS, options)]
    return "\n".join([
        "Here are a multiple-choice question, its options and a model's answer to it.",
        f"Question: {question}", "Options:", *lines, f"Answer: {answer}",
        "Which option does the answer choose? Reply with that option's letter alone. If the answer "
        f"chooses no option, or more than one, reply '{A1_JUDGE_NONE}'.",
    ])


def a1_prompt_fields(settings) -> dict:
    """The A1 prompt style of a run (``qbench_tasks.settings.RunSettings``): a document column."""
    return {"prompt_style": settings["a1_prompt_style"]}


def a3_prompt_fields(settings) -> dict:
    """The A3 prompt, answer prefix, choice words and level words/weights of a run
    (``qbench_tasks.settings.RunSettings``, whose types are checked there); ``choices`` lists
    every word to score once, the two choice words first."""
    given = settings.given
    enabled = settings["a3_levels"] if "a3_levels" in given else "a3_level_words" in given  # words: levels wanted
    if "a3_level_weights" in given and not enabled:
        raise ValueError(f"--metadata a3_levels must be true for a3_level_weights to apply, got {enabled!r}")
    levels = list(settings["a3_level_words"]) if enabled else []
    # Q-Align's weights are the default for Q-Align's words only.
    weights = settings["a3_level_weights"] if "a3_level_weights" in given or "a3_level_words" not in given else None
    if enabled and (weights is None or len(weights) != len(levels)):
        raise ValueError(f"--metadata a3_level_weights needs one number per word of a3_level_words, "
                         f"got {levels!r} and {weights!r}")
    words = list(settings["a3_choice_words"])
    return {
        "prompt": settings["a3_prompt"],
        "answer_prefix": settings["a3_answer_prefix"],
        "answer_prefix_side": settings["a3_answer_prefix_side"],
        "choice_words": words,
        "level_words": levels,
        "level_weights": [float(w) for w in weights] if levels else [],
        "choices": list(dict.fromkeys(words + levels)),
    }


# A2: the description prompt, and the judge's three questions. The completeness question is the
# authors' wording verbatim; precision and relevance follow its form. [MLLM_DESC] / [GOLDEN_DESC]
# are replaced by the model's and the expert's descriptions.
A2_PROMPT = "Describe the quality, aesthetics and other low-level appearance of the image in details."
A2_JUDGE_SYSTEM = "You are a helpful assistant."
A2_JUDGE_QUESTIONS = {
    "completeness": (
        "Evaluate whether the description [MLLM_DESC] completely includes the low-level visual "
        "information in the reference description [GOLDEN_DESC]. Please rate score 2 for "
        "completely or almost completely including reference information, 0 for not including "
        "at all, 1 for including part of the information or similar description. Please only "
        "provide the result in the following format: Score:"
    ),
    "precision": (
        "Evaluate whether the description [MLLM_DESC] precisely reflects the low-level visual "
        "information in the reference description [GOLDEN_DESC], or contradicts it. Please rate "
        "score 2 for no contradiction with the reference, 1 for some contradictions, 0 for "
        "contradicting the reference in everything it says. Please only provide the result in "
        "the following format: Score:"
    ),
    "relevance": (
        "Evaluate whether the description [MLLM_DESC] is relevant to the low-level visual "
        "information of the image, such as blur, noise, exposure, artifact, color, lighting, "
        "focus and composition. Please rate score 2 for completely relevant, 1 for partly "
        "relevant, 0 for totally irrelevant. Please only provide the result in the following "
        "format: Score:"
    ),
}
# Relevance alone is judged without a golden description.
A2_GOLDEN_FREE_DIMENSIONS = ("relevance",)


def a2_judge_question(dimension: str, description: str, golden: str | None) -> str:
    """The user turn asking the judge for ``dimension``'s 0/1/2 score."""
    texts = {"MLLM_DESC": description, "GOLDEN_DESC": golden or ""}
    # One pass, so a description that happens to contain "[GOLDEN_DESC]" stays as written.
    return re.sub(r"\[(MLLM_DESC|GOLDEN_DESC)\]", lambda m: texts[m[1]], A2_JUDGE_QUESTIONS[dimension])


def judge_flat_prompt(question: str, system: str = A2_JUDGE_SYSTEM) -> str:
    """System and user turn as one text, the authors' layout, for judges without a chat template."""
    return f"#System: {system} #User: {question}"


# CLIP-IQA's prompt pair (positive, negative): the score is the softmax weight of the first.
CLIP_IQA_PROMPTS = ("Good photo.", "Bad photo.")
