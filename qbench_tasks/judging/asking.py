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
from qbench_tasks.judging.transport import JudgeRefused, take_failure, use_judge_transport
from qbench_tasks.prompts import judge_flat_prompt

logger = logging.getLogger(__name__)

# Requests per judge call (each reply is stored as it arrives, through the judge's cache hook).
CHUNK_SIZE = 256
# Seconds before attempt 2, doubled for each later one: a failing server gets time to recover.
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
_API_SEED = 1234  # lm-eval's default API seed; round and attempt are added to it
Store = Callable[[dict[str, str]], dict[str, str]]


@dataclass(frozen=True)
class Ask:
    item: int
    dimension: str  # what is asked about the item ("" where there is one question per item)
    round: int
    question: str


def load_judge(spec: JudgeSpec):
    """The judge as an lm-eval LM, built from its registered name and model_args. An API judge
    (lm-eval's ``TemplateAPI``) gets ``spec.timeout`` as each request's deadline unless its
    model_args set one, sends the ``api_key`` its model_args give (lm-eval's own API models read
    only the environment), and talks through ``judging.transport``; a local one (``hf``, ...)
    without ``device=`` gets the GPU where there is one, else the CPU, as an evaluated model does
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
        if "api_key" in args:
            model_class = _with_key(model_class, str(args.pop("api_key")))
        judge = model_class.create_from_arg_obj(args)
        use_judge_transport(judge)
        return judge
    if "device" in inspect.signature(model_class).parameters:
        import torch

        args.setdefault("device", "cuda" if torch.cuda.is_available() else "cpu")
    return model_class.create_from_arg_obj(args)


def _with_key(model_class: type, key: str) -> type:
    """``model_class`` whose ``api_key`` (what lm-eval's API models put in the Authorization
    header and hand their clients) is ``key``."""
    return type(model_class.__name__, (model_class,), {"api_key": property(lambda self: key)})


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
               store: Store, keys: Sequence[str]) -> list[str]:
    """The judge's replies to ``asks``, each handed to ``store`` under its key as it arrives."""
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
    hook, judge.cache_hook = judge.cache_hook, StoreEachReply(store, requests, keys)
    try:
        replies = judge.generate_until(requests)
    finally:
        judge.cache_hook = hook
    if failure := take_failure(judge):
        raise failure
    if len(replies) != len(requests):
        raise ValueError(f"the judge answered {len(replies)} of {len(requests)} requests")
    return [reply if isinstance(reply, str) else "" for reply in replies]


def _cache_key(spec: JudgeSpec, ask: Ask, attempt: int) -> str:
    text = json.dumps({"judge": spec.identity(), "prompt": ask.question, "round": ask.round,
                       "attempt": attempt}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()



def _storing(cache: ReplyCache, spec: JudgeSpec, asks: dict[str, Ask], parse: Callable[[str, Ask], object]) -> Store:
    """What becomes of replies (cache key -> reply) as they arrive: each is cut to its first
    ``spec.reply_chars()`` characters, which is all that is read and kept (a 1 MB reply to a
    32-token request is a faulty server, not a judgement); a readable one is stored unless the
    cache holds one already, and then the stored one is used, so a shared cache and every rerun
    agree with the run that stored it. An unreadable one (empty, null, no score) is not stored:
    a rerun asks again."""
    def store(replies: dict[str, str]) -> dict[str, str]:
        kept = {key: reply[:spec.reply_chars()] for key, reply in replies.items()}
        return kept | cache.put_new({key: reply for key, reply in kept.items()
                                     if parse(reply, asks[key]) is not None})
    return store


def _ask_stored(judge, spec: JudgeSpec, cache: ReplyCache, store: Store, asks: dict[str, Ask], attempt: int,
                system: str, what: str) -> dict[str, str]:
    """Replies for ``asks`` (cache key -> ask), each handed to ``store`` as it arrives. A chunk whose
    call fails (an HTTP error, a malformed or empty reply, a time-out) is asked again one request at
    a time, so one bad request costs only itself; a request that fails alone is left out (asked
    again at the next attempt). A judge that refuses the credentials ends the judging at once."""
    replies: dict[str, str] = {}
    keys = list(asks)
    for start in range(0, len(keys), CHUNK_SIZE):
        chunk = keys[start:start + CHUNK_SIZE]
        for part in ([chunk] if len(chunk) > 1 else []) + [[key] for key in chunk]:
            part = [key for key in part if key not in replies]
            if not part:
                continue
            try:
                answered = _ask_judge(judge, spec, [asks[key] for key in part], attempt, system, store, part)
            except JudgeRefused as err:
                raise JudgeRefused(f"{what} judge {spec.model}: {err}. Replies already stored are kept") from None
            except Exception as err:  # noqa: BLE001 - a judge failure must never end the run
                replies.update(cache.get(part))  # what arrived before the failure
                if len(part) == 1:
                    logger.warning("%s judge %s: a request failed (%s: %s); it is asked again at the next "
                                   "attempt, else counted as invalid", what, spec.model, type(err).__name__, err)
                continue
            replies.update(store(dict(zip(part, answered))))
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
                store = _storing(cache, spec, missing, parse)
                replies.update(_ask_stored(judge, spec, cache, store, missing, attempt, system, what))
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


