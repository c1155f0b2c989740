"""``qbench export abench``: logged A-Bench answers -> the file the A-Bench authors take
(their README's ``results.jsonl``: each ``Abench.json`` item with the model's ``response``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.llvisionqa import question_of
from qbench_tasks.a1.scoring import response_of
from qbench_tasks.samples import SampleKind, read_samples


def _abench_generation_problem(sample: dict) -> str | None:
    doc, results = sample["doc"], sample["filtered_resps"]
    if "category" not in doc or "option0" not in doc:
        return "its document is no A-Bench question"
    if len(results) != 1 or not isinstance(results[0], (str, dict)):
        return f"{len(results)} results where an A-Bench generation task has one answer; abench_dev_mc scores " \
               "options, it gives no answer to export"
    return None


ABENCH_GENERATION = SampleKind("an A-Bench generation task (abench_test, abench_dev)", _abench_generation_problem)


def abench_submission(samples: list[dict]) -> list[dict]:
    """One ``Abench.json`` item per question, with the model's ``response`` and ``pred_ans``
    (the chosen answer's text, or None where the response named none)."""
    rows = []
    for sample in samples:
        doc = sample["doc"]
        question = question_of(doc)
        response = response_of(sample["filtered_resps"][0])
        chosen = extract_choice(response, question.options)
        rows.append({"img_path": doc.get("img_path") or str(doc["id"]), "question": question.question,
                     "answers": list(question.options), "category": doc["category"], "response": response,
                     "pred_ans": None if chosen is None else question.options[chosen]})
    return rows


def export_abench(samples_file: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the submission file (JSON Lines); return the number of questions in it."""
    rows = abench_submission(read_samples(Path(samples_file), ABENCH_GENERATION))
    Path(out).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return len(rows)
