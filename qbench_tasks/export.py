"""``qbench export a1|a2``: lm-eval's logged samples -> the official submission files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbench_tasks.a1_answers import extract_choice
from qbench_tasks.a1_scoring import response_of
from qbench_tasks.llvisionqa import question_of


def read_samples(path: Path) -> list[dict]:
    """The records of an lm-eval ``--log_samples`` JSON-lines file, in document order."""
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
            sample["doc"], sample["filtered_resps"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: line {number} is not an lm-eval sample record ({err})") from None
        samples.append(sample)
    return sorted(samples, key=lambda s: s.get("doc_id", 0))


def a1_submission(samples: list[dict]) -> list[dict]:
    """One official label object per question, with the model's ``response`` and ``pred_ans``
    (the chosen option's text, or None where the response named no option)."""
    rows = []
    for sample in samples:
        question = question_of(sample["doc"])
        response = response_of(sample["filtered_resps"][0])
        chosen = extract_choice(response, question.options)
        row = {
            "type": question.type,
            "concern": question.concern,
            "question": question.question,
            "img_path": question.img_path,
            "candidates": list(question.options),
        }
        if question.answer is not None:
            row["correct_ans"] = question.options[question.answer]
        rows.append({**row, "response": response,
                     "pred_ans": None if chosen is None else question.options[chosen]})
    return rows


def export_a1(samples_file: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the submission file; return the number of questions in it."""
    rows = a1_submission(read_samples(Path(samples_file)))
    Path(out).write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(rows)


def description_of(sample: dict) -> str:
    """The model's description in an A2 sample record (its unfiltered response)."""
    return sample["resps"][0][0]


def a2_submission(samples: list[dict]) -> list[dict]:
    """One ``{img_path, description}`` per image, as the Q-Bench authors ask for A2."""
    return [{"img_path": sample["doc"]["img_path"], "description": description_of(sample)} for sample in samples]


def export_a2(samples_file: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the A2 submission file; return the number of descriptions in it."""
    rows = a2_submission(read_samples(Path(samples_file)))
    Path(out).write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(rows)
