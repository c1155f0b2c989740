"""Asking a judge (any lm-eval model) until its replies can be read, never ending the run.

The judge is built through lm-eval's model registry, so an OpenAI-compatible server
(``local-chat-completions``), the OpenAI API or a local ``hf`` model all work the same way. The
requests go to the judge in chunks (lm-eval batches inside a chunk) and every reply is stored in
an SQLite file keyed by (judge, prompt, round, attempt). A reply the caller cannot read is asked
again (``retries`` times; a new attempt is a new cache key, and API judges get a new seed) and,
if still unreadable, left None and counted by the caller, never given a value.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lm_eval.api.instance import Instance

from qbench_tasks.judging.cache import ReplyCache, StoreEachReply
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.prompts import judge_flat_prompt

logger = logging.getLogger(__name__)

# Requests per judge call (each reply is stored as it arrives, through the judge's cache hook).
CHUNK_SIZE = 256
# Seconds before attempt 2, doubled for each later one: a failing server gets time to recover.
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
_API_SEED = 1234  # lm-eval's default API seed; round and attempt are added to it


@dataclass(frozen=True)
class Ask:
    item: int
    dimension: str  # what is asked about the item ("" where there is one question per item)
    round: int
    question: str


def load_judge(spec: JudgeSpec):
    """The judge as an lm-eval LM, built from its registered name and model_args; an API judge
    gets ``spec.timeout`` per request unless its model_args set one, and a local one (``hf``, ...)
    without ``device=`` the GPU where there is one, else the CPU, as an evaluated model does
    (lm-eval's ``hf`` default, "cuda", failed on a CPU-only machine)."""
    from lm_eval.api.registry import get_model
    from lm_eval.models.api_models import TemplateAPI
    from lm_eval.utils import simple_parse_args_string

    try:
        model_class = get_model(spec.model)
    except ValueError as err:
        raise ValueError(f"judge_model {spec.model!r} is not an lm-eval model: {err}") from None
    args = simple_parse_args_string(spec.model_args)
    if isinstance(model_class, type) and issubclass(model_class, TemplateAPI):
        args.setdefault("timeout", spec.timeout)
    elif "device" in inspect.signature(model_class).parameters:
        import torch

        args.setdefault("device", "cuda" if torch.cuda.is_available() else "cpu")
    return model_class.create_from_arg_obj(args)


def _uses_chat(judge, spec: JudgeSpec) -> bool:
    if spec.chat is not None:
        return spec.chat
    from lm_eval.models.openai_completions import LocalChatCompletion

    tokenizer = getattr(judge, "tokenizer", None)
    return isinstance(judge, LocalChatCompletion) or bool(getattr(tokenizer, "chat_template", None))


def _generation_kwargs(judge, spec: JudgeSpec, round_: int, attempt: int) -> dict:
    from lm_eval.models.api_models import TemplateAPI

    kwargs = {"until": [], "max_gen_toks": spec.max_tokens,
              "do_sample": spec.temperature > 0, "temperature": spec.temperature}
    if isinstance(judge, TemplateAPI):
        # lm-eval sends one fixed seed to APIs; a seeded server would repeat itself every round.
        kwargs["seed"] = _API_SEED + 1000 * round_ + attempt
    return kwargs


def _ask_judge(judge, spec: JudgeSpec, asks: Sequence[Ask], attempt: int, system: str,
               cache: ReplyCache, keys: Sequence[str]) -> list[str]:
    """The judge's replies to ``asks``, each stored under its key in ``cache`` as it arrives."""
    chat = _uses_chat(judge, spec)
    requests = []
    for ask in asks:
        if chat:
            context = judge.apply_chat_template(
                [{"role": "system", "content": system}, {"role": "user", "content": ask.question}]
            )
        else:
            context = judge_flat_prompt(ask.question, system)
        arguments = (context, _generation_kwargs(judge, spec, ask.round, attempt))
        requests.append(Instance(request_type="generate_until", doc={}, arguments=arguments, idx=0))
    hook, judge.cache_hook = judge.cache_hook, StoreEachReply(cache, requests, keys)
    try:
        replies = judge.generate_until(requests)
    finally:
        judge.cache_hook = hook
    if len(replies) != len(requests):
        raise ValueError(f"the judge answered {len(replies)} of {len(requests)} requests")
    return [reply if isinstance(reply, str) else "" for reply in replies]


def _cache_key(spec: JudgeSpec, ask: Ask, attempt: int) -> str:
    text = json.dumps({"judge": spec.identity(), "prompt": ask.question, "round": ask.round,
                       "attempt": attempt}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()



def _ask_stored(judge, spec: JudgeSpec, cache: ReplyCache, asks: dict[str, Ask], attempt: int,
                system: str, what: str) -> dict[str, str]:
    """Replies for ``asks`` (cache key -> ask), each stored as it arrives. A chunk whose call fails
    (an HTTP error, a malformed or empty reply, a time-out) is asked again one request at a time,
    so one bad request costs only itself; a request that fails alone is left out (asked again at
    the next attempt, never stored)."""
    replies: dict[str, str] = {}
    keys = list(asks)
    for start in range(0, len(keys), CHUNK_SIZE):
        chunk = keys[start:start + CHUNK_SIZE]
        for part in ([chunk] if len(chunk) > 1 else []) + [[key] for key in chunk]:
            part = [key for key in part if key not in replies]
            if not part:
                continue
            try:
                answered = _ask_judge(judge, spec, [asks[key] for key in part], attempt, system, cache, part)
            except Exception as err:  # noqa: BLE001 - a judge failure must never end the run
                replies.update(cache.get(part))  # what arrived before the failure
                if len(part) == 1:
                    logger.warning("%s judge %s: a request failed (%s: %s); it is asked again at the next "
                                   "attempt, else counted as invalid", what, spec.model, type(err).__name__, err)
                continue
            fresh = dict(zip(part, answered))
            cache.put(fresh)
            replies.update(fresh)
            break
    return replies


def ask_until_readable(
    spec: JudgeSpec,
    asks: Sequence[Ask],
    parse: Callable[[str, Ask], object],
    what: str,
    system: str,
    make_judge: Callable[[JudgeSpec], object] = load_judge,
) -> list[tuple[str, object]]:
    """(final reply, ``parse(reply, ask)``) per ask: replies from the cache where stored, else from
    the judge (built only then), each stored as it comes. An ask whose reply ``parse`` reads as
    None, or whose request failed, is asked again after a back-off, up to ``spec.retries`` times,
    then left None (its reply "" where none ever came) and logged. No judge failure ends the run."""
    final: dict[int, tuple[str, object]] = {}
    pending = list(range(len(asks)))
    cache = ReplyCache(spec.cache_path())
    judge = None
    try:
        for attempt in range(spec.retries + 1):
            if attempt:
                time.sleep(min(BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
            keys = {i: _cache_key(spec, asks[i], attempt) for i in pending}
            replies = cache.get(list(keys.values()))
            missing = {keys[i]: asks[i] for i in pending if keys[i] not in replies}
            if missing:
                judge = judge or make_judge(spec)
                logger.info("%s judge %s: %d requests (attempt %d)", what, spec.model, len(missing), attempt + 1)
                replies.update(_ask_stored(judge, spec, cache, missing, attempt, system, what))
            for i in pending:
                reply = replies.get(keys[i])
                final[i] = ("", None) if reply is None else (reply, parse(reply, asks[i]))
            pending = [i for i in pending if final[i][1] is None]
            if not pending:
                break
    finally:
        cache.close()
    if pending:
        logger.warning(
            "%s judge %s: %d of %d replies could not be read (or never came) after %d tries; they are "
            "left out and counted as invalid (e.g. reply %r)", what, spec.model, len(pending), len(asks),
            spec.retries + 1, final[pending[0]][0][:200],
        )
    return [final[i] for i in range(len(asks))]


