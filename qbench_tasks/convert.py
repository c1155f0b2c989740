"""Official Q-Bench release files -> Hugging Face datasets on disk (``qbench convert``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from qbench_tasks import llvisionqa, llvisionqa_pairs
from qbench_tasks.data_cards import render_card
from qbench_tasks.data_location import dataset_identity
from qbench_tasks.databases import IQADatabase, get_database
from qbench_tasks.hf_dataset import write_parquet_dataset
from qbench_tasks.image_policy import read_rgb

A3_FEATURES = datasets.Features(
    {"image": datasets.Image(), "img_path": datasets.Value("string"), "mos": datasets.Value("float64")}
)
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
LLDESCRIBE_FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "img_path": datasets.Value("string"),
        "golden_description": datasets.Value("string"),  # null where none was supplied
    }
)
PAIR_FEATURES = datasets.Features(
    {
        "image1": datasets.Image(),
        "image2": datasets.Image(),
        "img_path": datasets.List(datasets.Value("string")),
        "id": datasets.Value("string"),
        "question": datasets.Value("string"),
        **{f"option{i}": datasets.Value("string") for i in range(llvisionqa.MAX_OPTIONS)},
        "question_type": datasets.Value("int64"),
        "question_concern": datasets.Value("int64"),
        "correct_choice": datasets.Value("string"),  # a letter; null in the test split
    }
)
LLDESCRIBE_NAME = "lldescribe"  # dataset folder under the data directory; split "test"
LLDESCRIBE_IDENTITY = dataset_identity("a2", LLDESCRIBE_NAME)
# Files taken as images when a folder is converted without a golden file (case-insensitive).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


class ConversionError(ValueError):
    """A label row or image that cannot be converted; the message names the file and row."""


@dataclass
class ConversionReport:
    out_dir: Path
    written: int
    skipped: list[str] = field(default_factory=list)  # one message per skipped row


def read_json_rows(labels: Path) -> list:
    """The top-level JSON list of an official label file."""
    if not labels.is_file():
        raise ConversionError(f"{labels}: label file not found" if not labels.exists() else f"{labels}: not a file")
    try:
        rows = json.loads(labels.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConversionError(f"{labels}: cannot be read ({err.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConversionError(f"{labels}: not a JSON file ({err})") from None
    except RecursionError:
        raise ConversionError(f"{labels}: nested too deeply to be a label file") from None
    if not isinstance(rows, list) or not rows:
        raise ConversionError(f"{labels}: expected a non-empty JSON list of label objects")
    return rows


def _check_unique(labels: Path, i: int, img_path: str | list[str], seen: dict, question: str | None = None) -> None:
    """Refuse an image (a pair: the same question on a pair) given twice, also as another
    spelling of the same path (``./a.jpg``)."""
    paths = img_path if isinstance(img_path, list) else [img_path]
    key = (*map(os.path.normpath, paths), question)
    if key in seen:
        what = "img_path" if question is None else "question on this img_path pair"
        raise ConversionError(f"{labels}: row {i} ({img_path}): {what} already given in row {seen[key]}")
    seen[key] = i


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
        if isinstance(row["gt_score"], bool):
            raise ConversionError(f"{where}: gt_score {row['gt_score']!r} is not a number")
        try:
            mos = float(row["gt_score"])  # also strips CGIQA-6K's trailing space
        except (TypeError, ValueError):
            raise ConversionError(f"{where}: gt_score {row['gt_score']!r} is not a number") from None
        if not math.isfinite(mos):
            raise ConversionError(f"{where}: gt_score {row['gt_score']!r} is not a finite number")
        _check_unique(labels, i, img_path, seen)
        parsed.append({"img_path": img_path, "mos": mos})
    return parsed


def read_a1_labels(labels: Path, split: str) -> list[dict]:
    """The rows of an official LLVisionQA label file, checked; the dev split needs answers."""
    parsed: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(read_json_rows(labels)):
        problem = llvisionqa.label_row_problem(row, needs_answer=split == "dev")
        if problem:
            name = f" ({row['img_path']})" if isinstance(row, dict) and isinstance(row.get("img_path"), str) else ""
            raise ConversionError(f"{labels}: row {i}{name}: {problem}")
        _check_unique(labels, i, row["img_path"], seen)
        parsed.append({key: row.get(key) for key in LLVISIONQA_FEATURES if key != "image"})
    return parsed


def read_a1pair_labels(labels: Path, split: str) -> list[dict]:
    """The rows of a release-style Q-Bench+ pair label file, checked, in Q-Bench2-HF's layout."""
    parsed: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(read_json_rows(labels)):
        problem = llvisionqa_pairs.pair_row_problem(row, needs_answer=split == "dev")
        if problem:
            name = f" ({row['img_path']})" if isinstance(row, dict) and isinstance(row.get("img_path"), list) else ""
            raise ConversionError(f"{labels}: row {i}{name}: {problem}")
        _check_unique(labels, i, row["img_path"], seen, row["question"])
        parsed.append(llvisionqa_pairs.hub_layout(i, row))
    return parsed


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
        _check_unique(golden, i, row["img_path"], seen)
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


def read_checked_image(path: Path) -> bytes:
    """The file's bytes, after checking that the image policy accepts it (raises
    ``ImageRefused``, a ValueError, saying why not). See ``qbench_tasks.image_policy``."""
    # A reduced-scale JPEG decode still reads the whole entropy-coded stream, so truncation is
    # caught at a fraction of the cost of a full decode.
    data, _ = read_rgb(path, draft=(64, 64))
    return data


def image_file(images: Path, img_path: str, allow_outside: bool = False) -> Path:
    """``images / img_path``, refused (ValueError) where it leaves ``images``: an absolute path,
    ``..``, or a symbolic link pointing out (unless ``allow_outside``)."""
    path = images / img_path
    if not allow_outside and (Path(img_path).is_absolute() or not path.resolve().is_relative_to(images.resolve())):
        raise ValueError(f"img_path leads outside the images folder {images} (to {path.resolve()}); "
                         "pass --allow-outside-images if that is meant")
    return path


def _image_rows(
    labels: Path, rows: list[dict], images: Path, skip_bad: bool, report: ConversionReport,
    allow_outside: bool = False, image_columns: tuple[str, ...] = ("image",),
) -> Iterator[dict]:
    """Each label row with its image files' bytes added (checked to decode), one per column of
    ``image_columns``, from its ``img_path`` (a list where there are several)."""
    for i, row in enumerate(rows):
        paths = row["img_path"] if isinstance(row["img_path"], list) else [row["img_path"]]
        cells = {}
        for column, img_path in zip(image_columns, paths, strict=True):
            try:
                cells[column] = {"bytes": read_checked_image(image_file(images, img_path, allow_outside)),
                                 "path": img_path}
            except ValueError as err:
                message = f"{labels}: row {i} ({img_path}): {err}"
                if not skip_bad:
                    raise ConversionError(message + " (pass --skip-bad to skip such rows)") from None
                report.skipped.append(message)
                break
        else:
            yield {**cells, **row}


def a3_card(db: IQADatabase, num_examples: int) -> str:
    return render_card(
        "qbench_a3.md",
        identity=db.identity,
        title=db.title,
        num_examples=num_examples,
        mos=db.mos,
        source=db.source
        or (
            f"Images: the {db.title} database ({db.homepage}). Labels: `{db.official_labels}` "
            "from the Q-Bench release (`a3_iqa_databases/jsons/`), `gt_score` cast to float."
        ),
        licensing=db.licensing
        or (
            f"The images and scores remain under the {db.title} database's own terms "
            f"({db.homepage}); check them before redistributing this dataset."
        ),
        citation_note=f"Please also cite the {db.title} database ({db.homepage}).",
    )


def _existing_inputs(labels, images) -> tuple[Path, Path]:
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


LLVISIONQA_PAIRS_FACTS = CardFacts(
    title="Q-Bench+ image pairs",
    license="other",
    source=(
        "A release-style label file of Q-Bench+ (Q-Bench2) pair questions and its images; the "
        "same questions are on the Hugging Face hub as `q-future/Q-Bench2-HF`."
    ),
    licensing=(
        "The images come from public IQA databases and AI-generated sets under their own terms; "
        "check the Q-Bench+ release's terms before redistributing this dataset."
    ),
)


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


def llvisionqa_card(facts: CardFacts, counts: dict[str, int]) -> str:
    return split_card("llvisionqa.md", llvisionqa.IDENTITY, facts, counts)


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
    labels, images = _existing_inputs(labels, images)
    rows = read_a1_labels(labels, split)
    report = ConversionReport(out_dir=Path(out) / llvisionqa.DATASET_NAME, written=0)
    report.written = write_parquet_dataset(
        report.out_dir,
        split,
        _image_rows(labels, rows, images, skip_bad, report, allow_outside_images),
        LLVISIONQA_FEATURES,
        lambda counts: llvisionqa_card(facts, counts),
    )
    return report


def convert_a1pair(
    labels: str | os.PathLike,
    images: str | os.PathLike,
    split: str,
    out: str | os.PathLike,
    skip_bad: bool = False,
    facts: CardFacts = LLVISIONQA_PAIRS_FACTS,
    allow_outside_images: bool = False,
) -> ConversionReport:
    """Release-style Q-Bench+ pair label file + image folder -> split ``split`` of
    ``out/llvisionqa_pairs``, in Q-Bench2-HF's layout."""
    if split not in llvisionqa_pairs.SPLITS:
        raise ConversionError(f"unknown split {split!r}; choose from {llvisionqa_pairs.SPLITS}")
    labels, images = _existing_inputs(labels, images)
    rows = read_a1pair_labels(labels, split)
    report = ConversionReport(out_dir=Path(out) / llvisionqa_pairs.DATASET_NAME, written=0)
    report.written = write_parquet_dataset(
        report.out_dir,
        split,
        _image_rows(labels, rows, images, skip_bad, report, allow_outside_images, llvisionqa_pairs.IMAGE_COLUMNS),
        PAIR_FEATURES,
        lambda counts: split_card("llvisionqa_pairs.md", llvisionqa_pairs.IDENTITY, facts, counts),
    )
    return report


def convert_a3(
    database: str | IQADatabase,
    labels: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    skip_bad: bool = False,
    allow_outside_images: bool = False,
) -> ConversionReport:
    """Official A3 label file + image folder -> ``out/<database>`` (split ``test``)."""
    db = database if isinstance(database, IQADatabase) else get_database(database)
    labels, images = _existing_inputs(labels, images)
    rows = read_a3_labels(labels)
    report = ConversionReport(out_dir=Path(out) / db.name, written=0)
    report.written = write_parquet_dataset(
        report.out_dir,
        "test",
        _image_rows(labels, rows, images, skip_bad, report, allow_outside_images),
        A3_FEATURES,
        lambda counts: a3_card(db, counts["test"]),
    )
    return report


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
        _image_rows(labels, rows, images, skip_bad, report, allow_outside_images),
        LLDESCRIBE_FEATURES,
        lambda counts: lldescribe_card(facts, counts["test"], counts["test"] if golden is not None else 0),
    )
    return report
