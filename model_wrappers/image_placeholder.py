"""The image marker ``hf-multimodal`` writes into a prompt: the one the model's processor reads.

lm-eval 0.4.13 writes ``config.image_token_id``'s text in place of ``<image>``. That is the token
an image *expands into*, which is not always what the processor expects in prompt text: Gemma3's
is ``<image_soft_token>`` where its processor counts ``<start_of_image>`` (so every request
failed), and Qwen-VL's bare ``<|image_pad|>`` leaves out the ``<|vision_start|>`` /
``<|vision_end|>`` it was trained with. Before the first image request, the Q-Bench request
paths (``hf_multimodal_loglik``, ``resumable_generation``) switch the marker to what the
processor's own chat template writes for one image (when that holds the processor's
``image_token``), else to the processor's ``image_token`` - or to nothing where the processor
places the image itself (IDEFICS, InstructBLIP, Kosmos-2, PaliGemma), as a marker would add a
second one. It is done there, at first use, because
lm-eval builds the model before the Q-Bench task code (and its hooks) load. An ``image_string``,
or an ``image_token_id`` other than the config's, in ``--model_args`` is left as given.
"""

from __future__ import annotations

import logging
import os

from lm_eval.models.hf_vlms import HFMultimodalLM
from PIL import Image

log = logging.getLogger(__name__)

_TEXT = "\x00qbench-text\x00"  # marks where the text goes in a rendered template


def places_images_itself(processor) -> bool:
    """Whether ``processor`` puts an image's tokens into the sequence when the text has no marker
    (IDEFICS, InstructBLIP, Kosmos-2, PaliGemma): a marker in the text would be a second image."""
    text = "quality"
    try:
        encoded = processor(text=[text], images=[Image.new("RGB", (64, 64), (128, 128, 128))], return_tensors="pt")
    except Exception:  # noqa: BLE001 - it wants a marker (or cannot say): not one that places images
        return False
    return encoded["input_ids"].shape[1] > len(processor.tokenizer(text)["input_ids"])


def prompt_image_placeholder(processor) -> str | None:
    """What ``processor`` reads as one image in prompt text: nothing where it places images
    itself (None: it does not say)."""
    if places_images_itself(processor):
        return ""
    token = getattr(processor, "image_token", None)
    if not isinstance(token, str) or not token:
        return None
    if getattr(processor, "chat_template", None):
        def head(content: list[dict]) -> str:
            rendered = processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False)
            return rendered[: rendered.index(_TEXT)]

        try:
            with_image = head([{"type": "image"}, {"type": "text", "text": _TEXT}])
            without = head([{"type": "text", "text": _TEXT}])
        except Exception as err:  # noqa: BLE001 - a template that cannot say leaves the token
            log.debug("chat template did not render an image (%s); using %r", err, token)
        else:
            written = with_image[len(os.path.commonprefix([with_image, without])):].strip()
            if token in written:
                return written
    return token


def use_processor_image_marker(lm: HFMultimodalLM) -> None:
    """Write ``lm``'s images as its processor reads them, unless the user chose a marker (once)."""
    if getattr(lm, "_qbench_image_marker_checked", False):
        return
    lm._qbench_image_marker_checked = True
    placeholder = prompt_image_placeholder(lm.processor)
    config_id = getattr(lm.config, "image_token_id", None) or getattr(lm.config, "image_token_index", None)
    chosen = getattr(lm, "image_token_id", None) is None or lm.image_token_id != config_id
    if chosen and placeholder != "":  # a marker the user gave stands, unless it would be a second image
        return
    if placeholder is not None and placeholder != lm.image_token:
        log.info("Q-Bench: images are written %r in prompts (what the processor reads), not %r",
                 placeholder, lm.image_token)
        lm.image_token = placeholder
