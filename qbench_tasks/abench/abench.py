"""A-Bench (arXiv 2406.03070, Q-Future): layout, categories and checks, in one place.

The hub's ``q-future/A-Bench-HF`` is Q-Bench-HF's layout without the type and concern codes and
with a category; its README shows the row ``{'id': 0, 'image': ..., 'question': 'May I ask where
the scene in the picture is located?', 'option0': 'Forest', 'option1': 'Riverside', 'option2':
'Desert', 'option3': 'N/A', 'category': 'part1 -> bag_of_words -> attribute', 'correct_choice':
'B'}`` (split ``dev``, the one confirmed). The raw release ``q-future/A-Bench`` has ``Abench.json``,
a JSON list of ``{"img_path": "part1_0000.png", "question": ..., "answers": [candidates],
"category": "part1 -> basic_recognition -> major"}`` with the correct answers withheld, and the
images in ``imgs.zip``. ``qbench convert abench`` writes the release in the hub's layout.

A category is a path of levels joined by " -> ": part, then area, then aspect. Only a few of
the strings could be read offline, so the breakdown is derived from each row's string (every
level, cumulatively: ``acc_part1``, ``acc_part1_bag_of_words``,
``acc_part1_bag_of_words_attribute``), never looked up in a list; a row without one is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qbench_tasks.a1.llvisionqa import HUB_PADDING, MAX_OPTIONS, OPTION_LETTERS, A1Question, options_problem
from qbench_tasks.data.location import dataset_identity

HUB_DATASET_ID = "q-future/A-Bench-HF"
DATASET_NAME = "abench"  # folder under the data directory
IDENTITY = dataset_identity("abench", DATASET_NAME)
SPLITS = ("dev", "test")
CATEGORY_SEPARATOR = "->"
HUB_COLUMNS = ("image", "id", "question", *(f"option{i}" for i in range(MAX_OPTIONS)), "category")


def category_levels(category: object) -> tuple[str, ...]:
    """``"part1 -> bag_of_words -> attribute"`` -> ``("part1", "bag_of_words", "attribute")``;
    ValueError for a category that is missing, not a string, or has an empty level."""
    if not isinstance(category, str) or not category.strip():
        raise ValueError(f"no category (got {category!r}); A-Bench scores every question in its category")
    levels = tuple(level.strip() for level in category.split(CATEGORY_SEPARATOR))
    if not all(levels):
        raise ValueError(f"category {category!r} has an empty level (levels are joined by ' {CATEGORY_SEPARATOR} ')")
    return levels


def _slug(level: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", level.lower()).strip("_") or "_"


def category_names(category: str) -> list[str]:
    """The metric names of a category, one per level, cumulatively: ``part1``,
    ``part1_bag_of_words``, ``part1_bag_of_words_attribute``."""
    slugs = [_slug(level) for level in category_levels(category)]
    return ["_".join(slugs[: depth + 1]) for depth in range(len(slugs))]


def breakdown(doc: dict, question: A1Question) -> dict[str, bool]:
    """A-Bench's breakdown for ``qbench_tasks.a1.scoring``: the levels of the item's own category
    (the others are left out, so each is averaged over its own items)."""
    return dict.fromkeys(category_names(doc["category"]), True)


def check_columns(columns: Iterable[str], source: str, split: str) -> None:
    """Refuse a split whose layout is not A-Bench-HF's, naming the missing columns."""
    present = set(columns)
    missing = [name for name in HUB_COLUMNS if name not in present]
    if split == "dev" and "correct_choice" not in present:
        missing.append("correct_choice")
    if missing:
        raise ValueError(f"{source} ({split} split) lacks the A-Bench column(s) {', '.join(missing)}; "
                         f"its columns are {', '.join(sorted(present))}")


def release_row_problem(row: object, needs_answer: bool) -> str | None:
    """Why a row of ``Abench.json`` (with ``correct_ans`` merged in from an answer key, if any)
    is unusable, or None when it is fine."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {row!r:.80}"
    for key, kind in (("img_path", str), ("question", str), ("answers", list)):
        if not isinstance(row.get(key), kind):
            return f"'{key}' missing or not a {kind.__name__}"
    try:
        category_levels(row.get("category"))
    except ValueError as err:
        return str(err)
    answers = row["answers"]
    problem = options_problem(answers, "answer", "A-Bench")
    if problem:
        return problem
    correct = row.get("correct_ans")
    if correct is None:
        return "no answer in the answer key (a scored split needs one per question)" if needs_answer else None
    if correct not in answers:
        return f"the answer key's {correct!r} is not among the answers {answers!r}"
    return None


def hub_layout(index: int, row: dict) -> dict:
    """A checked release row in A-Bench-HF's layout (the release's ``img_path`` kept beside it)."""
    answers = row["answers"]
    correct = row.get("correct_ans")
    return {
        "id": index,
        "img_path": row["img_path"],
        "question": row["question"],
        **{f"option{i}": option for i, option in enumerate(answers + [HUB_PADDING] * (MAX_OPTIONS - len(answers)))},
        "category": row["category"],
        "correct_choice": None if correct is None else OPTION_LETTERS[answers.index(correct)],
    }
