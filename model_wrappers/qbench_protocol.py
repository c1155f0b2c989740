"""``qbench-protocol``: a model written to the Q-Bench submission protocol, as an lm-eval model.

Q-Bench asks submitters for a Python module that provides

* ``Model(**kwargs)``: ``model(input_embeds=E).logits`` of shape (1, L, vocabulary), and
  ``model.generate(input_embeds=E, max_new_tokens=N)``, the new token ids, shape (1, n);
* ``Tokenizer(**kwargs)``: ``encode(text) -> list[int]`` without special tokens, ``decode(ids) -> str``;
* ``embed_image_and_text(image, prompt) -> E``, shape (1, L, hidden): the prompt embedded with
  the image in place of its ``<image>`` mark.

``--model qbench-protocol --model_args module=my_package.my_mllm[,key=value...]`` imports the
module and builds ``Model`` and ``Tokenizer`` with the other model_args. It answers
generate_until (A1, A2: greedy unless the task samples; cut at the task's stop strings) and
log-likelihood requests whose continuation is one token (A3: both words of an image are read
from one forward pass). Every request must carry exactly one image.
"""

from __future__ import annotations

import importlib

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from qbench_tasks.data.lazy_images import decoded


@register_model("qbench-protocol")
class QBenchProtocolLM(LM):
    MULTIMODAL = True  # lm-eval's flag for models that take images

    def __init__(self, module: str, batch_size=None, device=None, max_batch_size=None, **kwargs):
        super().__init__()
        try:
            protocol = importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"qbench-protocol: cannot import module {module!r} ({err})") from None
        missing = [name for name in ("Model", "Tokenizer", "embed_image_and_text") if not hasattr(protocol, name)]
        if missing:
            raise ValueError(f"qbench-protocol: module {module!r} lacks {', '.join(missing)} "
                             "(the Q-Bench protocol needs Model, Tokenizer and embed_image_and_text)")
        self.model = protocol.Model(**kwargs)
        self.tokenizer = protocol.Tokenizer(**kwargs)
        self.embed = protocol.embed_image_and_text

    @staticmethod
    def _visual(request):
        """The request's one image, not decoded yet (refused unless there is exactly one)."""
        images = request.args[2].get("visual", []) if len(request.args) >= 3 else []
        if len(images) != 1:
            raise ValueError(f"qbench-protocol models take exactly one image per request; "
                             f"{request.task_name or 'a task'} sent {len(images)}")
        return images[0]

    @torch.no_grad()
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        # One forward per (image, context): its last position scores every one-token continuation.
        groups: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for index, request in enumerate(requests):
            context, continuation = request.args[0], request.args[1]
            key = (id(self._visual(request)), context)
            token_ids = self.tokenizer.encode(continuation)
            if len(token_ids) != 1:
                raise ValueError(
                    f"qbench-protocol scores one-token continuations (the A3 choice words); "
                    f"{request.task_name or 'a task'} asks for {continuation!r} = {len(token_ids)} tokens")
            groups.setdefault(key, []).append((index, token_ids[0]))
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        for members in tqdm(groups.values(), disable=disable_tqdm, desc="qbench-protocol log-likelihoods"):
            first = requests[members[0][0]]
            logits = self.model(input_embeds=self.embed(decoded(self._visual(first)), first.args[0])).logits[0, -1]
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            for index, token in members:
                results[index] = (float(log_probs[token]), bool(log_probs.argmax() == token))
                self.cache_hook.add_partial("loglikelihood", requests[index].args, results[index])
        return results

    @torch.no_grad()
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        answers = []
        for request in tqdm(requests, disable=disable_tqdm, desc="qbench-protocol generation"):
            context, gen_kwargs = request.args[0], dict(request.args[1])
            embeds = self.embed(decoded(self._visual(request)), context)
            ids = self.model.generate(input_embeds=embeds, max_new_tokens=gen_kwargs.get("max_gen_toks", 256))
            text = self.tokenizer.decode(ids[0].tolist())
            for stop in gen_kwargs.get("until") or []:
                text = text.split(stop)[0]
            answers.append(text)
            self.cache_hook.add_partial("generate_until", request.args, text)
        return answers

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise ValueError("qbench-protocol models answer image requests only (A1, A2, A3); "
                         "rolling log-likelihoods of text are not part of the protocol")
