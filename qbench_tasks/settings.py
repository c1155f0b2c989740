"""Every ``--metadata`` key Q-Bench reads, gathered from the modules that define them, and the
check that refuses a mistyped one: a key in Q-Bench's namespaces that is none of them is an error
naming the closest valid key (a mistyped ``qbench_data_dir`` used to be ignored, and the run then
scored whatever ``$QBENCH_DATA_DIR`` pointed at). Keys outside the namespaces (lm-eval's own, the
model's arguments) are left alone. The README's settings table lists exactly these (tested).
"""

from __future__ import annotations

from difflib import get_close_matches

from qbench_tasks.data.lazy_images import JPEG_DRAFT_KEY
from qbench_tasks.data.location import DATA_DIR_METADATA_KEY
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.prompts import (
    A1_JUDGE_KEY,
    A1_PROMPT_STYLE_KEY,
    A3_ANSWER_PREFIX_KEY,
    A3_CHOICE_WORDS_KEY,
    A3_LEVEL_WEIGHTS_KEY,
    A3_LEVEL_WORDS_KEY,
    A3_LEVELS_KEY,
    A3_PROMPT_KEY,
)

NAMESPACES = ("qbench_", "a1_", "a2_", "a3_", "judge_", "jpeg_")

SETTINGS = (
    DATA_DIR_METADATA_KEY, A1_PROMPT_STYLE_KEY, A1_JUDGE_KEY, A3_PROMPT_KEY, A3_ANSWER_PREFIX_KEY,
    A3_CHOICE_WORDS_KEY, A3_LEVELS_KEY, A3_LEVEL_WORDS_KEY, A3_LEVEL_WEIGHTS_KEY, JPEG_DRAFT_KEY,
    *(f"judge_{name}" for name in JudgeSpec.__dataclass_fields__),
)


def check_metadata(metadata: dict) -> None:
    """Refuse keys in Q-Bench's namespaces that are not settings, naming the closest one."""
    for key in metadata:
        if isinstance(key, str) and key.startswith(NAMESPACES) and key not in SETTINGS:
            closest = get_close_matches(key, SETTINGS, n=1, cutoff=0)
            raise ValueError(f"--metadata key {key!r} is not a Q-Bench setting; did you mean {closest[0]!r}? "
                             f"(settings: {', '.join(SETTINGS)})")
