"""lm-eval model classes for Q-Bench. Importing this package registers them with lm-eval.

* ``hf-multimodal-loglik``: ``hf-multimodal`` plus log-likelihoods over images, and generation
  that ``--use_cache`` can resume mid-way.
* ``niqe``, ``clip-iqa``: IQA baselines for the A3 tasks (``iqa_baselines``).
* ``qbench-protocol``: a module written to the Q-Bench submission protocol (``qbench_protocol``).

``install_lm_eval_hooks`` gives lm-eval's own ``hf-multimodal`` the same two abilities, and lm-eval's
results the standard errors of Q-Bench's aggregations, and its results and samples files no
credentials (version-gated; called when Q-Bench task code loads).
"""

from model_wrappers.aggregation_stderr import install_aggregation_stderr_hook
from model_wrappers.hf_multimodal_loglik import (
    HFMultimodalLoglikLM,
    install_hf_multimodal_loglikelihood_hook,
)
from model_wrappers.iqa_baselines import CLIPIQALM, NIQELM
from model_wrappers.qbench_protocol import QBenchProtocolLM
from model_wrappers.redaction import install_redaction_hook
from model_wrappers.resumable_generation import install_resumable_generation_hook


def install_lm_eval_hooks() -> None:
    install_hf_multimodal_loglikelihood_hook()
    install_resumable_generation_hook()
    install_aggregation_stderr_hook()
    install_redaction_hook()


__all__ = ["CLIPIQALM", "HFMultimodalLoglikLM", "NIQELM", "QBenchProtocolLM", "install_lm_eval_hooks",
           "install_hf_multimodal_loglikelihood_hook"]
