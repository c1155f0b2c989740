"""lm-eval model classes for Q-Bench. Importing this package registers them with lm-eval.

* ``hf-multimodal-loglik``: ``hf-multimodal`` plus log-likelihoods over images, and generation
  that ``--use_cache`` can resume mid-way.
* ``niqe``, ``clip-iqa``: IQA baselines for the A3 tasks (``iqa_baselines``).
* ``qbench-protocol``: a module written to the Q-Bench submission protocol (``qbench_protocol``).

``install_lm_eval_hooks`` (``lm_eval_hooks``: every patch, one version gate) gives lm-eval's own
``hf-multimodal`` the same abilities, lm-eval's results the standard errors of Q-Bench's
aggregations, and its results and samples files no credentials; the task code calls it.
"""

from model_wrappers.hf_multimodal_loglik import HFMultimodalLoglikLM
from model_wrappers.iqa_baselines import CLIPIQALM, NIQELM
from model_wrappers.lm_eval_hooks import install_lm_eval_hooks
from model_wrappers.qbench_protocol import QBenchProtocolLM

__all__ = ["CLIPIQALM", "HFMultimodalLoglikLM", "NIQELM", "QBenchProtocolLM", "install_lm_eval_hooks"]
