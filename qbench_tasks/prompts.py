"""Every prompt and answer word Q-Bench uses, in one place.

A1 lists the options as lettered lines after the question. The default style ends with the
instruction of the authors' later evaluation scripts; ``llava`` is the original LLaVA-script
wording (selectable per run with --metadata '{"a1_prompt_style": "llava"}').

A3 follows the official Q-Bench scoring code: the user turn asks for a rating, the assistant turn
is pre-filled with ``A3_ANSWER_PREFIX`` and the next token is compared between the two choice
words. Per-model wording (e.g. "The answer is", or InstructBLIP-T5's high/low) is chosen at run
time with ``--metadata`` (keys below), never by copying task YAML.
"""

from qbench_tasks.llvisionqa import OPTION_LETTERS

A3_PROMPT = "Rate the quality of the image."
A3_ANSWER_PREFIX = "The quality of the image is"
# (positive, negative): the score is the softmax weight of the first.
A3_CHOICE_WORDS = ("good", "poor")

# --metadata keys that override the three facts above for every A3 task in a run.
A3_PROMPT_KEY = "a3_prompt"
A3_ANSWER_PREFIX_KEY = "a3_answer_prefix"
A3_CHOICE_WORDS_KEY = "a3_choice_words"


A1_PROMPT_STYLE_KEY = "a1_prompt_style"
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
    raise ValueError(f"--metadata {A1_PROMPT_STYLE_KEY} must be one of {A1_PROMPT_STYLES}, got {style!r}")


def a1_prompt_fields(metadata: dict) -> dict:
    """The A1 prompt style for a run (checked here, so a typo fails before any model call)."""
    style = metadata.get(A1_PROMPT_STYLE_KEY, A1_PROMPT_STYLES[0])
    a1_prompt("", [], style)
    return {"prompt_style": style}


def a3_prompt_fields(metadata: dict) -> dict:
    """The A3 prompt, answer prefix and choice words for a run, defaults overridden by metadata."""
    words = metadata.get(A3_CHOICE_WORDS_KEY, A3_CHOICE_WORDS)
    if (
        isinstance(words, str)
        or len(words) != 2
        or not all(isinstance(w, str) and w.strip() for w in words)
    ):
        raise ValueError(
            f"--metadata {A3_CHOICE_WORDS_KEY} must be two words [positive, negative], got {words!r}"
        )
    return {
        "prompt": metadata.get(A3_PROMPT_KEY, A3_PROMPT),
        "answer_prefix": metadata.get(A3_ANSWER_PREFIX_KEY, A3_ANSWER_PREFIX),
        "choice_words": [w.strip() for w in words],
    }
