"""Every prompt and answer word Q-Bench uses, in one place.

A3 follows the official Q-Bench scoring code: the user turn asks for a rating, the assistant turn
is pre-filled with ``A3_ANSWER_PREFIX`` and the next token is compared between the two choice
words. Per-model wording (e.g. "The answer is", or InstructBLIP-T5's high/low) is chosen at run
time with ``--metadata`` (keys below), never by copying task YAML.
"""

A3_PROMPT = "Rate the quality of the image."
A3_ANSWER_PREFIX = "The quality of the image is"
# (positive, negative): the score is the softmax weight of the first.
A3_CHOICE_WORDS = ("good", "poor")

# --metadata keys that override the three facts above for every A3 task in a run.
A3_PROMPT_KEY = "a3_prompt"
A3_ANSWER_PREFIX_KEY = "a3_answer_prefix"
A3_CHOICE_WORDS_KEY = "a3_choice_words"


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
