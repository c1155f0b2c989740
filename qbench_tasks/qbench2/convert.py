"""The Q-Bench+ release's pair files -> the pair dataset on disk, in Q-Bench2-HF's layout
(``qbench convert a1pair``)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from qbench_tasks.a1 import llvisionqa
from qbench_tasks.data.conversion import CardFacts, ConversionReport, checked_label_rows, convert_split, split_card
from qbench_tasks.qbench2 import pairs

PAIR_FEATURES = datasets.Features(
    {
        "image1": datasets.Image(),
        "image2": datasets.Image(),
        "img_path": datasets.Value("string"),  # the release's one name for the pair
        "id": datasets.Value("string"),
        "question": datasets.Value("string"),
        **{f"option{i}": datasets.Value("string") for i in range(llvisionqa.MAX_OPTIONS)},
        "question_type": datasets.Value("int64"),
        "question_concern": datasets.Value("int64"),
        "correct_choice": datasets.Value("string"),  # a letter; null in the test split
    }
)


def read_a1pair_labels(labels: Path, split: str) -> list[dict]:
    """The rows of a Q-Bench+ release label file, checked, in Q-Bench2-HF's layout."""
    return checked_label_rows(labels, split, pairs.pair_row_problem, pairs.hub_layout, per_question=True)


LLVISIONQA_PAIRS_FACTS = CardFacts(
    title="Q-Bench+ image pairs",
    license="other",
    source=(
        "The Q-Bench+ (Q-Bench2) release `q-future/q-bench2`: a label file of pair questions "
        "(`q-bench2-a1-dev.jsonl` or `-test.jsonl`) and its single images (`all_single_images/`); "
        "the same questions are on the Hugging Face hub as `q-future/Q-Bench2-HF`."
    ),
    licensing=(
        "The images come from public IQA databases and AI-generated sets under their own terms; "
        "check the Q-Bench+ release's terms before redistributing this dataset."
    ),
)


def convert_a1pair(
    labels: str | os.PathLike,
    images: str | os.PathLike,
    split: str,
    out: str | os.PathLike,
    skip_bad: bool = False,
    facts: CardFacts = LLVISIONQA_PAIRS_FACTS,
    allow_outside_images: bool = False,
) -> ConversionReport:
    """A Q-Bench+ release label file + the release folder (``images``: the folder holding
    ``all_single_images/``, or that folder itself) -> split ``split`` of ``out/llvisionqa_pairs``,
    in Q-Bench2-HF's layout, each row's two single images in ``image1`` / ``image2``."""
    singles = pairs.SINGLES_FOLDER + "/" if (Path(images) / pairs.SINGLES_FOLDER).is_dir() else ""
    return convert_split(labels, images, split, pairs.SPLITS, Path(out) / pairs.DATASET_NAME,
                         read_a1pair_labels, PAIR_FEATURES,
                         lambda counts: split_card("llvisionqa_pairs.md", pairs.IDENTITY, facts, counts),
                         skip_bad, allow_outside_images, pairs.IMAGE_COLUMNS,
                         lambda row: [singles + name for name in pairs.single_images(row["img_path"])])
