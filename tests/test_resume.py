"""--use_cache with image requests: a run that dies halfway resumes without redoing what was done."""

import pytest
from conftest import run_lm_eval, sample_scores

from model_wrappers import hf_multimodal_loglik


def test_a3_run_that_died_halfway_resumes_from_the_cache(signal_model, tmp_path, monkeypatch):
    fresh = run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=4)
    real_score_batch = hf_multimodal_loglik._score_batch
    forwards = {"batches": 0, "images": 0}

    def dies_at_the_sixth_batch(lm, rows, encoding):
        forwards["batches"] += 1
        if forwards["batches"] == 6:
            raise RuntimeError("killed")
        return real_score_batch(lm, rows, encoding)

    monkeypatch.setattr(hf_multimodal_loglik, "_score_batch", dies_at_the_sixth_batch)
    with pytest.raises(RuntimeError, match="killed"):
        run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=4, use_cache=str(tmp_path / "cache"))

    def counting(lm, rows, encoding):
        forwards["images"] += len(rows)
        return real_score_batch(lm, rows, encoding)

    monkeypatch.setattr(hf_multimodal_loglik, "_score_batch", counting)
    resumed = run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=4, use_cache=str(tmp_path / "cache"))
    assert forwards["images"] == 91 - 5 * 4  # the five finished batches came from the cache
    a, b = sample_scores(fresh, "qbench_a3_demo"), sample_scores(resumed, "qbench_a3_demo")
    assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) < 1e-5
    for metric in ("srcc,none", "plcc,none"):
        assert resumed["results"]["qbench_a3_demo"][metric] == pytest.approx(
            fresh["results"]["qbench_a3_demo"][metric], abs=1e-6)

    forwards["images"] = 0
    again = run_lm_eval(["qbench_a3_demo"], signal_model, batch_size=4, use_cache=str(tmp_path / "cache"))
    assert forwards["images"] == 0
    assert again["results"]["qbench_a3_demo"] == resumed["results"]["qbench_a3_demo"]
