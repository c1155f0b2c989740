"""Credentials never reach a file: what looks like one is replaced by ``<redacted>``.

A credential is a value named ``api_key`` / ``apikey`` / ``token`` (``access_token``,
``auth_token``, ``hf_token``, ...) / ``secret`` (``client_secret``) / ``password`` / ``passwd``:
as a ``name=value`` part of an lm-eval ``model_args`` string (also inside JSON held in a string,
as a logged document's judge settings are), or as a dict key. Used on everything Q-Bench writes
(results and samples through ``model_wrappers.redaction``, ``qbench judge``'s files, documents'
judge settings) so that results files can be shared. The environment is the better place for a
key (``OPENAI_API_KEY``, ...): nothing here sees it.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
_NAME = r"(?:api[_-]?key|apikey|(?:access_|auth_|hf_|bearer_|api_)?token|(?:client_)?secret|password|passwd)"
_ASSIGNMENT = re.compile(rf"(\b{_NAME}\s*=\s*)([^,\s\"'\\]+)", re.I)
_KEY = re.compile(rf"{_NAME}", re.I)


def redact_text(text: str) -> str:
    """``text`` with the value of every ``<credential name>=value`` replaced."""
    return _ASSIGNMENT.sub(lambda match: match[1] + REDACTED, text)


def redact(value):
    """A copy of ``value`` (dicts, lists, tuples, strings, nested) with credentials replaced."""
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and _KEY.fullmatch(key) and item else redact(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
