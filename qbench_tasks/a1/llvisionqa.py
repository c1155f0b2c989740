"""LLVisionQA (Q-Bench A1): codes, layouts and validation, in one place.

Two layouts reach the tasks: the official release files (converted by ``qbench convert a1``)
and the hub's ``q-future/Q-Bench-HF``. ``question_of`` turns a document of either into one
``A1Question``; nothing else reads layout-specific fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from qbench_tasks.data.location import dataset_identity

HUB_DATASET_ID = "q-future/Q-Bench-HF"
DATASET_NAME = "llvisionqa"  # folder under the data directory
IDENTITY = dataset_identity("a1", DATASET_NAME)
SPLITS = ("dev", "test")

# Official codes. `type`: the question's form; `concern`: what it asks about.
QUESTION_TYPES = {0: "yes_or_no", 1: "what", 2: "how"}
CONCERNS = {0: "distortion", 1: "other", 2: "incontext_distortion", 3: "incontext_other"}
OPTION_LETTERS = "ABCD"
MIN_OPTIONS, MAX_OPTIONS = 2, 4
HUB_PADDING = "N/A"  # Q-Bench-HF pads option0..option3 with this


@dataclass(frozen=True)
class A1Question:
    question: str
    options: tuple[str, ...]
    type: int | None  # None: a benchmark without these codes (A-Bench)
    concern: int | None
    answer: int | None  # index into options; None where the split hides it (test)
    img_path: str | None  # a Q-Bench+ pair: the release's one name for both images

    @property
    def answer_letter(self) -> str:
        return "" if self.answer is None else OPTION_LETTERS[self.answer]


def question_of(doc: dict) -> A1Question:
    """The question in ``doc``, whether official (``candidates``) or hub (``option0``…) layout."""
    if "candidates" in doc:
        options = tuple(doc["candidates"])
        answer = doc.get("correct_ans")
        return A1Question(
            question=doc["question"],
            options=options,
            type=int(doc["type"]),
            concern=int(doc["concern"]),
            answer=None if answer is None else options.index(answer),
            img_path=doc.get("img_path"),
        )
    options = tuple(
        doc[f"option{i}"] for i in range(MAX_OPTIONS)
        if doc.get(f"option{i}") not in (None, "", HUB_PADDING)
    )
    letter = (doc.get("correct_choice") or "").strip()
    answer = OPTION_LETTERS.index(letter) if letter in OPTION_LETTERS[: len(options)] else None
    return A1Question(
        question=doc["question"],
        options=options,
        # A-Bench's hub layout is Q-Bench-HF's without the two codes
        type=int(doc["question_type"]) if "question_type" in doc else None,
        concern=int(doc["question_concern"]) if "question_concern" in doc else None,
        answer=answer,
        img_path=doc.get("img_path") or (str(doc["id"]) if "id" in doc else None),
    )


# Document accessors the A1 and Q-Bench+ task YAMLs share (either layout).
def doc_to_answer_letter(doc: dict) -> str:
    return question_of(doc).answer_letter


def doc_to_options(doc: dict) -> list[str]:
    return list(question_of(doc).options)


def doc_to_answer_index(doc: dict) -> int:
    return question_of(doc).answer


def options_problem(options: list, noun: str, benchmark: str) -> str | None:
    """Why a label row's options (each a ``noun``: "candidate", "answer") cannot be asked as
    ``benchmark``'s questions are, or None: their count, distinct non-empty texts, no hub padding."""
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        return f"{len(options)} {noun}s; {benchmark} questions have {MIN_OPTIONS} to {MAX_OPTIONS}"
    if not all(isinstance(o, str) and o.strip() for o in options) or len(set(options)) != len(options):
        return f"{noun}s must be distinct non-empty strings, got {options!r}"
    if HUB_PADDING in options:
        return (f"{noun} {HUB_PADDING!r} is the text the hub layout pads missing options with, so the task "
                "would drop it; write the option out (e.g. 'Not applicable')")
    return None


def label_row_problem(row: object, needs_answer: bool, concerns: dict = CONCERNS) -> str | None:
    """Why an official LLVisionQA label row is unusable, or None when it is fine (``concerns``:
    the benchmark's concern codes)."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {row!r:.80}"
    for key, kind in (("img_path", str), ("question", str), ("candidates", list)):
        if not isinstance(row.get(key), kind):
            return f"'{key}' missing or not a {kind.__name__}"
    if isinstance(row.get("type"), bool) or row.get("type") not in QUESTION_TYPES:
        return f"unknown type {row.get('type')!r} (expected one of {sorted(QUESTION_TYPES)})"
    if isinstance(row.get("concern"), bool) or row.get("concern") not in concerns:
        return f"unknown concern {row.get('concern')!r} (expected one of {sorted(concerns)})"
    candidates = row["candidates"]
    problem = options_problem(candidates, "candidate", "Q-Bench")
    if problem:
        return problem
    answer = row.get("correct_ans")
    if answer is None:
        return "no 'correct_ans' (the dev split needs answers)" if needs_answer else None
    if answer not in candidates:
        return f"correct_ans {answer!r} is not among the candidates {candidates!r}"
    return None
