"""Log-likelihoods over images for lm-eval's ``vllm-vlm`` (vLLM), with tensor and data parallel.

lm-eval 0.4.13's ``vllm-vlm`` only generates: its inherited ``loglikelihood`` cannot take a
request that carries images, so A3 and the multiple-choice tasks could not run on vLLM. The
hook here (installed when lm-eval's ``vllm_vlms`` module loads, and by ``install_lm_eval_hooks``)
gives it one; generation stays lm-eval's, with images left on disk decoded chunk by chunk.

How a request is read. The requests of one document share its images and context (a
*question*). Every continuation token is read as the next token after a prompt of context plus
the continuation's earlier tokens, with ``SamplingParams(max_tokens=1,
logprob_token_ids=[...])``: vLLM returns the log-probabilities of exactly the listed tokens
(vLLM >= 0.32), never a top-k that a random or a confident model may not reach. So A3's " good"
and " poor" (and ``a3_levels``' five words) are one prompt per image, as the official score reads
them. Options of several tokens take one prompt per distinct earlier part; they run after the
questions' bare contexts have run, so vLLM's prefix cache already holds the image and context
(``prompt_logprobs`` requests never read that cache in vLLM 0.32: ``skip_reading_prefix_cache``
defaults to True for them). Greedy: each token is the one vLLM samples at temperature 0.

Images stay as they are in the requests (``LazyImage`` references for data left on disk) until
their chunk of questions runs. With ``data_parallel_size`` M > 1, the questions of a chunk are
dealt out in turn to M vLLM replicas that live for the run (Ray actors, one engine each, each
``tensor_parallel_size`` devices wide); lm-eval's own data-parallel generation builds new engines
on every call, so it is routed to the same replicas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lm_eval.models.utils import replace_placeholders, resize_image
from lm_eval.models.vllm_vlms import DEFAULT_IMAGE_PLACEHOLDER, VLLM_VLM
from more_itertools import distribute
from tqdm import tqdm
from vllm import SamplingParams, TokensPrompt

from model_wrappers.hf_multimodal_loglik import (
    continuation_token_ids,
    move_trailing_spaces,
    report_choice_word_tokens,
)
from model_wrappers.lm_eval_hooks import patch
from model_wrappers.resumable_generation import chunked_generate_until
from qbench_tasks.data.lazy_images import decoded

log = logging.getLogger(__name__)

# Questions whose images are decoded and handed to vLLM at once (per replica): bounds the
# decoded images in memory while leaving vLLM a full batch to schedule.
QUESTIONS_PER_CHUNK = 256

_LM_EVAL_LOGLIKELIHOOD = VLLM_VLM.loglikelihood
_LM_EVAL_GENERATE_UNTIL = VLLM_VLM.generate_until
_LM_EVAL_MODEL_GENERATE = VLLM_VLM._multimodal_model_generate


@dataclass
class _Question:
    """One document's images and context, and the continuations read after it."""

    images: list
    context_ids: list[int]
    members: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, tokens)

    def reads(self) -> dict[tuple[int, ...], set[int]]:
        """Earlier continuation tokens -> the tokens read next after them."""
        reads: dict[tuple[int, ...], set[int]] = {}
        for _, ids in self.members:
            for k, token in enumerate(ids):
                reads.setdefault(tuple(ids[:k]), set()).add(token)
        return reads


def _questions(lm: VLLM_VLM, requests) -> list[_Question]:
    if getattr(lm._config, "is_encoder_decoder", False):
        raise ValueError("vllm-vlm: Q-Bench's log-likelihood requests need a decoder-only model on vLLM "
                         "(vLLM runs no encoder-decoder VLM); run this model with --model hf-multimodal")
    questions: dict[tuple, _Question] = {}
    choice_words: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        context, continuation, aux = request.args
        if not context:
            raise ValueError("multimodal log-likelihood needs a non-empty context "
                             "(loglikelihood_rolling over images is not supported)")
        images = list(aux["visual"])[: lm.max_images]
        context, continuation = move_trailing_spaces(context, continuation)
        if not lm.chat_applied:  # as lm-eval's vllm-vlm writes prompts for generation
            context = replace_placeholders(context, DEFAULT_IMAGE_PLACEHOLDER, DEFAULT_IMAGE_PLACEHOLDER,
                                           lm.max_images)
        continuation_ids = continuation_token_ids(lm.tokenizer, context, continuation)
        if "choice_words" in (request.doc or {}):  # an A3 document
            choice_words[continuation] = continuation_ids
        key = (tuple(map(id, images)), context)  # a document's requests share its image objects
        if key not in questions:
            # Special tokens as the processor adds them in hf-multimodal (and vLLM to a text prompt).
            questions[key] = _Question(images, lm.tokenizer(context)["input_ids"])
        questions[key].members.append((index, continuation_ids))
    if choice_words:
        report_choice_word_tokens(lm, choice_words)
    return list(questions.values())


def _chunk_images(lm: VLLM_VLM, questions: list[_Question]) -> list[list]:
    """Each question's images, decoded now and prepared as lm-eval's vllm-vlm prepares them."""
    return [[resize_image(decoded(image), lm.image_width, lm.image_height, lm.image_max_side) for image in q.images]
            for q in questions]


def _prompts(questions: list[_Question], images: list[list], first: bool):
    """(prompts, sampling params, (question, earlier tokens) per prompt) for the bare contexts
    (``first``) or for the continuations' later tokens."""
    prompts, params, keys = [], [], []
    for i, (question, question_images) in enumerate(zip(questions, images)):
        for earlier, tokens in question.reads().items():
            if bool(earlier) == first:
                continue
            prompts.append(TokensPrompt(prompt_token_ids=question.context_ids + list(earlier),
                                        multi_modal_data={"image": question_images}))
            params.append(SamplingParams(max_tokens=1, temperature=0, logprob_token_ids=sorted(tokens),
                                         detokenize=False))
            keys.append((i, earlier))
    return prompts, params, keys


def _read_chunk(generate, questions: list[_Question], images: list[list]) -> list[dict]:
    """Per question: earlier tokens -> (log-probability per token read next, the greedy token)."""
    read: list[dict] = [{} for _ in questions]
    for first in (True, False):  # bare contexts first: the later prompts then find them cached
        prompts, params, keys = _prompts(questions, images, first)
        if not prompts:
            continue
        for (i, earlier), output in zip(keys, generate(prompts, params)):
            sample = output.outputs[0]
            logprobs = {token: logprob.logprob for token, logprob in sample.logprobs[0].items()}
            read[i][earlier] = (logprobs, sample.token_ids[0])
    return read


def _answers(question: _Question, read: dict) -> list[tuple[float, bool]]:
    answers = []
    for _, ids in question.members:
        steps = [read[tuple(ids[:k])] for k in range(len(ids))]
        answers.append((sum(logprobs[token] for (logprobs, _), token in zip(steps, ids)),
                        all(greedy == token for (_, greedy), token in zip(steps, ids))))
    return answers


def _replica_generate(lm: VLLM_VLM):
    """``generate(prompts, params) -> outputs`` on the run's engine, or dealt out in turn to its
    data-parallel replicas (the outputs in prompt order)."""
    if lm.data_parallel_size <= 1:
        return lambda prompts, params: lm.model.generate(prompts, sampling_params=params, use_tqdm=False,
                                                         lora_request=lm.lora_request)
    import ray

    replicas = _replicas(lm)

    def generate(prompts, params):
        shares = [list(share) for share in distribute(len(replicas), list(zip(prompts, params)))]
        pending = [replica.generate.remote([p for p, _ in share], [s for _, s in share])
                   for replica, share in zip(replicas, shares) if share]
        outputs = ray.get(pending)
        # distribute() deals in turn: prompt j went to replica j % M.
        return [outputs[j % len(outputs)][j // len(outputs)] for j in range(len(prompts))]

    return generate


def _replicas(lm: VLLM_VLM) -> list:
    """The run's data-parallel vLLM replicas, started on first use (one Ray actor each), and again
    if Ray was shut down since (lm-eval's text log-likelihoods end their data-parallel calls so)."""
    import ray

    if getattr(lm, "_qbench_replicas", None) is None or not ray.is_initialized():
        import torch

        @ray.remote
        class Replica:
            def __init__(self, model_args: dict, lora_request):
                from vllm import LLM

                self.llm, self.lora_request = LLM(**model_args), lora_request

            def generate(self, prompts, params):
                return self.llm.generate(prompts, sampling_params=params, use_tqdm=False,
                                         lora_request=self.lora_request)

        # Each replica's devices: tensor_parallel_size GPUs where there are GPUs (none on a CPU host).
        gpus = lm.tensor_parallel_size if torch.cuda.is_available() else 0
        lm._qbench_replicas = [Replica.options(num_gpus=gpus).remote(lm.model_args, lm.lora_request)
                               for _ in range(lm.data_parallel_size)]
        log.info("Q-Bench: %d vLLM replicas for data parallel (tensor_parallel_size %d each)",
                 lm.data_parallel_size, lm.tensor_parallel_size)
    return lm._qbench_replicas


def multimodal_loglikelihood(lm: VLLM_VLM, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
    """(log-likelihood, is-greedy) for each image+text request, in request order."""
    if not hasattr(SamplingParams(), "logprob_token_ids"):
        raise RuntimeError("vllm-vlm: Q-Bench's log-likelihoods over images read chosen tokens' log-probabilities "
                           "(SamplingParams.logprob_token_ids), which vLLM has from 0.32 on; upgrade vLLM, or run "
                           "these tasks with --model hf-multimodal")
    questions = _questions(lm, requests)
    generate = _replica_generate(lm)
    results: list = [None] * len(requests)
    step = QUESTIONS_PER_CHUNK * max(1, lm.data_parallel_size)
    with tqdm(total=len(requests), disable=disable_tqdm or lm.rank != 0,
              desc="Running loglikelihood requests with text+image input (vLLM)") as pbar:
        for start in range(0, len(questions), step):
            chunk = questions[start:start + step]
            for question, read in zip(chunk, _read_chunk(generate, chunk, _chunk_images(lm, chunk))):
                for (index, _), answer in zip(question.members, _answers(question, read)):
                    results[index] = answer
                    lm.cache_hook.add_partial("loglikelihood", requests[index].args, answer)
                pbar.update(len(question.members))
    return results


def loglikelihood_with_images(self: VLLM_VLM, requests, disable_tqdm: bool = False):
    """``LM.loglikelihood`` for a mix of text-only and image+text requests (a Q-Bench task and a
    text task in one run): text requests go to lm-eval's vLLM loglikelihood as before."""
    if self.enable_thinking:  # lm-eval refuses thinking on log-likelihood tasks, naming them
        return _LM_EVAL_LOGLIKELIHOOD(self, requests, disable_tqdm=disable_tqdm)
    has_images = [len(request.args) >= 3 for request in requests]
    text = [r for r, img in zip(requests, has_images) if not img]
    multimodal = [r for r, img in zip(requests, has_images) if img]
    text_results = iter(_LM_EVAL_LOGLIKELIHOOD(self, text, disable_tqdm=disable_tqdm) if text else [])
    image_results = iter(multimodal_loglikelihood(self, multimodal, disable_tqdm) if multimodal else [])
    return [next(image_results) if img else next(text_results) for img in has_images]


def model_generate_on_replicas(self: VLLM_VLM, requests=None, generate: bool = False, max_tokens=None,
                               stop=None, **kwargs):
    """lm-eval's ``_multimodal_model_generate``; with data parallel, on the run's replicas
    instead of new engines per call."""
    if self.data_parallel_size <= 1 or not requests or not generate:
        return _LM_EVAL_MODEL_GENERATE(self, requests, generate=generate, max_tokens=max_tokens, stop=stop, **kwargs)
    params = SamplingParams(max_tokens=max_tokens, stop=stop, **kwargs)
    return _replica_generate(self)(requests, [params] * len(requests))


generate_until_chunked = chunked_generate_until(_LM_EVAL_GENERATE_UNTIL)


def install_vllm_hook() -> bool:
    """Give lm-eval's ``vllm-vlm`` image log-likelihoods, replicas that last the run, and
    generation with images decoded per chunk; True when in effect. Steps aside where lm-eval's
    vllm-vlm has a log-likelihood of its own."""
    if "loglikelihood" in vars(VLLM_VLM) and VLLM_VLM.loglikelihood is not loglikelihood_with_images:
        log.info("lm-eval's vllm-vlm scores log-likelihoods itself; no Q-Bench hook")
        return False
    return all([patch(VLLM_VLM, "loglikelihood", loglikelihood_with_images, "vLLM image log-likelihoods"),
                patch(VLLM_VLM, "_multimodal_model_generate", model_generate_on_replicas, "vLLM replicas"),
                patch(VLLM_VLM, "generate_until", generate_until_chunked, "vLLM chunked generation")])
