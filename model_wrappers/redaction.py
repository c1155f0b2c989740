"""No credential in the files lm-eval writes for a run: a narrow, version-gated hook on its
``EvaluationTracker`` redacts the results (task configs carry ``--metadata`` - a judge's
``judge_model_args`` - and the model's arguments) and the logged samples before they are saved
(``qbench_tasks.credentials``)."""

from __future__ import annotations

from lm_eval.loggers.evaluation_tracker import EvaluationTracker

from model_wrappers.lm_eval_hooks import patch
from qbench_tasks.credentials import redact

_SAVE_RESULTS = EvaluationTracker.save_results_aggregated
_SAVE_SAMPLES = EvaluationTracker.save_results_samples


def save_results_aggregated(self, results: dict, samples: dict | None = None) -> None:
    _SAVE_RESULTS(self, redact(results), redact(samples) if samples is not None else None)


def save_results_samples(self, task_name: str, samples) -> None:
    _SAVE_SAMPLES(self, task_name, redact(samples))


def install_redaction_hook() -> bool:
    """Redact credentials from every results and samples file lm-eval saves; True when in effect."""
    what = "redacting credentials from results files"
    return (patch(EvaluationTracker, "save_results_aggregated", save_results_aggregated, what)
            and patch(EvaluationTracker, "save_results_samples", save_results_samples, what))
