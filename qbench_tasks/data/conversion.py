"""The conversion framework ``qbench convert`` builds on: label files read and checked row by row,
images checked under the image policy, rows that fail named (file, row, reason) or skipped and
listed with ``--skip-bad``, and the card facts every dataset card states. Each benchmark's
converter lives in its own package (``qbench_tasks.a1.convert``, ...)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from qbench_tasks.data.image_policy import check_jpeg_data, read_rgb
from qbench_tasks.data.parquet import write_parquet_dataset
from qbench_tasks.data_cards import render_card


class ConversionError(ValueError):
    """A label row or image that cannot be converted; the message names the file and row."""


@dataclass
class ConversionReport:
    out_dir: Path
    written: int
    skipped: list[str] = field(default_factory=list)  # one message per skipped row


def _json_lines(labels: Path, text: str) -> list:
    """The objects of a JSON Lines file (the Q-Bench+ release), one per non-blank line."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ConversionError(f"{labels}: not a JSON file: line {number} is not JSON ({err})") from None
    return rows


def read_json_rows(labels: Path) -> list:
    """The label objects of an official label file: a JSON list (LLVisionQA, the A3 databases) or
    JSON Lines, one object per line (the Q-Bench+ release)."""
    if not labels.is_file():
        raise ConversionError(f"{labels}: label file not found" if not labels.exists() else f"{labels}: not a file")
    try:
        text = labels.read_text(encoding="utf-8")
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            if not text.lstrip().startswith("{"):
                raise ConversionError(f"{labels}: not a JSON file ({err})") from None
            rows = _json_lines(labels, text)
    except OSError as err:
        raise ConversionError(f"{labels}: cannot be read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ConversionError(f"{labels}: not a JSON file ({err})") from None
    except RecursionError:
        raise ConversionError(f"{labels}: nested too deeply to be a label file") from None
    if not isinstance(rows, list) or not rows:
        raise ConversionError(f"{labels}: expected a non-empty JSON list (or JSON Lines) of label objects")
    return rows


def check_unique(labels: Path, i: int, img_path: str | list[str], seen: dict, question: str | None = None) -> None:
    """Refuse an image (a pair: the same question on a pair) given twice, also as another
    spelling of the same path (``./a.jpg``)."""
    paths = img_path if isinstance(img_path, list) else [img_path]
    key = (*map(os.path.normpath, paths), question)
    if key in seen:
        what = "img_path" if question is None else "question on this img_path pair"
        raise ConversionError(f"{labels}: row {i} ({img_path}): {what} already given in row {seen[key]}")
    seen[key] = i


def read_checked_image(path: Path) -> bytes:
    """The file's bytes, after checking that the image policy accepts it (raises
    ``ImageRefused``, a ValueError, saying why not), and, for a JPEG, that libjpeg reads its data
    without a corrupt-data warning. See ``qbench_tasks.data.image_policy``."""
    # A reduced-scale JPEG decode still reads the whole entropy-coded stream, so truncation is
    # caught at a fraction of the cost of a full decode.
    data, _ = read_rgb(path, draft=(64, 64))
    check_jpeg_data(data, str(path))
    return data


def image_hash_column(column: str) -> str:
    """The column holding the SHA-256 of image column ``column``'s file bytes, recorded at
    conversion and checked whenever the image is read (``lazy_images``)."""
    return f"{column}_sha256"


def with_image_hashes(features: datasets.Features, image_columns: tuple[str, ...] = ("image",)) -> datasets.Features:
    """``features`` and a content-hash column per image column."""
    return datasets.Features({**features, **{image_hash_column(c): datasets.Value("string") for c in image_columns}})


def image_file(images: Path, img_path: str, allow_outside: bool = False) -> Path:
    """``images / img_path``, refused (ValueError) where it leaves ``images``: an absolute path,
    ``..``, or a symbolic link pointing out (unless ``allow_outside``)."""
    path = images / img_path
    if not allow_outside and (Path(img_path).is_absolute() or not path.resolve().is_relative_to(images.resolve())):
        raise ValueError(f"img_path leads outside the images folder {images} (to {path.resolve()}); "
                         "pass --allow-outside-images if that is meant")
    return path


def image_rows(
    labels: Path, rows: list[dict], images: Path, skip_bad: bool, report: ConversionReport,
    allow_outside: bool = False, image_columns: tuple[str, ...] = ("image",),
    files_of: Callable[[dict], list[str]] = lambda row: [row["img_path"]],
) -> Iterator[dict]:
    """Each label row with its image files' bytes added (checked to decode), one per column of
    ``image_columns``, from the files ``files_of(row)`` names under ``images``, each with its
    content hash (``image_hash_column``). Raises when ``skip_bad`` skipped every row: nothing is left
    to convert (any dataset already there is kept)."""
    kept = 0
    for i, row in enumerate(rows):
        paths = files_of(row)
        cells = {}
        for column, img_path in zip(image_columns, paths, strict=True):
            try:
                data = read_checked_image(image_file(images, img_path, allow_outside))
                cells[column] = {"bytes": data, "path": img_path}
                cells[image_hash_column(column)] = hashlib.sha256(data).hexdigest()
            except ValueError as err:
                message = f"{labels}: row {i} ({img_path}): {err}"
                if not skip_bad:
                    raise ConversionError(message + " (pass --skip-bad to skip such rows)") from None
                report.skipped.append(message)
                break
        else:
            kept += 1
            yield {**cells, **row}
    if not kept and report.skipped:
        raise ConversionError(f"{labels}: all {len(rows)} rows were skipped (the first: {report.skipped[0]}); "
                              "nothing is left to convert")


def existing_inputs(labels, images) -> tuple[Path, Path]:
    labels, images = Path(labels), Path(images)
    if not images.is_dir():
        raise ConversionError(f"{images}: image folder not found")
    return labels, images


@dataclass(frozen=True)
class CardFacts:
    """What a dataset card says about where the data came from."""

    title: str
    license: str  # Hugging Face licence id
    source: str
    licensing: str


def split_card(template: str, identity: str, facts: CardFacts, counts: dict[str, int]) -> str:
    """A card listing the dataset's splits (A1, Q-Bench+ pairs)."""
    return render_card(
        template,
        identity=identity,
        title=facts.title,
        license=facts.license,
        source=facts.source,
        licensing=facts.licensing,
        num_examples=sum(counts.values()),
        data_files="\n".join(
            f"  - split: {split}\n    path: data/{split}-*" for split in counts
        ),
        split_rows="\n".join(f"| `{split}` | {n} |" for split, n in counts.items()),
    )


def checked_label_rows(labels: Path, split: str, problem_of: Callable[..., str | None],
                       layout: Callable[[int, dict], dict], per_question: bool = False) -> list[dict]:
    """The rows of a question label file (A1, Q-Bench+), each checked by ``problem_of(row,
    needs_answer=...)`` (the dev split needs answers) and unique (per question where several share
    an image), in the dataset's layout ``layout(index, row)``."""
    parsed: list[dict] = []
    seen: dict = {}
    for i, row in enumerate(read_json_rows(labels)):
        problem = problem_of(row, needs_answer=split == "dev")
        if problem:
            shown = isinstance(row, dict) and isinstance(row.get("img_path"), (str, list))
            name = f" ({row['img_path']})" if shown else ""
            raise ConversionError(f"{labels}: row {i}{name}: {problem}")
        check_unique(labels, i, row["img_path"], seen, row["question"] if per_question else None)
        parsed.append(layout(i, row))
    return parsed


def convert_split(labels, images, split: str, splits: tuple[str, ...], out_dir: Path,
                  read: Callable[[Path, str], list[dict]], features, card: Callable[[dict[str, int]], str],
                  skip_bad: bool, allow_outside_images: bool, image_columns: tuple[str, ...] = ("image",),
                  files_of: Callable[[dict], list[str]] = lambda row: [row["img_path"]]) -> ConversionReport:
    """Label file + image folder -> split ``split`` of the dataset at ``out_dir`` (the other splits
    kept): the conversion of every benchmark with splits (A1, Q-Bench+)."""
    if split not in splits:
        raise ConversionError(f"unknown split {split!r}; choose from {splits}")
    labels, images = existing_inputs(labels, images)
    rows = read(labels, split)
    report = ConversionReport(out_dir=out_dir, written=0)
    report.written = write_parquet_dataset(
        out_dir, split,
        image_rows(labels, rows, images, skip_bad, report, allow_outside_images, image_columns, files_of),
        with_image_hashes(features, image_columns), card,
    )
    return report
