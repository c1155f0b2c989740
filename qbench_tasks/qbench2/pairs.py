"""Q-Bench+ (Q-Bench2) A1 on image pairs: layout, codes and checks, in one place.

The release (``q-future/q-bench2``) is JSON Lines, ``q-bench2-a1-dev.jsonl`` and
``q-bench2-a1-test.jsonl`` (no answers), one object per line with ``type, concern, question,
img_path, candidates, correct_ans, correct_choice`` (the last two in dev only). Its ``img_path``
is ONE name, with a Windows separator: ``"llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg"``
is the side-by-side image of ``00079.jpg`` and ``09769.jpg`` in ``llvisionqa_compare_dev/``; the
two single images are in ``all_single_images/`` (:func:`single_images`).

The hub's ``q-future/Q-Bench2-HF`` has, per its card, ``id, image1, image2, question,
option0..option3`` ("N/A"-padded), ``question_type``, ``question_concern`` and ``correct_choice``
(a letter; in the test split the placeholder "@", no answer). That layout cannot be checked
offline, so it is read only through :func:`check_columns` (a clear error naming a missing
column) and ``llvisionqa.question_of`` (which reads this layout for Q-Bench-HF too). ``qbench
convert a1pair`` writes the release in the same layout, keeping the published ``img_path``.
"""

from __future__ import annotations

from collections.abc import Iterable

from qbench_tasks.a1.llvisionqa import HUB_PADDING, MAX_OPTIONS, OPTION_LETTERS, label_row_problem
from qbench_tasks.data.location import dataset_identity

HUB_DATASET_ID = "q-future/Q-Bench2-HF"
DATASET_NAME = "llvisionqa_pairs"  # folder under the data directory
IDENTITY = dataset_identity("a1pair", DATASET_NAME)
SPLITS = ("dev", "test")
IMAGE_COLUMNS = ("image1", "image2")  # in the order the images reach the model
QUESTION_COLUMNS = ("id", "question", *(f"option{i}" for i in range(MAX_OPTIONS)), "question_type", "question_concern")

# Q-Bench+ reports accuracy by question type (the codes of Q-Bench's A1: 0 yes-or-no, 1 what /
# which, 2 how), and by concern along two axes: how the two images are asked about (compared with
# each other / analysed jointly) and what is asked about (distortion / other low-level attribute):
# the official pair leaderboard's columns. The codes, as the published rows use them
# (q-bench2-a1-dev.jsonl and the Q-Bench2-HF viewer; ``tests/test_qbench2.py`` holds them):
# concern 0: "Compared to the first image, how is the clarity of the second image?", "Which image
# has more severe overexposure?"; 1: "Are both of these images very blurry?", "Neither of the
# following two images has any distortion?"; 2: "Compared to the first image, how real is the
# second image?", composition and lighting comparisons; 3, the code left: joint questions on other
# attributes. lmms-eval names these codes with A1's global / in-context names instead.
CONCERN_CATEGORIES = {
    0: ("compare", "distortion"),
    1: ("joint", "distortion"),
    2: ("compare", "other"),
    3: ("joint", "other"),
}
CONCERN_CODES = {categories: code for code, categories in CONCERN_CATEGORIES.items()}

# The release's pair names: FIRST + PAIR_JOINER + SECOND + the side-by-side image's extension.
PAIR_JOINER = "_cat_"
SINGLES_FOLDER = "all_single_images"  # where the release keeps the single images

def pair_name(first: str, second: str, split: str) -> str:
    """The release's name for a pair of single images (:func:`single_images` reads it back)."""
    return f"llvisionqa_compare_{split}\\{first}{PAIR_JOINER}{second}.jpg"


def check_columns(columns: Iterable[str], source: str, split: str) -> None:
    """Refuse a split whose layout is not Q-Bench2-HF's, naming the missing columns."""
    missing = [name for name in (*IMAGE_COLUMNS, *QUESTION_COLUMNS) if name not in set(columns)]
    if missing:
        raise ValueError(f"{source} ({split} split) lacks the Q-Bench2 column(s) {', '.join(missing)}; "
                         f"its columns are {', '.join(sorted(columns))}")
    if split == "dev" and "correct_choice" not in set(columns):
        raise ValueError(f"{source} (dev split) lacks the Q-Bench2 column correct_choice")

def single_images(published: str) -> tuple[str, str]:
    """The two single images a published pair name stands for:
    ``"llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg"`` -> ``("00079.jpg", "09769.jpg")``."""
    name = published.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else ""
    parts = stem.split(PAIR_JOINER)
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"img_path {published!r} is not a release pair name (FIRST{PAIR_JOINER}SECOND.jpg, "
                         f"the two single images' names joined)")
    return parts[0], parts[1]


def pair_row_problem(row: object, needs_answer: bool) -> str | None:
    """Why a release pair label row is unusable, or None when it is fine."""
    if isinstance(row, dict) and isinstance(row.get("img_path"), str):
        try:
            single_images(row["img_path"])
        except ValueError as err:
            return str(err)
    return label_row_problem(row, needs_answer, CONCERN_CATEGORIES)

def hub_layout(index: int, row: dict) -> dict:
    """A checked release row in Q-Bench2-HF's layout (the published ``img_path`` kept beside it)."""
    options = list(row["candidates"]) + [HUB_PADDING] * (MAX_OPTIONS - len(row["candidates"]))
    answer = row.get("correct_ans")
    return {
        "id": str(row.get("id", index)),
        "img_path": row["img_path"],
        "question": row["question"],
        **{f"option{i}": option for i, option in enumerate(options)},
        "question_type": row["type"],
        "question_concern": row["concern"],
        "correct_choice": None if answer is None else OPTION_LETTERS[row["candidates"].index(answer)],
    }
