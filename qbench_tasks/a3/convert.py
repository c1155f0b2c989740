"""Official A3 label files + image folders -> one dataset per database (``qbench convert a3``)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import datasets

from qbench_tasks.a3.databases import IQADatabase, get_database
from qbench_tasks.data.conversion import (
    ConversionError,
    ConversionReport,
    check_unique,
    existing_inputs,
    image_rows,
    read_json_rows,
    with_image_hashes,
)
from qbench_tasks.data.parquet import write_parquet_dataset
from qbench_tasks.data_cards import render_card

A3_FEATURES = datasets.Features(
    {"image": datasets.Image(), "img_path": datasets.Value("string"), "mos": datasets.Value("float64")}
)

# A number as label files write one: decimal, optionally with an exponent; NaN and infinity are
# read so that they are refused as not finite.
_DECIMAL = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*|\s*[+-]?(?i:nan|inf|infinity)\s*")


def read_a3_labels(labels: Path) -> list[dict]:
    """{img_path, mos} per row of an official A3 label file; ``gt_score`` may be a string."""
    parsed: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(read_json_rows(labels)):
        where = f"{labels}: row {i}"
        if not isinstance(row, dict) or not isinstance(row.get("img_path"), str):
            raise ConversionError(f"{where}: expected an object with a string 'img_path', got {row!r:.120}")
        img_path = row["img_path"]
        where = f"{where} ({img_path})"
        if "gt_score" not in row:
            raise ConversionError(f"{where}: no 'gt_score'")
        score = row["gt_score"]
        # float() also takes "1_000" and " 1e3"; only a plain decimal number is a MOS.
        if isinstance(score, bool) or isinstance(score, str) and not _DECIMAL.fullmatch(score):
            raise ConversionError(f"{where}: gt_score {score!r} is not a number")
        try:
            mos = float(score)  # also strips CGIQA-6K's trailing space
        except (TypeError, ValueError):
            raise ConversionError(f"{where}: gt_score {row['gt_score']!r} is not a number") from None
        if not math.isfinite(mos):
            raise ConversionError(f"{where}: gt_score {row['gt_score']!r} is not a finite number")
        check_unique(labels, i, img_path, seen)
        parsed.append({"img_path": img_path, "mos": mos})
    return parsed



def a3_card(db: IQADatabase, num_examples: int, source: str | None = None, licensing: str | None = None) -> str:
    return render_card(
        "qbench_a3.md",
        identity=db.identity,
        title=db.title,
        num_examples=num_examples,
        mos=db.mos,
        source=source
        or db.source
        or (
            f"Images: the {db.title} database ({db.homepage}). Labels: `{db.official_labels}` "
            "from the Q-Bench release (`a3_iqa_databases/jsons/`), `gt_score` cast to float."
        ),
        licensing=licensing
        or db.licensing
        or (
            f"The images and scores remain under the {db.title} database's own terms "
            f"({db.homepage}); check them before redistributing this dataset."
        ),
        citation_note=f"Please also cite the {db.title} database ({db.homepage}).",
    )



def convert_a3(
    database: str | IQADatabase,
    labels: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    skip_bad: bool = False,
    allow_outside_images: bool = False,
    card_source: str | None = None,
    card_licensing: str | None = None,
) -> ConversionReport:
    """Official A3 label file + image folder -> ``out/<database>`` (split ``test``); the card says
    where the files came from (``card_source``, ``card_licensing``: instead of the defaults)."""
    db = database if isinstance(database, IQADatabase) else get_database(database)
    labels, images = existing_inputs(labels, images)
    rows = read_a3_labels(labels)
    report = ConversionReport(out_dir=Path(out) / db.name, written=0)
    report.written = write_parquet_dataset(
        report.out_dir,
        "test",
        image_rows(labels, rows, images, skip_bad, report, allow_outside_images),
        with_image_hashes(A3_FEATURES),
        lambda counts: a3_card(db, counts["test"], card_source, card_licensing),
    )
    return report
