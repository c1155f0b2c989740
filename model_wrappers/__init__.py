"""lm-eval model classes for Q-Bench. Importing this package registers them with lm-eval.

* ``hf-multimodal-loglik``: ``hf-multimodal`` plus log-likelihoods over images.
"""

from model_wrappers.hf_multimodal_loglik import (
    HFMultimodalLoglikLM,
    install_hf_multimodal_loglikelihood_hook,
)

__all__ = ["HFMultimodalLoglikLM", "install_hf_multimodal_loglikelihood_hook"]
