"""Every ``--metadata`` key Q-Bench reads, declared once: name, type, default and meaning.

``read_settings`` is the one reader: the task loaders ask it for typed values and nothing else
looks at ``--metadata``. A value of the wrong type is an error naming the key and the type it
needs; a key in Q-Bench's namespaces that is no setting is an error naming the closest one (a
mistyped ``qbench_data_dir`` used to be ignored, and the run then scored whatever
``$QBENCH_DATA_DIR`` pointed at). Keys outside the namespaces (lm-eval's own, the model's
arguments) are left alone. ``qbench settings`` prints the table, and docs/settings.md's copy of it is
checked against ``settings_table()`` by a test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches

from qbench_tasks import prompts

NAMESPACES = ("qbench_", "a1_", "a2_", "a3_", "judge_", "jpeg_")


@dataclass(frozen=True)
class Kind:
    """A setting's type: what a user reads (``what``), the check and the conversion to use."""

    what: str
    accepts: Callable[[object], bool]
    convert: Callable[[object], object] = lambda value: value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(minimum: int) -> Kind:
    return Kind(f"a whole number >= {minimum}",
                lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum)


def _one_of(*options: str) -> Kind:
    return Kind(" or ".join(json.dumps(o) for o in options), lambda v: v in options)


def _words(count: str, enough: Callable[[int], bool]) -> Kind:
    """A list of distinct non-empty words (stripped of surrounding spaces)."""
    def accepts(value) -> bool:
        words = [w.strip() for w in value] if isinstance(value, (list, tuple)) and all(
            isinstance(w, str) for w in value) else None
        return words is not None and all(words) and len(set(words)) == len(words) and enough(len(words))
    return Kind(f"a list of {count} distinct words", accepts, lambda value: [w.strip() for w in value])


BOOL = Kind("true or false", lambda v: isinstance(v, bool))
TEXT = Kind("a string", lambda v: isinstance(v, str))
FOLDER = Kind("a folder path", lambda v: isinstance(v, str) and v != "")
FILE = Kind("a file path", lambda v: isinstance(v, str) and v != "")
NUMBERS = Kind("a list of numbers", lambda v: isinstance(v, (list, tuple)) and all(map(_is_number, v)),
               lambda value: [float(v) for v in value])


@dataclass(frozen=True)
class Setting:
    name: str
    kind: Kind
    default: object  # None: unset (``shown`` says what then happens)
    meaning: str
    shown: str = ""  # the docs' form of the default, when JSON of ``default`` would not say it

    def shown_default(self) -> str:
        return self.shown or f"`{json.dumps(self.default)}`"


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("qbench_data_dir", FOLDER, None, "folder of converted datasets (`qbench convert`, `qbench fetch`)",
            "`$QBENCH_DATA_DIR`; A3: else `data/` in the cache folder"),
    Setting("qbench_fetch", BOOL, True, "an A3 task with no data fetches it (`qbench fetch a3`); "
            "`QBENCH_FETCH=0` also turns this off"),
    Setting("a1_prompt_style", _one_of(*prompts.A1_PROMPT_STYLES), prompts.A1_PROMPT_STYLES[0],
            "A1 prompt wording; `\"llava\"`: the original LLaVA-script wording"),
    Setting("a1_judge", BOOL, False, "judge-assisted answer matching for A1 generation (needs `judge_model`)"),
    Setting("a3_prompt", TEXT, prompts.A3_PROMPT, "the A3 question"),
    Setting("a3_answer_prefix", TEXT, prompts.A3_ANSWER_PREFIX, "the A3 assistant turn's start"),
    Setting("a3_choice_words", _words("2", lambda n: n == 2), list(prompts.A3_CHOICE_WORDS),
            "[positive, negative] next-token words of the official A3 score"),
    Setting("a3_answer_prefix_side", _one_of("encoder", "decoder"), "encoder",
            "encoder-decoder models (InstructBLIP / BLIP-2 with Flan-T5): the answer prefix goes to the encoder "
            "with the prompt (lm-eval's seq2seq convention) or starts the decoder; others ignore it"),
    Setting("a3_levels", BOOL, None, "also score Q-Align's levels (`srcc_levels`, `plcc_levels`)",
            "`false`; `true` when `a3_level_words` is given"),
    Setting("a3_level_words", _words("2 or more", lambda n: n >= 2), list(prompts.A3_LEVEL_WORDS),
            "the level words, best first"),
    Setting("a3_level_weights", NUMBERS, list(prompts.A3_LEVEL_WEIGHTS),
            "one weight per level word (required with `a3_level_words`)"),
    Setting("jpeg_draft", BOOL, False, "decode JPEGs at reduced DCT scale (A3; see Performance)"),
    Setting("judge_model", TEXT, None, "the judge for A2 (and `a1_judge`): an lm-eval model name", "none"),
    Setting("judge_model_args", TEXT, "", "lm-eval's model_args string for the judge"),
    Setting("judge_rounds", _whole(1), 5, "each judgement is asked this many times and averaged"),
    Setting("judge_retries", _whole(0), 2, "extra asks for a reply without a readable score"),
    Setting("judge_temperature", Kind("a number >= 0", lambda v: _is_number(v) and v >= 0, float), 1.0,
            "judge sampling temperature (> 0: rounds are independent samples, as in the paper)"),
    Setting("judge_max_tokens", _whole(1), 32, "longest judge reply, in tokens"),
    Setting("judge_chat", BOOL, None, "system + user messages to the judge",
            "auto: when the judge has a chat template"),
    Setting("judge_cache", FILE, None, "SQLite file of judge replies", "`judge-replies.sqlite3` in the cache folder"),
    Setting("judge_timeout", _whole(1), 60, "deadline in seconds for each whole request to an API judge"),
)}


def check_value(name: str, value, where: str = "--metadata "):
    """``value`` converted to setting ``name``'s type; a ValueError naming both when it is not one."""
    setting = SETTINGS[name]
    if not setting.kind.accepts(value):
        raise ValueError(f"{where}{name} must be {setting.kind.what}, got {value!r}")
    return setting.kind.convert(value)


class RunSettings(Mapping):
    """A run's settings: every setting's value (default where not given) and which were given."""

    def __init__(self, given: Mapping[str, object]):
        self.given = frozenset(given)
        self._values = {name: check_value(name, given[name]) if name in given else setting.default
                        for name, setting in SETTINGS.items()}

    def __getitem__(self, name: str):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def read_settings(metadata: Mapping) -> RunSettings:
    """The run's settings from lm-eval's ``--metadata`` (task loaders' keyword arguments)."""
    for key in metadata:
        if isinstance(key, str) and key.startswith(NAMESPACES) and key not in SETTINGS:
            closest = get_close_matches(key, SETTINGS, n=1, cutoff=0)
            raise ValueError(f"--metadata key {key!r} is not a Q-Bench setting; did you mean {closest[0]!r}? "
                             f"(settings: {', '.join(SETTINGS)}; `qbench settings` describes them)")
    return RunSettings({key: value for key, value in metadata.items() if key in SETTINGS})


def settings_table() -> str:
    """The settings as a Markdown table: docs/settings.md's, and ``qbench settings``'s output."""
    rows = ["| key | type | default | what |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | {s.kind.what} | {s.shown_default()} | {s.meaning} |" for s in SETTINGS.values()]
    return "\n".join(rows)
