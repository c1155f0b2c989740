"""``qbench export a2``: logged A2 descriptions -> the submission file the Q-Bench authors ask for."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbench_tasks.samples import SampleKind, read_samples


def _a2_problem(sample: dict) -> str | None:
    if "golden_description" not in sample["doc"] or "img_path" not in sample["doc"]:
        return "its document is no LLDescribe image"
    resps = sample.get("resps")
    if not (isinstance(resps, list) and len(resps) == 1 and isinstance(resps[0], list)
            and len(resps[0]) == 1 and isinstance(resps[0][0], str)):
        return "its response is not one generated description"
    return None


A2_DESCRIPTIONS = SampleKind("an A2 task (qbench_a2)", _a2_problem)


def description_of(sample: dict) -> str:
    """The model's description in an A2 sample record (its unfiltered response)."""
    return sample["resps"][0][0]


def a2_submission(samples: list[dict]) -> list[dict]:
    """One ``{img_path, description}`` per image, as the Q-Bench authors ask for A2."""
    return [{"img_path": sample["doc"]["img_path"], "description": description_of(sample)} for sample in samples]


def export_a2(samples_file: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the A2 submission file; return the number of descriptions in it."""
    rows = a2_submission(read_samples(Path(samples_file), A2_DESCRIPTIONS))
    Path(out).write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(rows)
