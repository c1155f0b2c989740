"""lm-eval model classes for Q-Bench. Importing this package registers them with lm-eval.

* ``hf-multimodal-loglik``: ``hf-multimodal`` plus log-likelihoods over images, and generation
  that ``--use_cache`` can resume mid-way.

``install_hf_multimodal_hooks`` gives lm-eval's own ``hf-multimodal`` the same two abilities
(version-gated; called when Q-Bench task code loads).
"""

from model_wrappers.hf_multimodal_loglik import (
    HFMultimodalLoglikLM,
    install_hf_multimodal_loglikelihood_hook,
)
from model_wrappers.resumable_generation import install_resumable_generation_hook


def install_hf_multimodal_hooks() -> None:
    install_hf_multimodal_loglikelihood_hook()
    install_resumable_generation_hook()


__all__ = ["HFMultimodalLoglikLM", "install_hf_multimodal_hooks", "install_hf_multimodal_loglikelihood_hook"]
