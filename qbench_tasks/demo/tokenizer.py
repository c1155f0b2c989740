"""The tokenizer every locally built model uses: byte-level BPE trained on a small corpus.

Light on purpose (tokenizers, transformers and the prompts only): ``bench/gpu_a3.py`` builds
its model from it on a bare GPU machine. The demo adds its own questions and descriptions to
the corpus (``demo.model.demo_tokenizer``).
"""

from __future__ import annotations

import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from qbench_tasks import prompts

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", IMAGE_TOKEN]

_QUALITY_WORDS = ["good", "poor", "high", "low", "excellent", "bad", "fair", "fine", "average"]
_LOW_LEVEL_WORDS = [
    "blur", "noise", "exposure", "artifact", "color", "lighting", "focus", "composition",
    "sharp", "clear", "dark", "bright", "compression", "distortion", "image", "photo",
]


def base_corpus() -> list[str]:
    """Sentences in the register the models will see: the Q-Bench prompts and answers."""
    lines = [
        prompts.A3_PROMPT,
        f"{prompts.A3_ANSWER_PREFIX} good.",
        "USER: Rate the quality of the image. ASSISTANT: The answer is",
    ]
    for word in _QUALITY_WORDS:
        lines.append(f"{prompts.A3_ANSWER_PREFIX} {word}.")
        lines.append(f"The {word} image has {word} quality and {word} clarity.")
    for word in _LOW_LEVEL_WORDS:
        lines.append(f"Is there {word} in the image? Yes, the {word} is visible. No {word}.")
    lines += [f"{letter}. {letter}) ({letter}) Answer: {letter}" for letter in "ABCD"]
    return lines


def train_tokenizer(corpus: list[str], vocab_size: int = 1024) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (GPT-2/LLaMA-3 style) trained on ``corpus``."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    bos_id = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=512,
    )
    for word in prompts.A3_CHOICE_WORDS:
        ids = fast(" " + word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"fixture tokenizer splits ' {word}' into {ids}; A3 needs one token")
    return fast
