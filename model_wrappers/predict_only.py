"""``--predict_only`` on Q-Bench tasks.

lm-eval replaces a task's metrics by ``bypass`` and its ``process_results`` by the built-in one,
whose multiple-choice branch reads the target as a choice index. A3's target is the MOS (a
float), so every A3 task crashed after all its forward passes and wrote nothing. Here a Q-Bench
task keeps its own ``process_results``: the samples carry each item's result as in a scored run
(A3: the image's score, MOS and name under ``srcc`` / ``plcc``), and each of its metrics
aggregates as the override metric does (``bypass``: lm-eval's placeholder value).
"""

from __future__ import annotations

from lm_eval.api.registry import get_metric, get_metric_aggregation, is_higher_better
from lm_eval.api.task import ConfigurableTask

from model_wrappers.lm_eval_hooks import patch
from qbench_tasks import is_qbench_name

_OVERRIDE_METRIC = ConfigurableTask.override_metric


def override_metric(self, metric_name: str) -> None:
    own = self.config.process_results
    keep = is_qbench_name(str(self.config.task or "")) and callable(own)
    names = list(self._metric_fn_list)
    _OVERRIDE_METRIC(self, metric_name)
    if keep:
        self._config["process_results"] = own
        for name in names:
            self._metric_fn_list[name] = get_metric(metric_name)
            self._aggregation_list[name] = get_metric_aggregation(metric_name)
            self._higher_is_better[name] = is_higher_better(metric_name)
            self._metric_fn_kwargs[name] = {}


def install_predict_only_hook() -> bool:
    """Q-Bench tasks keep their per-item results under --predict_only; True when in effect."""
    return patch(ConfigurableTask, "override_metric", override_metric, "--predict_only on Q-Bench tasks")
