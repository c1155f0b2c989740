"""Log-likelihood of text continuations given images, for lm-eval's ``hf-multimodal``.

lm-eval 0.4.13's ``HFMultimodalLM.loglikelihood`` raises NotImplementedError for requests that
carry images (and the code behind that raise never expands the ``<image>`` placeholder nor
measures the expanded context). This module supplies it:

* as the registered model ``hf-multimodal-loglik`` (``HFMultimodalLoglikLM``), and
* as a narrow hook on ``HFMultimodalLM.loglikelihood``, installed when the Q-Bench task code is
  imported, so that plain ``--model hf-multimodal`` runs Q-Bench too. The hook is version-gated
  and probes the installed method first: when lm-eval implements the feature, it steps aside.

How a request is scored: requests that share their images, their context and every
continuation token but the last share one row of one forward pass (for A3, the " good" and
" poor" continuations of an image are one row). Rows are batched with lm-eval's ``Collator``;
the processor expands each context's image placeholder into the model's image tokens and
batches the pixel inputs, each row's expanded context is read where the processor put it
(left or right padding), the shared continuation tokens are appended after it, and rows are
laid out again right-padded so every position keeps the position id it has at batch size 1.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from lm_eval.api.instance import Instance
from lm_eval.api.registry import register_model
from lm_eval.models.hf_vlms import DEFAULT_IMAGE_PLACEHOLDER, HFMultimodalLM
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import Collator, flatten_image_list, replace_placeholders, resize_image
from tqdm import tqdm

from model_wrappers.encoder_decoder import answer_prefix_to_decoder, is_encoder_decoder, score_encoder_decoder
from model_wrappers.image_placeholder import use_processor_image_marker
from model_wrappers.lm_eval_hooks import hooks_apply
from qbench_tasks.data.lazy_images import decoded

log = logging.getLogger(__name__)

# Batches prepared ahead of the model, one thread each (bounds the decoded images in memory).
PREFETCH_BATCHES = 2
# Score the continuations of one image + context from one cached prefix (False: a full forward
# per distinct continuation prefix; kept for bench/a1_mc.py's comparison and the parity test).
SHARE_PREFIX_CACHE = True

# Processors that want one flat list of a batch's images: LLaVA's; IDEFICS' puts a row's images
# after its text when they come as a nested list, before it when flat (its prompts' order).
FLAT_IMAGE_LIST_MODELS = ("llava", "idefics")

# Families whose forward cannot continue from a cached prefix without the image (what a
# continuation call has): their options are scored by full forwards.
NO_PREFIX_CACHE = {
    "idefics": "cross-attends to the image at every forward, with no image in the call",
    "instructblip": "its forward returns no cache",
    "blip-2": "its forward returns no cache",
    "kosmos-2": "requires the image at every forward",
}

_LM_EVAL_LOGLIKELIHOOD = HFMultimodalLM.loglikelihood


@dataclass
class _Row:
    """One sequence of a forward pass and the requests read from it."""

    context: str  # with the model's image token(s) in place of the harness placeholder
    images: list
    shared_continuation: list[int]  # continuation tokens all members share, bar their last
    members: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, tokens)


def move_trailing_spaces(context: str, continuation: str) -> tuple[str, str]:
    """Trailing spaces of the context moved to the continuation, as lm-eval's ``_encode_pair`` does."""
    n_spaces = len(context) - len(context.rstrip())
    return (context[:-n_spaces], context[-n_spaces:] + continuation) if n_spaces else (context, continuation)


def continuation_token_ids(tokenizer, context: str, continuation: str) -> list[int]:
    """The continuation's tokens: those of context + continuation after the context's own
    (lm-eval's ``_encode_pair``); never empty."""
    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
    whole_ids = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    if not whole_ids[len(context_ids):]:
        raise ValueError(f"continuation {continuation!r} encodes to no tokens after {context!r}")
    return whole_ids[len(context_ids):]


def _split_continuation(lm: HFMultimodalLM, context: str, continuation: str) -> tuple[str, list[int]]:
    """(context text, continuation token ids), tokenised as lm-eval's ``_encode_pair`` does.

    The image token is one token here; its expansion into image features happens later, in the
    processor. An encoder-decoder model's continuation is encoded alone (lm-eval's seq2seq
    convention: the decoder's side).
    """
    context, continuation = move_trailing_spaces(context, continuation)
    if not lm.chat_applied:  # a chat template has already written the model's own token
        context = replace_placeholders(
            context, DEFAULT_IMAGE_PLACEHOLDER, lm.image_token, lm.max_images
        )
    if is_encoder_decoder(lm.config):
        continuation_ids = lm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        if not continuation_ids:
            raise ValueError(f"continuation {continuation!r} encodes to no tokens")
        return context, continuation_ids
    return context, continuation_token_ids(lm.tokenizer, context, continuation)


def report_choice_word_tokens(lm: HFMultimodalLM, words: dict[str, list[int]]) -> None:
    """Log, once per process and model, how the A3 choice words tokenise after the prompt. The
    official A3 score reads one next-token logit per word; a word of several tokens is scored by
    its whole log-likelihood (the sum over its tokens), which the log says, so that no model is
    silently scored on a different quantity."""
    reported = lm.__dict__.setdefault("_qbench_reported_words", set())
    fresh = {word: ids for word, ids in words.items() if word not in reported}
    if not fresh:
        return
    reported.update(fresh)
    split = {word: ids for word, ids in fresh.items() if len(ids) > 1}
    pieces = ", ".join(f"{word!r} = {lm.tokenizer.convert_ids_to_tokens(ids)}" for word, ids in fresh.items())
    if split:
        log.warning("Q-Bench A3 choice words for this model: %s. %s more than one token: the A3 score "
                    "uses each word's whole log-likelihood (the sum over its tokens), not the one "
                    "next-token logit the official score reads.", pieces, " and ".join(map(repr, split)))
    else:
        log.info("Q-Bench A3 choice words for this model: %s (one token each, as the official score reads).",
                 pieces)


def _rows(lm: HFMultimodalLM, requests: list[Instance]) -> list[_Row]:
    rows: dict[tuple, _Row] = {}
    choice_words: dict[str, list[int]] = {}
    seq2seq = is_encoder_decoder(lm.config)
    for index, request in enumerate(requests):
        context, continuation, aux = request.args
        if not context:
            raise ValueError(
                "multimodal log-likelihood needs a non-empty context "
                "(loglikelihood_rolling over images is not supported)"
            )
        images = list(aux["visual"])[: lm.max_images]
        context, continuation_ids = _split_continuation(lm, context, continuation)
        if "choice_words" in (request.doc or {}):  # an A3 document
            choice_words[continuation] = continuation_ids
        # The harness hands every continuation of a document the same image objects. An
        # encoder-decoder model reads every continuation from the decoder's start: one row each context.
        shared = [] if seq2seq else continuation_ids[:-1]
        if seq2seq and (request.doc or {}).get("answer_prefix_side") == "decoder":
            context, shared = answer_prefix_to_decoder(lm, context, request.doc["answer_prefix"])
        key = (tuple(map(id, images)), context, tuple(shared))
        if key not in rows:
            rows[key] = _Row(context, images, shared)
        rows[key].members.append((index, continuation_ids))
    if choice_words:
        report_choice_word_tokens(lm, choice_words)
    return list(rows.values())


def _processor_input_size(lm: HFMultimodalLM) -> tuple[int, int] | None:
    """The smallest (width, height) the image processor resizes to, if it says (for JPEG draft)."""
    image_processor = getattr(lm.processor, "image_processor", None)
    sides = []
    for size in (getattr(image_processor, "size", None), getattr(image_processor, "crop_size", None)):
        if hasattr(size, "get"):  # a dict, or transformers' SizeDict
            sides += [v for v in map(size.get, ("shortest_edge", "height", "width")) if isinstance(v, int)]
    return (max(sides), max(sides)) if sides else None


def _processor_images(lm: HFMultimodalLM, rows: list[_Row]) -> list:
    """The batch's images, decoded now if they were left on disk (``LazyImage``) and prepared
    exactly as lm-eval's generate_until prepares them."""
    min_size = _processor_input_size(lm)
    images = [
        [resize_image(decoded(img, min_size), lm.image_width, lm.image_height, lm.image_max_side)
         for img in row.images]
        for row in rows
    ]
    if lm.rgb:
        images = [[img.convert("RGB") for img in row_images] for row_images in images]
    if getattr(lm.config, "model_type", "") in FLAT_IMAGE_LIST_MODELS:
        images = flatten_image_list(images)
    return images


def _private_processor(lm: HFMultimodalLM):
    """A copy of the model's processor for one prefetch thread, padding on the right. A fast
    tokenizer is not safe to call from two threads at once, and the copy's padding side is its
    own, so the harness's tokenizer is never touched."""
    processor = copy.deepcopy(lm.processor)
    processor.tokenizer.padding_side = "right"
    return processor


def _encode_unit(lm: HFMultimodalLM, processor, shares_prefix: bool, rows: list[_Row]):
    """The processor's inputs for a work unit: its images decoded and prepared, contexts with
    their image placeholders expanded, right-padded (a shared-prefix unit: its one context)."""
    rows = rows[:1] if shares_prefix else rows
    encoding = processor(
        text=[row.context for row in rows],
        images=_processor_images(lm, rows),
        padding="longest",
        return_tensors="pt",
    )
    encoding.pop("labels", None)  # PaliGemma adds training labels; the model must not see them
    return encoding


# Processor outputs that mark each token of a sequence (besides input_ids and attention_mask):
# token_type_ids (PaliGemma: prefix 0 / suffix 1; Gemma3: text 0 / image 1), mm_token_type_ids
# (Qwen-VL: text / image), cross_attention_mask (Mllama) and image_attention_mask (IDEFICS): which
# images a token attends to; image_embeds_position_mask (Kosmos-2): where image features go.
# Named, not found by shape: other outputs (InstructBLIP's qformer_input_ids) may have the length.
PER_TOKEN_OUTPUTS = ("token_type_ids", "mm_token_type_ids", "cross_attention_mask", "image_attention_mask",
                     "image_embeds_position_mask")
# Tokens appended after the context continue its last token (text after the prompt: same type, same
# images in view), except where a family marks answer tokens apart:
APPENDED_TOKEN_VALUES = {("paligemma", "token_type_ids"): 1}  # the answer is PaliGemma's suffix


def _per_token_outputs(encoding, shape: torch.Size) -> dict[str, torch.Tensor]:
    return {k: v for k, v in encoding.items() if k in PER_TOKEN_OUTPUTS and v.shape[:2] == shape}


def _appended_token_value(lm: HFMultimodalLM, name: str, last_context_value: torch.Tensor):
    return APPENDED_TOKEN_VALUES.get((getattr(lm.config, "model_type", ""), name), last_context_value)


def _at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    """Log-softmax in float32 for half-precision models, and in float64 for float64 ones."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(_at_least_float32(logits), dim=-1)


def _token_spans(context_mask: torch.Tensor) -> list[slice]:
    """Where each row's tokens are in the processor's batch: one run of attended positions, at
    the end (left padding: Fuyu pads so whatever the tokenizer says) or at the start. A row whose
    tokens are not one run cannot be read, and is refused rather than scored wrong."""
    spans = []
    for i, row in enumerate(context_mask.bool()):
        kept = row.nonzero().flatten()
        first, last = (int(kept[0]), int(kept[-1])) if len(kept) else (0, -1)
        if len(kept) == 0 or last - first + 1 != len(kept) or (first > 0 and last < len(row) - 1):
            raise ValueError(
                f"the processor's attention mask for batch row {i} is not one run of tokens at either end "
                f"({row.int().tolist()}): its padding cannot be read, so the batch is not scored; use --batch_size 1")
        spans.append(slice(first, last + 1))
    return spans


def _score_batch(lm: HFMultimodalLM, rows: list[_Row], encoding) -> list[list[tuple[float, bool]]]:
    """One forward pass over ``rows`` (``encoding``: their ``_encode_unit``); per row,
    (log-likelihood, is-greedy) per member. Each row's context is read where the processor put
    it (``_token_spans``) and laid out again padded on the right, followed by its shared
    continuation tokens, so that every token keeps the position it has at batch size 1."""
    tokenizer = lm.tokenizer
    context_ids, context_mask = encoding.pop("input_ids"), encoding.pop("attention_mask")
    spans = _token_spans(context_mask)
    context_lens = [span.stop - span.start for span in spans]
    lengths = [n + len(row.shared_continuation) for n, row in zip(context_lens, rows)]
    if max(lengths) > lm.max_length:
        raise ValueError(
            f"an image+text request needs {max(lengths)} tokens, more than the model's "
            f"max_length {lm.max_length}; truncating would cut image tokens"
        )
    width = max(lengths)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    per_token = _per_token_outputs(encoding, context_ids.shape)
    extended = {k: v.new_zeros((len(rows), width) + v.shape[2:]) for k, v in per_token.items()}
    for i, (row, span, n) in enumerate(zip(rows, spans, context_lens)):
        input_ids[i, :n] = context_ids[i, span]
        input_ids[i, n : lengths[i]] = torch.tensor(row.shared_continuation, dtype=torch.long)
        attention_mask[i, : lengths[i]] = 1
        for k, v in per_token.items():
            extended[k][i, :n] = v[i, span]
            extended[k][i, n : lengths[i]] = _appended_token_value(lm, k, v[i, span.stop - 1])

    model_inputs = {
        k: v.to(lm.device, lm.model.dtype) if v.is_floating_point() else v.to(lm.device)
        for k, v in {**encoding, **extended, "attention_mask": attention_mask}.items()
    }
    # By keyword: not every family's forward takes input_ids first (InstructBLIP, Kosmos-2).
    logits = lm.model(input_ids=input_ids.to(lm.device), **model_inputs).logits

    scored = []
    for i, (row, n) in enumerate(zip(rows, context_lens)):
        # logits at position t predict token t + 1: the continuation starts after the context.
        log_probs = _log_softmax(logits[i, n - 1 : lengths[i]])
        greedy = log_probs.argmax(dim=-1)
        answers = []
        for _, continuation_ids in row.members:
            target = torch.tensor(continuation_ids, device=log_probs.device)
            token_lls = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
            answers.append((float(token_lls.sum()), bool((greedy == target).all())))
        scored.append(answers)
    return scored


def _score_shared_prefix(lm: HFMultimodalLM, rows: list[_Row], encoding) -> list[list[tuple[float, bool]]]:
    """Rows with the same images and context (A1 multiple choice: one per option text): the
    image + context prefix (``encoding``) runs once with its key/value cache kept, and every
    continuation is then read from that cache in one batch, instead of one full forward per option."""
    prefix_inputs = {
        k: v.to(lm.device, lm.model.dtype) if v.is_floating_point() else v.to(lm.device)
        for k, v in encoding.items()
    }
    prefix = lm.model(**prefix_inputs, use_cache=True)
    prefix_len = encoding["input_ids"].shape[1]
    if prefix_len > lm.max_length:
        raise ValueError(f"an image+text request needs {prefix_len} tokens, more than the model's "
                         f"max_length {lm.max_length}; truncating would cut image tokens")
    first = _log_softmax(prefix.logits[0, -1])  # predicts each continuation's first token
    sequences = [ids for row in rows for _, ids in row.members]
    longest = max(map(len, sequences))
    later = None
    if longest > 1:  # the remaining tokens, fed after the cached prefix (right-padded)
        # transformers 5 renamed past_key_values to cache (the old name warns, then goes).
        cache_arg = "cache" if "cache" in inspect.signature(lm.model.forward).parameters else "past_key_values"
        cache = getattr(prefix, cache_arg)
        cache.batch_repeat_interleave(len(sequences))
        # Right-padded: a pad only follows the tokens read, which attend causally, so no attention
        # mask is needed; without one (and without position ids) the model numbers the new
        # tokens after its cache by its own convention (PaliGemma counts from 1; Qwen-VL's M-RoPE
        # adds the offset its images left), as it does when it generates.
        pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
        fed = longest - 1
        feed = torch.full((len(sequences), fed), pad_id, dtype=torch.long)
        for i, ids in enumerate(sequences):
            feed[i, : len(ids) - 1] = torch.tensor(ids[:-1], dtype=torch.long)
        marks = {k: _appended_token_value(lm, k, v[0, -1]) * v.new_ones((len(sequences), fed) + v.shape[2:])
                 for k, v in _per_token_outputs(encoding, encoding["input_ids"].shape).items()}
        inputs = {"input_ids": feed, **marks}
        logits = lm.model(**{k: v.to(lm.device) for k, v in inputs.items()}, **{cache_arg: cache}).logits
        later = _log_softmax(logits)
    answers, i = [], 0
    for row in rows:
        row_answers = []
        for _, ids in row.members:
            steps = [first] + ([later[i, j] for j in range(len(ids) - 1)] if later is not None else [])
            log_likelihood = sum(float(step[token]) for step, token in zip(steps, ids))
            greedy = all(int(step.argmax()) == token for step, token in zip(steps, ids))
            row_answers.append((log_likelihood, greedy))
            i += 1
        answers.append(row_answers)
    return answers


def _work_units(lm: HFMultimodalLM, rows: list[_Row]) -> list[tuple[bool, list[_Row]]]:
    """(shares a prefix, rows): groups of rows with the same images and context go through
    ``_score_shared_prefix``; the other rows are batched for ``_score_batch``."""
    single, shared = rows, []
    if SHARE_PREFIX_CACHE and getattr(lm.config, "model_type", "") not in NO_PREFIX_CACHE \
            and not is_encoder_decoder(lm.config):  # its rows are one per context already
        groups: dict[tuple, list[_Row]] = {}
        for row in rows:
            groups.setdefault((tuple(map(id, row.images)), row.context), []).append(row)
        single = [group[0] for group in groups.values() if len(group) == 1]
        shared = [group for group in groups.values() if len(group) > 1]
    # Longest first, as lm-eval orders its batches: memory errors show at once.
    collator = Collator(single, sort_fn=lambda row: (-len(row.context), row.context))
    return [(False, batch) for batch in collator.get_batched(n=lm.batch_size)] + [(True, g) for g in shared]


@contextmanager
def _cores_left_for_prefetch(lm: HFMultimodalLM):
    """On a CPU model, torch's intra-op threads leave the prefetch threads their cores while
    scoring runs: on 2 cores, a 2-thread forward beside 2 threads decoding and resizing images
    doubled the forward's time (``bench/a3_throughput.py`` prints where the time goes)."""
    threads = torch.get_num_threads()
    if lm.device.type == "cpu":
        # The cores this process may run on (macOS has no affinity call: all of them).
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, min(threads, cores - PREFETCH_BATCHES)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def multimodal_loglikelihood(
    lm: HFMultimodalLM, requests: list[Instance], disable_tqdm: bool = False
) -> list[tuple[float, bool]]:
    """(log-likelihood, is-greedy) for each image+text request, in request order."""
    with _cores_left_for_prefetch(lm):
        return _multimodal_loglikelihood(lm, requests, disable_tqdm)


def _multimodal_loglikelihood(
    lm: HFMultimodalLM, requests: list[Instance], disable_tqdm: bool
) -> list[tuple[float, bool]]:
    units = _work_units(lm, _rows(lm, requests))
    results: list[tuple[float, bool] | None] = [None] * len(requests)
    pbar = tqdm(
        total=len(requests),
        disable=disable_tqdm or lm.rank != 0,
        desc="Running loglikelihood requests with text+image input",
    )

    local = threading.local()

    def unit_inputs(unit):
        if not hasattr(local, "processor"):
            local.processor = _private_processor(lm)
        return _encode_unit(lm, local.processor, *unit)

    # The next units are decoded and run through the processor in threads (Pillow releases the
    # GIL) while the model runs; at most PREFETCH_BATCHES units of inputs wait at any time.
    with ThreadPoolExecutor(max_workers=PREFETCH_BATCHES) as pool:
        pending = deque(pool.submit(unit_inputs, unit) for unit in units[:PREFETCH_BATCHES])
        for i, (shares_prefix, rows) in enumerate(units):
            encoding = pending.popleft().result()
            if i + PREFETCH_BATCHES < len(units):
                pending.append(pool.submit(unit_inputs, units[i + PREFETCH_BATCHES]))
            with torch.no_grad():
                scored = score_encoder_decoder(lm, rows, encoding, _log_softmax) if is_encoder_decoder(lm.config) \
                    else (_score_shared_prefix if shares_prefix else _score_batch)(lm, rows, encoding)
            for row, answers in zip(rows, scored):
                for (index, _), answer in zip(row.members, answers):
                    results[index] = answer
                    lm.cache_hook.add_partial("loglikelihood", requests[index].args, answer)
                pbar.update(len(row.members))
    pbar.close()
    return results


def loglikelihood_with_images(self: HFMultimodalLM, requests, disable_tqdm: bool = False):
    """``LM.loglikelihood`` for a mix of text-only and image+text requests.

    lm-eval hands one model all loglikelihood requests of a run, so a Q-Bench task and a text
    task in the same run arrive together: text requests go to HFLM as before.
    """
    has_images = [len(request.args) >= 3 for request in requests]
    if any(has_images):
        use_processor_image_marker(self)
    text = [r for r, img in zip(requests, has_images) if not img]
    multimodal = [r for r, img in zip(requests, has_images) if img]
    text_results = iter(HFLM.loglikelihood(self, text, disable_tqdm=disable_tqdm) if text else [])
    image_results = iter(multimodal_loglikelihood(self, multimodal, disable_tqdm) if multimodal else [])
    return [next(image_results) if img else next(text_results) for img in has_images]


@register_model("hf-multimodal-loglik")
class HFMultimodalLoglikLM(HFMultimodalLM):
    """``hf-multimodal`` with log-likelihood requests over images (Q-Bench A3, A1 multiple choice).

    Under ``accelerate launch`` / ``torchrun`` it also splits the data between processes on
    CPUs: lm-eval turns on data parallelism only when it sees more than one GPU.
    """

    loglikelihood = loglikelihood_with_images

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        accelerator = getattr(self, "accelerator", None)  # set by HFLM when processes > 1
        if accelerator is not None and self._world_size == 1 and accelerator.num_processes > 1:
            self._rank = accelerator.process_index
            self._world_size = accelerator.num_processes


def installed_lm_eval_lacks_image_loglikelihood() -> bool:
    """True when the installed ``hf-multimodal`` refuses image log-likelihood requests."""
    if not hooks_apply("image log-likelihoods"):
        return False
    probe = Instance("loglikelihood", doc={}, arguments=("<image>", " probe", {"visual": []}), idx=0)
    try:
        # An attribute-less stand-in for the model: the 0.4.13 method raises before using it.
        _LM_EVAL_LOGLIKELIHOOD(SimpleNamespace(), [probe])
    except NotImplementedError:
        return True
    except Exception:  # noqa: BLE001 - anything else means a real implementation ran
        return False
    return False


def install_hf_multimodal_loglikelihood_hook() -> bool:
    """Give lm-eval's ``hf-multimodal`` this module's loglikelihood; True when in effect."""
    if HFMultimodalLM.loglikelihood is loglikelihood_with_images:
        return True
    if not installed_lm_eval_lacks_image_loglikelihood():
        log.info("lm-eval's hf-multimodal scores image log-likelihoods itself; no Q-Bench hook")
        return False
    HFMultimodalLM.loglikelihood = loglikelihood_with_images
    log.info("Q-Bench: hf-multimodal now scores log-likelihood requests with images")
    return True
