import math

import pytest
import torch

from qbench_tasks.a3 import scoring as a3_scoring
from qbench_tasks.a3.scoring import a3_score_from_logliks, plcc, plcc_cgiqa, srcc, srcc_cgiqa
from qbench_tasks.prompts import a3_prompt_fields
from qbench_tasks.settings import read_settings


def items(scores, mos, names=None):
    names = names or [f"img{i}.jpg" for i in range(len(scores))]
    return list(zip(scores, mos, names))


@pytest.mark.parametrize("good,poor", [(-0.3, -2.9), (-7.0, -0.01), (12.5, 12.5), (-250.0, -30.0)])
def test_score_is_the_official_softmax_at_temperature_100(good, poor):
    official = torch.softmax(torch.tensor([good, poor], dtype=torch.float64) / 100, dim=0)[0]
    assert a3_score_from_logliks(good, poor) == pytest.approx(float(official), abs=1e-12)


def test_score_from_logliks_equals_score_from_logits():
    logits = torch.tensor([3.0, -1.5, 0.25, 7.0], dtype=torch.float64)
    logliks = torch.log_softmax(logits, dim=0)
    assert a3_score_from_logliks(float(logliks[0]), float(logliks[1])) == pytest.approx(
        a3_score_from_logliks(float(logits[0]), float(logits[1])), abs=1e-12
    )


def test_srcc_hand_checked_with_ties():
    # ranks x = 1..5, y = [1, 2, 3.5, 5, 3.5]: r = 8 / sqrt(10 * 9.5)
    assert srcc(items([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])) == pytest.approx(8 / math.sqrt(95))


def test_plcc_hand_checked_on_raw_scores():
    assert plcc(items([1, 2, 3], [1, 3, 2])) == pytest.approx(0.5)
    # Raw scores, no logistic fit: a monotone but curved relation is not perfectly linear.
    assert plcc(items([1, 2, 3, 4], [1, 4, 9, 100])) < 0.9
    assert srcc(items([1, 2, 3, 4], [1, 4, 9, 100])) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [srcc, plcc])
def test_undefined_correlations_are_nan_not_errors(metric):
    assert math.isnan(metric(items([0.5], [3.0])))
    assert math.isnan(metric(items([0.1, 0.9], [1.0, 4.0])))  # two items: +-1 always, so NaN
    assert math.isnan(metric(items([0.5, 0.5, 0.5], [1.0, 2.0, 3.0])))
    assert math.isnan(metric(items([0.1, 0.2, 0.3], [2.0, 2.0, 2.0])))


def test_cgiqa_correlations_average_the_game_and_movie_halves():
    game = items([1, 2, 3, 4], [1, 2, 3, 4], [f"game_{i:04d}.jpg" for i in range(4)])
    movie = items([11, 12, 13, 14], [3, 2, 1, 0.5], [f"movie_{i:04d}.jpg" for i in range(4)])
    assert srcc_cgiqa(game + movie) == pytest.approx((1.0 + -1.0) / 2)
    assert plcc_cgiqa(game + movie) == pytest.approx((plcc(game) + plcc(movie)) / 2)
    # Pooled over both halves the answer differs: the split matters.
    assert srcc(game + movie) != pytest.approx(srcc_cgiqa(game + movie))


def test_cgiqa_rejects_items_outside_both_halves():
    with pytest.raises(ValueError, match="other_01.jpg"):
        srcc_cgiqa(items([1, 2], [1, 2], ["game_0000.jpg", "other_01.jpg"]))


def test_process_results_passes_score_mos_and_path():
    doc = {"mos": "2.82 ", "img_path": "game_0001.jpg", **a3_prompt_fields(read_settings({}))}
    out = a3_scoring.process_results(doc, [(-1.0, False), (-3.0, True)])
    expected = (a3_score_from_logliks(-1.0, -3.0), 2.82, "game_0001.jpg")
    assert out == {"srcc": expected, "plcc": expected}


def test_process_results_reads_each_word_by_name_with_levels():
    """Choices are the two words, then the level words not among them, in that order."""
    doc = {"mos": 3.0, "img_path": "a.jpg", **a3_prompt_fields(read_settings({"a3_levels": True}))}
    assert doc["choices"] == ["good", "poor", "excellent", "fair", "bad"]
    logliks = {"good": -1.0, "poor": -3.0, "excellent": -2.0, "fair": -2.5, "bad": -4.0}
    out = a3_scoring.process_results(doc, [(logliks[w], False) for w in doc["choices"]])
    assert out["srcc"][0] == a3_score_from_logliks(-1.0, -3.0)
    weights = dict(zip(doc["level_words"], doc["level_weights"]))
    total = sum(math.exp(v) for v in logliks.values())
    assert out["srcc_levels"][0] == pytest.approx(sum(math.exp(v) / total * weights[w] for w, v in logliks.items()))
