"""lm-eval's logged samples (``--log_samples`` JSON lines), read and checked to be the right task's."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class WrongSamplesError(ValueError):
    """A samples file of another task than the export is for (e.g. A3 samples to ``export a2``)."""


@dataclass(frozen=True)
class SampleKind:
    """The samples a command reads: what they come from, and why one sample is not one (or None)."""

    what: str
    problem: Callable[[dict], str | None]


def read_samples(path: Path, kind: SampleKind | None = None) -> list[dict]:
    """The records of an lm-eval ``--log_samples`` JSON-lines file, in document order; with
    ``kind``, each checked to be a sample of that kind of task."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file ({err})") from None
    samples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {number} is not JSON ({err})") from None
        if not isinstance(sample, dict) or not isinstance(sample.get("doc"), dict) or "filtered_resps" not in sample:
            raise ValueError(f"{path}: line {number} is not an lm-eval sample record")
        doc_id = sample.get("doc_id", 0)
        if isinstance(doc_id, bool) or not isinstance(doc_id, int):
            raise ValueError(f"{path}: line {number} has doc_id {doc_id!r}, not a whole number")
        problem = kind.problem(sample) if kind else None
        if problem:
            raise WrongSamplesError(f"{path}: line {number} is not a sample of {kind.what} ({problem})")
        samples.append(sample)
    return sorted(samples, key=lambda s: s.get("doc_id", 0))
