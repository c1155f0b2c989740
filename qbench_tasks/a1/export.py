"""``qbench export a1``: logged A1 (or Q-Bench+) answers -> the official submission file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.llvisionqa import question_of
from qbench_tasks.a1.scoring import response_of
from qbench_tasks.samples import SampleKind, read_samples


def _a1_generation_problem(sample: dict) -> str | None:
    doc, results = sample["doc"], sample["filtered_resps"]
    if "question" not in doc or not ("candidates" in doc or "option0" in doc):
        return "its document is no A1 question"
    if "category" in doc:
        return "an A-Bench question: `qbench export abench` writes A-Bench's submission file"
    if len(results) != 1 or not isinstance(results[0], (str, dict)):
        return f"{len(results)} results where an A1 generation task has one answer; multiple-choice " \
               "tasks (qbench_a1_*_mc) score options, they give no answer to export"
    return None


A1_GENERATION = SampleKind("an A1 or Q-Bench+ generation task (qbench_a1_dev, qbench_a1_test, qbench2_a1_*)",
                           _a1_generation_problem)


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
    rows = a1_submission(read_samples(Path(samples_file), A1_GENERATION))
    Path(out).write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(rows)
