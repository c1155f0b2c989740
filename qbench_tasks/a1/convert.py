"""Official LLVisionQA release files -> the A1 dataset on disk (``qbench convert a1``)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from qbench_tasks.a1 import llvisionqa
from qbench_tasks.data.conversion import (
    CardFacts,
    ConversionError,
    ConversionReport,
    check_unique,
    existing_inputs,
    image_rows,
    read_json_rows,
    split_card,
)
from qbench_tasks.data.parquet import write_parquet_dataset

LLVISIONQA_FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "img_path": datasets.Value("string"),
        "question": datasets.Value("string"),
        "candidates": datasets.List(datasets.Value("string")),
        "type": datasets.Value("int64"),
        "concern": datasets.Value("int64"),
        "correct_ans": datasets.Value("string"),  # null in the test split
    }
)

def read_a1_labels(labels: Path, split: str) -> list[dict]:
    """The rows of an official LLVisionQA label file, checked; the dev split needs answers."""
    parsed: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(read_json_rows(labels)):
        problem = llvisionqa.label_row_problem(row, needs_answer=split == "dev")
        if problem:
            name = f" ({row['img_path']})" if isinstance(row, dict) and isinstance(row.get("img_path"), str) else ""
            raise ConversionError(f"{labels}: row {i}{name}: {problem}")
        check_unique(labels, i, row["img_path"], seen)
        parsed.append({key: row.get(key) for key in LLVISIONQA_FEATURES if key != "image"})
    return parsed



LLVISIONQA_FACTS = CardFacts(
    title="LLVisionQA",
    license="cc-by-nc-sa-4.0",
    source=(
        "`llvisionqa_dev.json` / `llvisionqa_test.json` and `images_llvisionqa.tar` from the "
        "Q-Bench data release (`teowu/LLVisionQA-QBench` on the Hugging Face hub; the Q-Bench "
        "GitHub release `v1.0.1.1014datarelease`)."
    ),
    licensing=(
        "LLVisionQA is released under CC BY-NC-SA 4.0. The images come from public IQA "
        "databases and AI-generated sets under their own terms."
    ),
)



def llvisionqa_card(facts: CardFacts, counts: dict[str, int]) -> str:
    return split_card("llvisionqa.md", llvisionqa.IDENTITY, facts, counts)



def convert_a1(
    labels: str | os.PathLike,
    images: str | os.PathLike,
    split: str,
    out: str | os.PathLike,
    skip_bad: bool = False,
    facts: CardFacts = LLVISIONQA_FACTS,
    allow_outside_images: bool = False,
) -> ConversionReport:
    """Official LLVisionQA label file + image folder -> split ``split`` of ``out/llvisionqa``."""
    if split not in llvisionqa.SPLITS:
        raise ConversionError(f"unknown split {split!r}; choose from {llvisionqa.SPLITS}")
    labels, images = existing_inputs(labels, images)
    rows = read_a1_labels(labels, split)
    report = ConversionReport(out_dir=Path(out) / llvisionqa.DATASET_NAME, written=0)
    report.written = write_parquet_dataset(
        report.out_dir,
        split,
        image_rows(labels, rows, images, skip_bad, report, allow_outside_images),
        LLVISIONQA_FEATURES,
        lambda counts: llvisionqa_card(facts, counts),
    )
    return report
