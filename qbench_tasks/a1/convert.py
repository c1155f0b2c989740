"""Official LLVisionQA release files -> the A1 dataset on disk (``qbench convert a1``)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from qbench_tasks.a1 import llvisionqa
from qbench_tasks.data.conversion import CardFacts, ConversionReport, checked_label_rows, convert_split, split_card

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
    return checked_label_rows(labels, split, llvisionqa.label_row_problem,
                              lambda i, row: {key: row.get(key) for key in LLVISIONQA_FEATURES if key != "image"})


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
    return convert_split(labels, images, split, llvisionqa.SPLITS, Path(out) / llvisionqa.DATASET_NAME,
                         read_a1_labels, LLVISIONQA_FEATURES, lambda counts: llvisionqa_card(facts, counts),
                         skip_bad, allow_outside_images)
