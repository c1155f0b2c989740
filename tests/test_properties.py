"""Property-based tests (hypothesis): the A1 answer extractor and the A3 correlation metrics
give a defined result on any input — never a crash, never a NaN without a logged reason."""

import logging
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from qbench_tasks.a1.answers import extract_choice
from qbench_tasks.a1.llvisionqa import OPTION_LETTERS
from qbench_tasks.a3.scoring import plcc, srcc

# Option texts in lower case, so that they never contain an option letter (A-D are upper case).
option_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=20).map(str.strip).filter(bool)
options = st.lists(option_text, min_size=2, max_size=4, unique_by=str.lower)


@given(response=st.text(max_size=80), options=options)
def test_extractor_returns_none_or_a_valid_index(response, options):
    chosen = extract_choice(response, options)
    assert chosen is None or 0 <= chosen < len(options)
    assert extract_choice(response, options) == chosen


@given(options=options, data=st.data())
def test_extractor_reads_a_letter_that_exists_and_refuses_one_that_does_not(options, data):
    index = data.draw(st.integers(0, len(options) - 1))
    letter = OPTION_LETTERS[index]
    form = data.draw(st.sampled_from(["{L}", "({L})", "{L}.", "{L})", " {L} ", "{L}. {text}", "The answer is {L}."]))
    assert extract_choice(form.format(L=letter, text=options[index]), options) == index
    for missing in OPTION_LETTERS[len(options):]:
        assert extract_choice(form.format(L=missing, text=options[index]), options) is None


@given(options=options, data=st.data())
def test_extractor_reads_an_answer_that_is_exactly_one_option(options, data):
    index = data.draw(st.integers(0, len(options) - 1))
    assert extract_choice(options[index], options) == index


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


scores = st.floats(0.0, 1.0, allow_subnormal=True)
mos = st.floats(-1e6, 1e6, allow_subnormal=True)
items = st.lists(st.tuples(scores, mos, st.just("x.jpg")), max_size=30)
# Constant predictions and heavy ties, drawn on purpose.
tied_items = st.lists(st.tuples(st.sampled_from([0.25, 0.5]), st.sampled_from([1.0, 2.0, 3.0]), st.just("x.jpg")),
                      max_size=12)


@settings(max_examples=300)
@given(items=st.one_of(items, tied_items))
def test_correlations_are_defined_or_nan_with_a_reason(items):
    handler = _Warnings()
    logger = logging.getLogger("qbench_tasks.a3.scoring")
    logger.addHandler(handler)
    try:
        for metric in (srcc, plcc):
            handler.messages.clear()
            value = metric(items)
            assert isinstance(value, float)
            if math.isnan(value):
                assert handler.messages and "reporting NaN" in handler.messages[-1]
            else:
                assert -1.0 <= value <= 1.0
                assert metric(items[::-1]) == value or abs(metric(items[::-1]) - value) < 1e-9
    finally:
        logger.removeHandler(handler)


@given(st.lists(mos, min_size=3, max_size=20))
def test_constant_predictions_give_nan_with_a_reason(mos_values):
    handler = _Warnings()
    logging.getLogger("qbench_tasks.a3.scoring").addHandler(handler)
    try:
        assert math.isnan(srcc([(0.5, m, "x.jpg") for m in mos_values]))
        assert "equal" in handler.messages[-1]
    finally:
        logging.getLogger("qbench_tasks.a3.scoring").removeHandler(handler)


def test_a_nan_score_gives_nan_with_a_reason():
    """A model that returned NaN logits: the correlation says so instead of a silent NaN."""
    handler = _Warnings()
    logging.getLogger("qbench_tasks.a3.scoring").addHandler(handler)
    try:
        items = [(0.1, 1.0, "a"), (math.nan, 2.0, "b"), (0.7, 3.0, "c")]
        assert math.isnan(srcc(items)) and math.isnan(plcc(items))
        assert "not a finite number" in handler.messages[-1]
    finally:
        logging.getLogger("qbench_tasks.a3.scoring").removeHandler(handler)
