"""Which judge to ask and how: ``JudgeSpec``, read from ``--metadata`` keys ``judge_<field>``.

The spec travels in documents as public JSON (credentials redacted); the live spec, with its
credentials, stays in this process (``from_json`` finds it).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from qbench_tasks.credentials import redact_text
from qbench_tasks.data.location import cache_dir
from qbench_tasks.judging.cache import ReplyCache


@dataclass(frozen=True)
class JudgeSpec:
    """Which judge to ask and how. From ``--metadata`` keys ``judge_<field>``."""

    model: str  # an lm-eval model name: local-chat-completions, openai-chat-completions, hf, ...
    model_args: str = ""  # lm-eval's model_args string for it
    rounds: int = 5  # each judgement is asked this many times and averaged
    retries: int = 2  # extra asks for a reply without a readable score
    temperature: float = 1.0  # > 0 so that rounds are independent samples, as in the paper
    max_tokens: int = 32
    chat: bool | None = None  # system + user messages; None: when the judge has a chat template
    cache: str = ""  # SQLite file of replies; "" = <qbench cache dir>/judge-replies.sqlite3
    timeout: int = 60  # seconds per request to an API judge (lm-eval's own default is 300)

    @classmethod
    def from_metadata(cls, metadata: dict) -> JudgeSpec | None:
        """The judge configured by ``metadata``, or None when ``judge_model`` is not given."""
        given = {name: metadata[f"judge_{name}"] for name in cls.__dataclass_fields__
                 if f"judge_{name}" in metadata}
        if not given.get("model"):
            if len(given) > ("model" in given):
                raise ValueError(f"--metadata sets {sorted('judge_' + k for k in given)} but no judge_model")
            return None
        spec = cls(**given)
        spec.check()
        ReplyCache(spec.cache_path()).close()  # an unusable cache file fails the run now, not after generation
        return spec

    def check(self) -> None:
        problems = []
        if not isinstance(self.model, str):
            problems.append(f"judge_model must be a model name, got {self.model!r}")
        if not isinstance(self.model_args, str):
            problems.append(f"judge_model_args must be a string like 'pretrained=...', got {self.model_args!r}")
        for name in ("rounds", "max_tokens", "timeout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"judge_{name} must be a whole number >= 1, got {value!r}")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            problems.append(f"judge_retries must be a whole number >= 0, got {self.retries!r}")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature < math.inf:
            problems.append(f"judge_temperature must be a number >= 0, got {self.temperature!r}")
        if self.chat not in (None, True, False):
            problems.append(f"judge_chat must be true or false, got {self.chat!r}")
        if not isinstance(self.cache, str):
            problems.append(f"judge_cache must be a file path, got {self.cache!r}")
        if problems:
            raise ValueError("; ".join(problems))

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

    def identity(self) -> dict:
        """What a reply depends on besides prompt, round and attempt (the cache key's judge part)."""
        return {"model": self.model, "model_args": redact_text(self.model_args), "temperature": self.temperature,
                "max_tokens": self.max_tokens, "chat": self.chat}


# Specs handed to documents in this process, by their public JSON (credentials kept out of it).
_LIVE_SPECS: dict[str, JudgeSpec] = {}
