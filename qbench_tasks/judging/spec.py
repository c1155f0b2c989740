"""Which judge to ask and how: ``JudgeSpec``, from the ``judge_<field>`` settings (whose types,
defaults and meanings ``qbench_tasks.settings`` declares).

The spec travels in documents as public JSON (credentials redacted); the live spec, with its
credentials, stays in this process (``from_json`` finds it).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from qbench_tasks.credentials import redact_text
from qbench_tasks.data.location import cache_dir
from qbench_tasks.judging.cache import ReplyCache
from qbench_tasks.settings import SETTINGS, RunSettings, check_value


def _default(field: str):
    return SETTINGS[f"judge_{field}"].default


@dataclass(frozen=True)
class JudgeSpec:
    """Which judge to ask and how: each field is the setting ``judge_<field>``."""

    model: str  # an lm-eval model name: local-chat-completions, openai-chat-completions, hf, ...
    model_args: str = _default("model_args")
    rounds: int = _default("rounds")
    retries: int = _default("retries")
    temperature: float = _default("temperature")
    max_tokens: int = _default("max_tokens")
    chat: bool | None = _default("chat")  # None: when the judge has a chat template
    cache: str | None = _default("cache")  # None: <qbench cache dir>/judge-replies.sqlite3
    timeout: int = _default("timeout")

    def __post_init__(self):
        """Each field checked as its setting is (a spec is also built by ``qbench judge`` and in code)."""
        for field in self.__dataclass_fields__:
            value = getattr(self, field)
            # None is "unset" where that is the setting's default (chat: auto; cache: the default file).
            if value is not None or _default(field) is not None or field == "model":
                object.__setattr__(self, field, check_value(f"judge_{field}", value, where=""))

    @classmethod
    def from_settings(cls, settings: RunSettings) -> JudgeSpec | None:
        """The run's judge, or None when ``judge_model`` is not given."""
        given = sorted(name for name in settings.given if name.startswith("judge_"))
        if not settings["judge_model"]:
            if given:
                raise ValueError(f"--metadata sets {given} but no judge_model")
            return None
        spec = cls(**{field: settings[f"judge_{field}"] for field in cls.__dataclass_fields__})
        ReplyCache(spec.cache_path()).close()  # an unusable cache file fails the run now, not after generation
        return spec

    def public(self) -> JudgeSpec:
        """This spec with any credential in its model_args redacted: what may be written down."""
        return dataclasses.replace(self, model_args=redact_text(self.model_args))

    def to_json(self) -> str:
        """The spec for a document column: its public form (datasets caches columns on disk and
        samples log documents); the spec itself stays in this process, found by ``from_json``."""
        text = json.dumps(asdict(self.public()), sort_keys=True)
        _LIVE_SPECS[text] = self
        return text

    @classmethod
    def from_json(cls, text: str) -> JudgeSpec | None:
        return _LIVE_SPECS.get(text) or (cls(**json.loads(text)) if text else None)

    def cache_path(self) -> Path:
        return Path(self.cache).expanduser() if self.cache else cache_dir() / "judge-replies.sqlite3"

    def reply_chars(self) -> int:
        """How much of a reply is read and kept: room for ``max_tokens`` tokens of 8 characters,
        and at least 8,192 characters."""
        return max(8192, 8 * self.max_tokens)

    def identity(self) -> dict:
        """What a reply depends on besides prompt, round and attempt (the cache key's judge part)."""
        return {"model": self.model, "model_args": redact_text(self.model_args), "temperature": self.temperature,
                "max_tokens": self.max_tokens, "chat": self.chat}


# Specs handed to documents in this process, by their public JSON (credentials kept out of it).
_LIVE_SPECS: dict[str, JudgeSpec] = {}
