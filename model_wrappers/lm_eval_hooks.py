"""Everything Q-Bench changes in lm-eval, behind one version gate and one install call.

lm-eval 0.4.13 lacks what Q-Bench needs in seven places; each patch lives beside the code it
patches in, and is installed from here by ``install_lm_eval_hooks``, which the Q-Bench task code
calls when it loads (lm-eval builds the model before it loads tasks, but asks the model after):

* ``hf-multimodal`` log-likelihoods over images (``hf_multimodal_loglik``), and ``vllm-vlm``'s,
  with data-parallel replicas that last the run (``vllm_vlm``; where vLLM is in use);
* generation that ``--use_cache`` resumes mid-way and that decodes images left on disk per
  chunk (``resumable_generation``), and that keeps an encoder-decoder model's answer whole
  (``encoder_decoder``);
* ``--use_cache`` keys for images left on disk, hashed by content (``qbench_tasks.data.lazy_images``);
* standard errors of Q-Bench's aggregations (``aggregation_stderr``);
* no credentials in results and samples files (``redaction``);
* ``--predict_only`` that keeps each item's result in the samples (``predict_only``);
* no generic hint in the log for Q-Bench tasks (``_QBenchTaskHintFilter``, here);
* a run that ends on missing, mismatched or damaged Q-Bench data prints that error's message,
  which says what to run, instead of a traceback ending in it (``_data_problem_hook``, here).

Each patch steps aside (and says so in the log) on an lm-eval outside the releases it was written
for, or where lm-eval does the job itself.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from pathlib import Path

from packaging.version import Version

from qbench_tasks import NAMESPACES

log = logging.getLogger(__name__)

# lm-eval releases the patches were written for.
HOOKED_LM_EVAL_VERSIONS = (Version("0.4.13"), Version("0.5"))


def hooks_apply(hook: str) -> bool:
    """Whether the installed lm-eval is one the Q-Bench hooks were written for (the one version
    gate of every hook); ``hook`` names what is left out otherwise, for the log."""
    low, high = HOOKED_LM_EVAL_VERSIONS
    if low <= Version(importlib.metadata.version("lm_eval")) < high:
        return True
    log.info("lm-eval outside %s..%s: no Q-Bench hook for %s", low, high, hook)
    return False


def patch(owner, name: str, replacement, hook: str) -> bool:
    """Set ``owner.<name>`` to ``replacement`` (once; idempotent) where ``hooks_apply(hook)``;
    True when in effect. ``hook`` names the patch for the log."""
    if getattr(owner, name) is replacement:
        return True
    if not hooks_apply(hook):
        return False
    setattr(owner, name, replacement)
    return True


# How the names of the tasks this distribution ships begin (Q-Bench, Q-Bench+ and their demos).
QBENCH_TASK_PREFIXES = tuple(f"{namespace}_" for namespace in NAMESPACES)
# lm-eval's hint, logged for every task whose data comes from a custom_dataset function.
CUSTOM_KWARGS_HINT = ": Custom kwargs can be passed to `--metadata`"
# lm-eval's notes on A-Bench's categories, derived from the data (qbench_tasks.abench.abench): not
# declared in the task config, so averaged by lm-eval's mean, each over its own questions, as meant.
CATEGORY_NOTES = ("] No aggregation function defined for metric acc_",
                  "] Metrics were not scored on the same number of documents")


class _QBenchTaskHintFilter(logging.Filter):
    """Drops lm-eval's notes for Q-Bench tasks that ask for no action: the custom-dataset hint
    (every key Q-Bench reads is declared, documented and checked: ``qbench settings``; it came
    once per task, a dozen lines in a clean demo run), and the notes on A-Bench's derived
    categories (one line per category, and one per task on their differing counts). Other tasks
    keep them."""

    def filter(self, record: logging.LogRecord) -> bool:
        first = record.getMessage().split("\n", 1)[0]
        hint = first.startswith(QBENCH_TASK_PREFIXES) and CUSTOM_KWARGS_HINT in first
        category = first.lstrip("[").startswith(QBENCH_TASK_PREFIXES) and any(n in first for n in CATEGORY_NOTES)
        return not (hint or category)


def _install_hint_filter() -> None:
    if not hooks_apply("the task hint filter"):
        return
    for name in ("lm_eval.api.task", "lm_eval.evaluator_utils"):
        log_ = logging.getLogger(name)
        if not any(isinstance(f, _QBenchTaskHintFilter) for f in log_.filters):
            log_.addFilter(_QBenchTaskHintFilter())


def _data_problem_hook(previous):
    def excepthook(kind, value, traceback):
        from qbench_tasks.data.location import DatasetProblem

        if isinstance(value, DatasetProblem):
            print(f"{Path(sys.argv[0]).name or 'python'}: {value}", file=sys.stderr)
        else:
            previous(kind, value, traceback)

    excepthook.qbench = True
    return excepthook


def _install_data_problem_hook() -> None:
    if not getattr(sys.excepthook, "qbench", False):
        sys.excepthook = _data_problem_hook(sys.excepthook)


def install_lm_eval_hooks() -> None:
    """Install every Q-Bench patch on lm-eval (each once; idempotent)."""
    from model_wrappers.aggregation_stderr import install_aggregation_stderr_hook
    from model_wrappers.encoder_decoder import install_encoder_decoder_generation_hook
    from model_wrappers.hf_multimodal_loglik import install_hf_multimodal_loglikelihood_hook
    from model_wrappers.predict_only import install_predict_only_hook
    from model_wrappers.redaction import install_redaction_hook
    from model_wrappers.resumable_generation import install_resumable_generation_hook
    from qbench_tasks.data.lazy_images import install_cache_key_hook

    install_hf_multimodal_loglikelihood_hook()
    install_resumable_generation_hook()
    install_encoder_decoder_generation_hook()
    install_cache_key_hook()
    install_aggregation_stderr_hook()
    install_redaction_hook()
    install_predict_only_hook()
    _install_hint_filter()
    _install_data_problem_hook()
    if "lm_eval.models.vllm_vlms" in sys.modules:  # vllm-vlm in use (importing it needs vLLM)
        from model_wrappers.vllm_vlm import install_vllm_hook

        install_vllm_hook()
