"""LLDescribe images (+ golden descriptions) -> the A2 dataset on disk (``qbench convert a2``)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from qbench_tasks.data.conversion import (
    CardFacts,
    ConversionError,
    ConversionReport,
    check_unique,
    image_rows,
    read_json_rows,
    with_image_hashes,
)
from qbench_tasks.data.location import dataset_identity
from qbench_tasks.data.parquet import write_parquet_dataset
from qbench_tasks.data_cards import render_card

LLDESCRIBE_FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "img_path": datasets.Value("string"),
        "golden_description": datasets.Value("string"),  # null where none was supplied
    }
)
LLDESCRIBE_NAME = "lldescribe"  # dataset folder under the data directory; split "test"
LLDESCRIBE_IDENTITY = dataset_identity("a2", LLDESCRIBE_NAME)
# Files taken as images when a folder is converted without a golden file (case-insensitive).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")

def read_golden_descriptions(golden: Path) -> list[dict]:
    """{img_path, golden_description} per row of a golden file, checked."""
    parsed: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(read_json_rows(golden)):
        where = f"{golden}: row {i}"
        if not isinstance(row, dict) or not isinstance(row.get("img_path"), str) or not row["img_path"]:
            raise ConversionError(f"{where}: expected an object with a string 'img_path', got {row!r:.120}")
        where = f"{where} ({row['img_path']})"
        description = row.get("golden_description")
        if not isinstance(description, str) or not description.strip():
            raise ConversionError(f"{where}: 'golden_description' must be a non-empty string, got {description!r:.80}")
        check_unique(golden, i, row["img_path"], seen)
        parsed.append({"img_path": row["img_path"], "golden_description": description})
    return parsed


def list_image_files(images: Path) -> list[dict]:
    """{img_path, golden_description: None} for every image file under ``images``, sorted."""
    paths = sorted(
        path.relative_to(images).as_posix()
        for path in images.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )
    if not paths:
        raise ConversionError(f"{images}: no image files ({', '.join(IMAGE_SUFFIXES)}) found")
    return [{"img_path": path, "golden_description": None} for path in paths]



LLDESCRIBE_FACTS = CardFacts(
    title="LLDescribe",
    license="other",
    source=(
        "The 499 LLDescribe images of the Q-Bench data release (`teowu/LLDescribe-QBench` on the "
        "Hugging Face hub). The expert golden descriptions are not public: rows carry one only "
        "where the converter was given a golden file."
    ),
    licensing=(
        "The images come from public IQA databases and AI-generated sets under their own terms; "
        "golden descriptions remain under the terms they were obtained under."
    ),
)


def lldescribe_card(facts: CardFacts, num_examples: int, num_golden: int) -> str:
    return render_card(
        "lldescribe.md",
        identity=LLDESCRIBE_IDENTITY,
        title=facts.title,
        license=facts.license,
        source=facts.source,
        licensing=facts.licensing,
        num_examples=num_examples,
        num_golden=num_golden,
    )



def convert_a2(
    images: str | os.PathLike,
    out: str | os.PathLike,
    golden: str | os.PathLike | None = None,
    skip_bad: bool = False,
    facts: CardFacts = LLDESCRIBE_FACTS,
    allow_outside_images: bool = False,
) -> ConversionReport:
    """LLDescribe images (+ optional golden file) -> ``out/lldescribe`` (split ``test``).

    With a golden file, its rows are the dataset (each needs its image); without, every image
    file under ``images`` is, with no golden description (only relevance can then be judged).
    """
    images = Path(images)
    if not images.is_dir():
        raise ConversionError(f"{images}: image folder not found")
    labels = Path(golden) if golden is not None else images
    rows = read_golden_descriptions(labels) if golden is not None else list_image_files(images)
    report = ConversionReport(out_dir=Path(out) / LLDESCRIBE_NAME, written=0)
    report.written = write_parquet_dataset(
        report.out_dir,
        "test",
        image_rows(labels, rows, images, skip_bad, report, allow_outside_images),
        with_image_hashes(LLDESCRIBE_FEATURES),
        lambda counts: lldescribe_card(facts, counts["test"], counts["test"] if golden is not None else 0),
    )
    return report
