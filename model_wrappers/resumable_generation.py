"""``--use_cache`` that resumes a killed run mid-way through image generation requests.

lm-eval's ``CachingLM`` stores a call's results when the whole call returns, and, as they come,
whatever the model reports through its cache hook. ``hf-multimodal``'s generate_until reports
each answer under (context, generation kwargs) alone — its images left out — a key that no
lookup of an image request ever finds. So a run killed during generation used to keep nothing.
Here, when a cache is in use, image requests go to lm-eval's generate_until in chunks, and each
chunk's answers are stored under their full requests (images hashed by content) before the
next chunk starts.

The same chunks let image generation requests carry references to images left on disk
(``LazyImage``, as Q-Bench+ pairs do): each chunk's images are decoded just before it runs and
dropped after, so memory holds one chunk's images, not the whole dataset's. Requests with
neither a cache nor such references go to lm-eval's own method, untouched.
"""

from __future__ import annotations

import copy

from lm_eval.api.instance import Instance
from lm_eval.api.model import CacheHook
from lm_eval.models.hf_vlms import HFMultimodalLM
from tqdm import tqdm

from model_wrappers.image_placeholder import use_processor_image_marker
from model_wrappers.lm_eval_hooks import patch
from qbench_tasks.data.lazy_images import LazyImage, decoded

# Requests per generate_until call while caching (at most this many are redone after a kill)
# or decoding images left on disk (at most this many requests' images are in memory).
RESUME_CHUNK = 64

def _has_lazy_images(requests) -> bool:
    return any(isinstance(image, LazyImage) for request in requests for image in request.args[2].get("visual", ()))


def _with_decoded_images(chunk: list[Instance]) -> list[Instance]:
    """The chunk's requests, those holding ``LazyImage`` references copied with them decoded."""
    out = []
    for request in chunk:
        context, gen_kwargs, aux = request.args
        if any(isinstance(image, LazyImage) for image in aux.get("visual", ())):
            request = copy.copy(request)
            request.arguments = (context, gen_kwargs, {**aux, "visual": [decoded(image) for image in aux["visual"]]})
        out.append(request)
    return out


def chunked_generate_until(lm_eval_generate_until, prepare=None):
    """A ``generate_until`` that runs lm-eval's ``lm_eval_generate_until`` chunk by chunk when
    ``--use_cache`` is on (answers stored per chunk) or images were left on disk (decoded per
    chunk); ``prepare(lm)`` runs before the first image request."""

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        if not requests or len(requests[0].args) < 3:
            return lm_eval_generate_until(self, requests, disable_tqdm=disable_tqdm)
        if prepare is not None:
            prepare(self)
        hook = self.cache_hook
        caching = hook.dbdict is not None
        if not caching and not _has_lazy_images(requests):
            return lm_eval_generate_until(self, requests, disable_tqdm=disable_tqdm)
        answers: list[str] = []
        pbar = tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0,
                    desc="Running generate_until requests with text+image input (in chunks)")
        self.cache_hook = CacheHook(None)  # lm-eval's image-less keys would only fill the cache
        try:
            for start in range(0, len(requests), RESUME_CHUNK):
                chunk = requests[start:start + RESUME_CHUNK]
                chunk_answers = lm_eval_generate_until(self, _with_decoded_images(chunk), disable_tqdm=True)
                if caching:
                    for request, answer in zip(chunk, chunk_answers):
                        hook.add_partial("generate_until", request.args, answer)
                answers.extend(chunk_answers)
                pbar.update(len(chunk))
        finally:
            self.cache_hook = hook
            pbar.close()
        return answers

    return generate_until


generate_until_resumable = chunked_generate_until(HFMultimodalLM.generate_until, use_processor_image_marker)


def install_resumable_generation_hook() -> bool:
    """Give lm-eval's ``hf-multimodal`` the chunked, resumable generate_until; True when in effect."""
    return patch(HFMultimodalLM, "generate_until", generate_until_resumable, "resumable generation")
