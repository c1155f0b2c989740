"""Which option a free-text A1 answer chose: deterministic rules, no random fallback.

Accepted: the letter alone ("B", "(B)", "B.", "B)"), an answer that opens with the letter and a
delimiter ("B. Motion blur"), the letter after "answer"/"option"/"choice"/"choose"/"select"
("Answer: B", "The answer is (B)", "Option B", "I choose C"), or else exactly one option's text as whole words
(case-insensitive; an answer that opens with an option's text and then ends or breaks off with
punctuation picks it, as in "No, it is not blurry"; a match inside a longer
matching option does not count, so "motion blur" is "Motion Blur", not "Blur"). Letters are
upper-case only ("a" is an article) and must exist for the question. Anything else, including
letters offered as alternatives ("B or C") or two different named letters, is unparsed: it counts
as wrong and is reported, never replaced
by a guess.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from qbench_tasks.a1.llvisionqa import OPTION_LETTERS

_LETTER = f"[{OPTION_LETTERS}]"
# The whole answer is a letter, or opens with one followed by a delimiter.
_LEADING_LETTER = re.compile(rf"^\s*[(\[]?({_LETTER})(?:\s*$|[.):\]]|\s*[-:]\s)")
# A letter named as the answer anywhere in the text (keywords in any case, the letter upper).
# Every pattern here is linear in the answer's length: no unbounded runs that can share
# characters stand next to each other (three adjacent \s* took 80 s on "Answer" + 2,000 spaces).
_NAMED_LETTER = re.compile(
    rf"\b(?i:answer|option|choice|choose|select)(?:\s*(?i:is|would\s+be)\b)?[\s:\-]*"
    rf"[(\[]?({_LETTER})(?![\w'])"
)

# Two letters offered as alternatives ("B or C", "A/B"): no single answer.
_ALTERNATIVE_LETTERS = re.compile(rf"(?<![\w'])[(\[]?{_LETTER}[)\]]?\s*(?:or|and|/|,)\s*[(\[]?{_LETTER}(?![\w'])")

_CLAUSE_END = re.compile(r"\s*(?:$|[,.;:!)\"'*])")


def _letters(response: str) -> set[str]:
    found = {m.group(1) for m in _NAMED_LETTER.finditer(response)}
    leading = _LEADING_LETTER.match(response)
    if leading:
        found.add(leading.group(1))
    return found


def _option_spans(response: str, options: Sequence[str]) -> dict[int, list[tuple[int, int]]]:
    spans: dict[int, list[tuple[int, int]]] = {}
    for index, option in enumerate(options):
        pattern = re.compile(rf"(?<!\w){re.escape(option.strip())}(?!\w)", re.IGNORECASE)
        found = [m.span() for m in pattern.finditer(response)]
        if found:
            spans[index] = found
    return spans


def _by_option_text(response: str, options: Sequence[str]) -> int | None:
    spans = _option_spans(response, options)
    starts = {i: [s for s, _ in found] for i, found in spans.items()}

    # Drop matches lying inside another option's match ("Blur" within "Motion Blur"). One option's
    # matches do not overlap, so the only one that can hold a span starts last at or before it.
    def inside_another(index: int, span: tuple[int, int]) -> bool:
        for other, other_spans in spans.items():
            k = bisect.bisect_right(starts[other], span[0]) - 1
            if other != index and k >= 0 and other_spans[k][1] >= span[1] and other_spans[k] != span:
                return True
        return False

    kept = {i for i, found in spans.items() if any(not inside_another(i, s) for s in found)}
    # An answer that opens with an option and then ends or breaks off ("No, it is not blurry")
    # chose it, whatever it says next; "Underexposure and motion blur" did not.
    start = len(response) - len(response.lstrip(" \t\n\"'(*"))
    opening = [
        i for i in kept
        if any(s[0] == start and _CLAUSE_END.match(response, s[1]) for s in spans[i])
    ]
    if len(opening) == 1:
        return opening[0]
    return kept.pop() if len(kept) == 1 else None


def extract_choice(response: str, options: Sequence[str]) -> int | None:
    """Index of the option ``response`` chose, or None when it cannot be told."""
    if not response or not response.strip():
        return None
    if _ALTERNATIVE_LETTERS.search(response):
        return None
    letters = _letters(response)
    if letters:
        if len(letters) > 1:
            return None
        index = OPTION_LETTERS.index(letters.pop())
        return index if index < len(options) else None
    return _by_option_text(response, options)
