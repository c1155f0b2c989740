"""``qbench export a1|a2``: lm-eval's logged samples -> the official submission files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qbench_tasks.a1_answers import extract_choice
from qbench_tasks.a1_scoring import response_of
from qbench_tasks.llvisionqa import question_of


class WrongSamplesError(ValueError):
    """A samples file of another task than the export is for (e.g. A3 samples to ``export a2``)."""


def read_samples(path: Path, kind: str | None = None) -> list[dict]:
    """The records of an lm-eval ``--log_samples`` JSON-lines file, in document order; with
    ``kind`` ("a1", "a2"), each checked to be a sample of that kind of task."""
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
        problem = kind and SAMPLE_CHECKS[kind][1](sample)
        if problem:
            raise WrongSamplesError(f"{path}: line {number} is not a sample of {SAMPLE_CHECKS[kind][0]} ({problem})")
        samples.append(sample)
    return sorted(samples, key=lambda s: s.get("doc_id", 0))


def _a1_generation_problem(sample: dict) -> str | None:
    doc, results = sample["doc"], sample["filtered_resps"]
    if "question" not in doc or not ("candidates" in doc or "option0" in doc):
        return "its document is no A1 question"
    if len(results) != 1 or not isinstance(results[0], (str, dict)):
        return f"{len(results)} results where an A1 generation task has one answer; multiple-choice " \
               "tasks (qbench_a1_*_mc) score options, they give no answer to export"
    return None


def _a2_problem(sample: dict) -> str | None:
    if "golden_description" not in sample["doc"]:
        return "its document is no LLDescribe image"
    resps = sample.get("resps")
    if not (isinstance(resps, list) and len(resps) == 1 and isinstance(resps[0], list)
            and len(resps[0]) == 1 and isinstance(resps[0][0], str)):
        return "its response is not one generated description"
    return None


# kind -> (what its samples come from, the check of one sample)
SAMPLE_CHECKS = {
    "a1": ("an A1 generation task (qbench_a1_dev, qbench_a1_test)", _a1_generation_problem),
    "a2": ("an A2 task (qbench_a2)", _a2_problem),
}


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
    rows = a1_submission(read_samples(Path(samples_file), "a1"))
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
    rows = a2_submission(read_samples(Path(samples_file), "a2"))
    Path(out).write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(rows)
