"""Q-Bench+ (Q-Bench2) A1 on image pairs: layout, codes and checks, in one place.

The hub's ``q-future/Q-Bench2-HF`` has, per its card, ``id, image1, image2, question,
option0..option3`` ("N/A"-padded), ``question_type``, ``question_concern`` and ``correct_choice``
(a letter; hidden in the test split). That layout cannot be checked offline, so it is read only
through :func:`check_columns` (a clear error naming a missing column) and
``llvisionqa.question_of`` (which reads this layout for Q-Bench-HF too). ``qbench convert
a1pair`` writes the release-style JSON (``img_path`` of two images, ``candidates``,
``correct_ans``, ``type``, ``concern``) in the same layout, plus ``img_path``.
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

# Q-Bench+ reports accuracy by question type (the codes of Q-Bench's A1), and by concern along two
# axes: what is asked about (distortion / other low-level attribute) and how the two images are
# asked about (compared with each other / analysed jointly). Each concern code counts in one
# category of each axis. The mapping follows Q-Bench A1's ordering (distortion, other; then the
# second kind); the hub card does not spell it out, so it is one table here, easy to correct.
CONCERN_CATEGORIES = {
    0: ("compare", "distortion"),
    1: ("compare", "other"),
    2: ("joint", "distortion"),
    3: ("joint", "other"),
}

def check_columns(columns: Iterable[str], source: str, split: str) -> None:
    """Refuse a split whose layout is not Q-Bench2-HF's, naming the missing columns."""
    missing = [name for name in (*IMAGE_COLUMNS, *QUESTION_COLUMNS) if name not in set(columns)]
    if missing:
        raise ValueError(f"{source} ({split} split) lacks the Q-Bench2 column(s) {', '.join(missing)}; "
                         f"its columns are {', '.join(sorted(columns))}")
    if split == "dev" and "correct_choice" not in set(columns):
        raise ValueError(f"{source} (dev split) lacks the Q-Bench2 column correct_choice")

def pair_row_problem(row: object, needs_answer: bool) -> str | None:
    """Why a release-style pair label row is unusable, or None when it is fine."""
    if isinstance(row, dict):
        paths = row.get("img_path")
        if not (isinstance(paths, list) and len(paths) == 2 and all(isinstance(p, str) and p for p in paths)):
            return f"'img_path' must be a list of two image paths, got {paths!r:.80}"
        row = {**row, "img_path": paths[0]}
    return label_row_problem(row, needs_answer, CONCERN_CATEGORIES)

def hub_layout(index: int, row: dict) -> dict:
    """A checked release-style row in Q-Bench2-HF's layout (``img_path`` kept beside it)."""
    options = list(row["candidates"]) + [HUB_PADDING] * (MAX_OPTIONS - len(row["candidates"]))
    answer = row.get("correct_ans")
    return {
        "id": str(row.get("id", index)),
        "img_path": list(row["img_path"]),
        "question": row["question"],
        **{f"option{i}": option for i, option in enumerate(options)},
        "question_type": row["type"],
        "question_concern": row["concern"],
        "correct_choice": None if answer is None else OPTION_LETTERS[row["candidates"].index(answer)],
    }
