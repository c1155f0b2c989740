"""The same run twice gives identical metrics; batch sizes 1, 4 and 8 agree to 1e-5."""

import pytest
from conftest import run_lm_eval, sample_scores

TASKS = ["qbench_a3_demo", "qbench_a1_demo_mc"]


def metrics(results, task):
    return {k: v for k, v in results["results"][task].items() if "," in k and "stderr" not in k}


@pytest.fixture(scope="module")
def runs(signal_model):
    return {batch_size: run_lm_eval(TASKS, signal_model, batch_size=batch_size) for batch_size in (1, 4, 8)}


def test_same_run_twice_gives_identical_metrics(runs, signal_model):
    again = run_lm_eval(TASKS, signal_model, batch_size=8)
    for task in TASKS:
        assert metrics(again, task) == metrics(runs[8], task)
    assert sample_scores(again, "qbench_a3_demo") == sample_scores(runs[8], "qbench_a3_demo")


@pytest.mark.parametrize("batch_size", [4, 8])
def test_batch_sizes_agree(runs, batch_size):
    one, other = sample_scores(runs[1], "qbench_a3_demo"), sample_scores(runs[batch_size], "qbench_a3_demo")
    assert one.keys() == other.keys() and max(abs(one[k] - other[k]) for k in one) < 1e-5
    for key, value in metrics(runs[1], "qbench_a3_demo").items():
        assert metrics(runs[batch_size], "qbench_a3_demo")[key] == pytest.approx(value, abs=1e-5)
    assert metrics(runs[batch_size], "qbench_a1_demo_mc") == metrics(runs[1], "qbench_a1_demo_mc")
