"""Standard errors, intervals and paired comparisons, checked statistically with fixed seeds."""

import math

import numpy as np
import pytest
from scipy import stats

from qbench_tasks.a2.scoring import total
from qbench_tasks.a3.scoring import plcc, plcc_cgiqa, srcc, srcc_cgiqa
from qbench_tasks.aggregations import mean_of_present
from qbench_tasks.bootstrap import (
    BOOTSTRAP_SEED,
    correlation_replicates,
    mean_stderr,
    normal_interval,
    percentile_interval,
    replicate_stderr,
    resolved,
)


def bivariate(rng, rho, n):
    x = rng.standard_normal(n)
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)


@pytest.mark.parametrize("name, reference", [("srcc", stats.spearmanr), ("plcc", stats.pearsonr)])
def test_each_replicate_is_scipys_figure_on_its_resample_ties_included(name, reference):
    rng = np.random.default_rng(0)
    mos = rng.integers(0, 6, 40).astype(float)  # many ties, in both columns
    scores = [mos + rng.integers(0, 4, 40), rng.integers(0, 3, 40).astype(float)]
    replicates = correlation_replicates(name, scores, mos, [np.arange(40)], 25)
    draws = np.random.default_rng(BOOTSTRAP_SEED).integers(0, 40, size=(25, 40))  # the same draws
    for model, model_scores in enumerate(scores):
        expected = [reference(model_scores[picks], mos[picks]).statistic for picks in draws]
        assert replicates[model] == pytest.approx(expected, abs=1e-12)


def test_a_constant_resample_is_left_out_not_zero():
    replicates = correlation_replicates("plcc", [np.ones(5)], np.arange(5.0), [np.arange(5)], 10)
    assert np.isnan(replicates).all()
    assert replicate_stderr(np.array([np.nan, 1.0, 3.0])) == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("name", ["plcc", "srcc"])
def test_95_percent_interval_covers_the_true_correlation(name):
    """400 samples of 200 bivariate-normal pairs (rho 0.6): the interval must cover the
    population value (Pearson's rho; Spearman's 6/pi asin(rho/2)) 93-97% of the time."""
    rho, n, trials = 0.6, 200, 400
    truth = rho if name == "plcc" else 6 / math.pi * math.asin(rho / 2)
    figure = (plcc if name == "plcc" else srcc)
    rng = np.random.default_rng(2026)
    covered = 0
    for _ in range(trials):
        x, y = bivariate(rng, rho, n)
        items = [(a, b, f"{i}.jpg") for i, (a, b) in enumerate(zip(x, y))]
        low, high = normal_interval(figure(items), figure.qbench_stderr(items, 500))
        covered += low <= truth <= high
    assert 0.93 <= covered / trials <= 0.97


def paired_difference_interval(noise_a, noise_b, rng, n=150):
    mos = rng.uniform(1, 5, n)
    scores = [mos + rng.normal(0, noise_a, n), mos + rng.normal(0, noise_b, n)]
    replicates = correlation_replicates("srcc", scores, mos, [np.arange(n)], 500)
    return percentile_interval(replicates[0] - replicates[1])


def test_paired_comparison_flags_a_planted_difference():
    rng = np.random.default_rng(7)
    flagged = [paired_difference_interval(0.6, 1.8, rng) for _ in range(100)]
    assert all(resolved(interval) and interval[0] > 0 for interval in flagged)


def test_paired_comparison_of_equally_good_models_flags_at_about_the_nominal_rate():
    rng = np.random.default_rng(8)
    rate = np.mean([resolved(paired_difference_interval(1.0, 1.0, rng)) for _ in range(300)])
    assert 0.01 <= rate <= 0.10  # 5% expected; 300 trials give a standard error of 1.3%


def test_cgiqa_halves_are_resampled_within_each_half():
    """Each half is perfectly ranked, but the halves are offset: the official figure (mean over
    halves) is 1 in every resample when halves are kept apart, so its standard error is 0."""
    game = [(float(i), float(i) + 10, f"game_{i}.png") for i in range(30)]
    movie = [(float(i) + 100, float(i), f"movie_{i}.png") for i in range(30)]
    items = game + movie
    assert srcc_cgiqa(items) == pytest.approx(1.0) and srcc(items) < 0.5
    assert srcc_cgiqa.qbench_stderr(items, 200) < 1e-12 and plcc_cgiqa.qbench_stderr(items, 200) < 1e-12
    assert srcc.qbench_stderr(items, 200) > 0.01


def test_accuracy_stderr_is_the_binomial_formula_over_the_items_it_applies_to():
    values = [1.0] * 30 + [0.0] * 20 + [None] * 17
    p, n = 0.6, 50
    assert mean_of_present.qbench_stderr(values, 1000) == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))
    assert math.isnan(mean_stderr([1.0, None]))


def test_a2_total_stderr_bootstraps_the_sum_of_dimension_means():
    """With the three dimensions equal per description, total = 3 x mean: its standard error must
    be 3 x the mean's, which the bootstrap estimates to within a few per cent."""
    rng = np.random.default_rng(3)
    per_item = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0], size=400)
    items = [{"completeness": v, "precision": v, "relevance": v} for v in per_item]
    assert total(items) == pytest.approx(3 * per_item.mean())
    assert total.qbench_stderr(items, 1000) == pytest.approx(3 * mean_stderr(list(per_item)), rel=0.08)


def test_same_inputs_same_standard_error():
    rng = np.random.default_rng(5)
    x, y = bivariate(rng, 0.3, 100)
    items = [(a, b, f"{i}") for i, (a, b) in enumerate(zip(x, y))]
    assert srcc.qbench_stderr(items, 300) == srcc.qbench_stderr(items, 300)


GROUP_YAML = """\
group: qbench_test_a3_group
task:
  - qbench_a3_demo
aggregate_metric_list:
  - metric: srcc
    aggregation: mean
    weight_by_size: false
metadata:
  version: 1.0
"""


def test_lm_eval_results_carry_every_qbench_standard_error(signal_model, tiny_model, tmp_path):
    from conftest import run_lm_eval

    (tmp_path / "group.yaml").write_text(GROUP_YAML)
    out = run_lm_eval(["qbench_test_a3_group"], signal_model, batch_size=8, extra_include=[tmp_path])
    a3, group = (out["results"][name] for name in ("qbench_a3_demo", "qbench_test_a3_group"))
    items = [tuple(sample["srcc"]) for sample in out["samples"]["qbench_a3_demo"]]
    # lm-eval's default 100,000 resamples are capped at 1,000, with the fixed seed: reproducible.
    assert a3["srcc_stderr,none"] == srcc.qbench_stderr(items, 1000) and 0.001 < a3["srcc_stderr,none"] < 0.1
    assert a3["plcc_stderr,none"] == plcc.qbench_stderr(items, 1000)
    assert group["srcc_stderr,none"] == pytest.approx(a3["srcc_stderr,none"])  # one subtask: sqrt(se^2)/1
    # The random-weight model: the demo's own answers every demo question right (no spread to estimate).
    out = run_lm_eval(["qbench_a1_demo_mc"], tiny_model, batch_size=8)
    a1 = out["results"]["qbench_a1_demo_mc"]
    metrics = [key.split(",")[0] for key in a1 if key.endswith(",none") and "_stderr" not in key]
    assert len(metrics) == 9 and all(isinstance(a1[f"{m}_stderr,none"], float) for m in metrics if m != "unparsed_rate")
    samples = out["samples"]["qbench_a1_demo_mc"]
    for metric in ("acc", "acc_what"):
        values = [s[metric] for s in samples if s[metric] is not None]
        p, n = np.mean(values), len(values)
        assert 0 < p < 1
        assert a1[f"{metric}_stderr,none"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))


def test_bootstrap_iters_zero_turns_standard_errors_off(signal_model):
    from conftest import run_lm_eval

    a3 = run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=8, bootstrap_iters=0,
                     log_samples=False)["results"]["qbench_a3_demo"]
    assert a3["srcc_stderr,none"] == a3["plcc_stderr,none"] == "N/A"
