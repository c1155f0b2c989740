"""Credentials never reach a file: what looks like one is replaced by ``<redacted>``.

A credential is the value of any name that names a key, token, secret, password, credential or
authorization: one of the name's words (split at ``_``, ``-``, ``.`` and lower-to-upper case) is
one of ``SECRET_WORDS`` (``api_key``, ``openai_api_key``, ``OPENAI_API_KEY``, ``secret_key``,
``session_token``, ``hf_token``, ``x-api-key``, ``apiKey``, ``Authorization``, ...), unless the
name is a tokenizer's (``add_bos_token``, ``pad_token_id``). It is found as a ``name=value`` part
of an lm-eval args string, as a ``"name": "value"`` pair inside a string (JSON or a dict's repr,
as a logged document's judge settings are), as a dict key (``--metadata``, task configs), and as
``Bearer <token>``. Used on everything Q-Bench writes (results and samples through
``model_wrappers.redaction``, ``qbench judge``'s files, documents' judge settings) so that results
files can be shared. The environment is the better place for a key (``OPENAI_API_KEY``, ...):
nothing here sees it.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
SECRET_WORDS = frozenset({"key", "apikey", "token", "secret", "password", "passwd", "pwd", "passphrase",
                          "credential", "credentials", "authorization", "auth", "bearer", "cookie"})
# Words that make a "token" name a tokenizer setting, not a credential.
_TOKENIZER_WORDS = frozenset({"bos", "eos", "pad", "unk", "sep", "cls", "mask", "special", "image", "video", "id"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_NAME = r"[A-Za-z_][\w.\-]{0,100}"
_ASSIGNMENT = re.compile(rf"(?<![\w.\-])({_NAME})(\s{{0,8}}=\s{{0,8}})([^,\s\"'\\]+)")
_QUOTED_PAIR = re.compile(rf"([\"'])({_NAME})\1(\s{{0,8}}:\s{{0,8}})([\"'])((?:(?!\4)[^\\]|\\.)*)\4")
_BEARER = re.compile(r"\b(Bearer\s{1,8})([\w.~+/=\-]+)")


def names_credential(name: str) -> bool:
    """Whether ``name`` (an argument, setting or dict key) names a credential (module docstring)."""
    words = {word.lower() for word in _WORD.findall(name)}
    return bool(words & SECRET_WORDS) and not words & _TOKENIZER_WORDS


def redact_text(text: str) -> str:
    """``text`` with the value of every credential-naming ``name=value`` and ``"name": "value"``
    pair, and every ``Bearer`` token, replaced."""
    text = _ASSIGNMENT.sub(lambda m: m[1] + m[2] + REDACTED if names_credential(m[1]) else m[0], text)
    text = _QUOTED_PAIR.sub(
        lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}{REDACTED}{m[4]}" if names_credential(m[2]) and m[5] else m[0],
        text)
    return _BEARER.sub(lambda m: m[1] + REDACTED, text)


def redact(value):
    """A copy of ``value`` (dicts, lists, tuples, strings, nested) with credentials replaced."""
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and names_credential(key) and item else redact(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
