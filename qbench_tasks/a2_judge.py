"""A2 judging: a judge that is itself any lm-eval model scores each description 0/1/2.

The judge is chosen per run with ``--metadata`` (``judge_model``, ``judge_model_args``, …, see
``JudgeSpec``) and built through lm-eval's model registry, so an OpenAI-compatible server
(``local-chat-completions``), the OpenAI API or a local ``hf`` model all work the same way.
Every (description, dimension, round) is asked as one generate_until request; the requests go
to the judge in chunks (lm-eval batches inside a chunk) and every reply is stored in an SQLite
file keyed by (judge, prompt, round, attempt), so a rerun, or a run killed halfway, asks only
what is not stored yet. A reply without a readable 0/1/2 score is asked again (``retries``
times; a new attempt is a new cache key, and API judges get a new seed) and, if still
unreadable, left out of the scores and counted, never scored 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
import dataclasses
import inspect
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lm_eval.api.filter import Filter
from lm_eval.api.instance import Instance

from qbench_tasks.credentials import redact_text
from qbench_tasks.data_location import cache_dir
from qbench_tasks.prompts import (
    A2_GOLDEN_FREE_DIMENSIONS,
    A2_JUDGE_QUESTIONS,
    A2_JUDGE_SYSTEM,
    judge_flat_prompt,
    a2_judge_question,
)

logger = logging.getLogger(__name__)

DIMENSIONS = tuple(A2_JUDGE_QUESTIONS)  # completeness, precision, relevance
SCORES = (0, 1, 2)
# The document column that carries the run's judge (JSON; "" when none is configured).
JUDGE_FIELD = "judge_spec"
# Requests per judge call (each reply is stored as it arrives, through the judge's cache hook).
CHUNK_SIZE = 256
# Seconds before attempt 2, doubled for each later one: a failing server gets time to recover.
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
_API_SEED = 1234  # lm-eval's default API seed; round and attempt are added to it


def parse_judge_score(reply: str) -> int | None:
    """The 0/1/2 score in a judge's reply, or None when the reply states none.

    Read, in order: the first labelled score ("Score: 2", "score:1.", "**Score:** 2", "the score
    is 1"), else a reply that is nothing but a number ("2", " 1."). A number outside 0-2 or not a
    whole number is no score; free text with a stray number ("I think 1") is no score either.
    """
    labelled = _LABELLED_SCORE.search(reply)
    number = labelled[1] if labelled else None
    if number is None:
        bare = _BARE_NUMBER.fullmatch(reply)
        number = bare[1] if bare else None
    if number is None:
        return None
    value = float(number)
    return int(value) if value.is_integer() and int(value) in SCORES else None


_LABELLED_SCORE = re.compile(r"\bscore\b\s*(?:is\b|of\b)?\s*[:=\-]?\s*\**\s*:?\s*(\d+(?:\.\d+)?)", re.I)
_BARE_NUMBER = re.compile(r"[\s*.:]*(\d+(?:\.\d+)?)[\s*.]*")


@dataclass(frozen=True)
class JudgeSpec:
    """Which judge to ask and how. From ``--metadata`` keys ``judge_<field>``."""

    model: str  # an lm-eval model name: local-chat-completions, openai-chat-completions, hf, ...
    model_args: str = ""  # lm-eval's model_args string for it
    rounds: int = 5  # each judgement is asked this many times and averaged
    retries: int = 2  # extra asks for a reply without a readable score
    temperature: float = 1.0  # > 0 so that rounds are independent samples, as in the paper
    max_tokens: int = 32
    chat: bool | None = None  # system + user messages; None: when the judge has a chat template
    cache: str = ""  # SQLite file of replies; "" = <qbench cache dir>/judge-replies.sqlite3
    timeout: int = 60  # seconds per request to an API judge (lm-eval's own default is 300)

    @classmethod
    def from_metadata(cls, metadata: dict) -> JudgeSpec | None:
        """The judge configured by ``metadata``, or None when ``judge_model`` is not given."""
        given = {name: metadata[f"judge_{name}"] for name in cls.__dataclass_fields__
                 if f"judge_{name}" in metadata}
        if not given.get("model"):
            if len(given) > ("model" in given):
                raise ValueError(f"--metadata sets {sorted('judge_' + k for k in given)} but no judge_model")
            return None
        spec = cls(**given)
        spec.check()
        ReplyCache(spec.cache_path()).close()  # an unusable cache file fails the run now, not after generation
        return spec

    def check(self) -> None:
        problems = []
        if not isinstance(self.model, str):
            problems.append(f"judge_model must be a model name, got {self.model!r}")
        if not isinstance(self.model_args, str):
            problems.append(f"judge_model_args must be a string like 'pretrained=...', got {self.model_args!r}")
        for name in ("rounds", "max_tokens", "timeout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"judge_{name} must be a whole number >= 1, got {value!r}")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            problems.append(f"judge_retries must be a whole number >= 0, got {self.retries!r}")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature < math.inf:
            problems.append(f"judge_temperature must be a number >= 0, got {self.temperature!r}")
        if self.chat not in (None, True, False):
            problems.append(f"judge_chat must be true or false, got {self.chat!r}")
        if not isinstance(self.cache, str):
            problems.append(f"judge_cache must be a file path, got {self.cache!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def public(self) -> JudgeSpec:
        """This spec with any credential in its model_args redacted: what may be written down."""
        return dataclasses.replace(self, model_args=redact_text(self.model_args))

    def to_json(self) -> str:
        """The spec for a document column: its public form (datasets caches columns on disk and
        samples log documents); the spec itself stays in this process, found by ``from_json``."""
        text = json.dumps(asdict(self.public()), sort_keys=True)
        _LIVE_SPECS[text] = self
        return text

    @classmethod
    def from_json(cls, text: str) -> JudgeSpec | None:
        return _LIVE_SPECS.get(text) or (cls(**json.loads(text)) if text else None)

    def cache_path(self) -> Path:
        return Path(self.cache).expanduser() if self.cache else cache_dir() / "judge-replies.sqlite3"

    def identity(self) -> dict:
        """What a reply depends on besides prompt, round and attempt (the cache key's judge part)."""
        return {"model": self.model, "model_args": redact_text(self.model_args), "temperature": self.temperature,
                "max_tokens": self.max_tokens, "chat": self.chat}


# Specs handed to documents in this process, by their public JSON (credentials kept out of it).
_LIVE_SPECS: dict[str, JudgeSpec] = {}


@dataclass
class Judgement:
    """One description's judgements: the readable scores per dimension, in round order."""

    scores: dict[str, list[int]]
    invalid: int  # judgements still without a readable score after every retry
    asked: int  # judgements (dimensions x rounds)
    replies: dict[str, list[str]] = field(default_factory=dict)  # each round's final reply


@dataclass(frozen=True)
class Ask:
    item: int
    dimension: str  # what is asked about the item ("" where there is one question per item)
    round: int
    question: str


class ReplyCache:
    """Judge replies on disk (SQLite: safe for several processes, survives a killed run)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=120)
            with self._db:
                self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
                self._db.execute("SELECT key, reply FROM replies LIMIT 1").fetchall()
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{path}: not a judge reply cache ({err}); move it aside, or set judge_cache "
                             "(qbench judge --cache) to another file") from None

    def get(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            part = list(keys[start:start + 500])
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(f"SELECT key, reply FROM replies WHERE key IN ({marks})", part))
        return found

    def put(self, replies: dict[str, str]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO replies VALUES (?, ?)", replies.items())

    def close(self) -> None:
        self._db.close()


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
    hook, judge.cache_hook = judge.cache_hook, _StoreEachReply(cache, requests, keys)
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


class _StoreEachReply:
    """Stands in for the judge's cache hook: lm-eval models report every reply through it as it
    comes, so each is stored at once and a killed run loses only the replies in flight."""

    def __init__(self, cache: ReplyCache, requests: Sequence[Instance], keys: Sequence[str]):
        self.cache = cache
        self.keys: dict[str, list[str]] = {}  # request -> its cache keys (equal requests: rounds)
        for request, key in zip(requests, keys):
            self.keys.setdefault(_request_id(request.args), []).append(key)

    def add_partial(self, attr: str, req, res) -> None:
        waiting = self.keys.get(_request_id(req)) if attr == "generate_until" and isinstance(res, str) else None
        if waiting:
            self.cache.put({waiting.pop(0): res})


def _request_id(args) -> str:
    context, gen_kwargs = args[0], args[1]
    return json.dumps([context, gen_kwargs], sort_keys=True, default=str)


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
    system: str = A2_JUDGE_SYSTEM,
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


def judge_descriptions(
    spec: JudgeSpec,
    items: Sequence[tuple[str, str | None]],
    make_judge: Callable[[JudgeSpec], object] = load_judge,
) -> list[Judgement]:
    """Judge each (description, golden description or None).

    Relevance is always judged; completeness and precision where a golden description exists.
    The judge is only built when some reply is not in the cache.
    """
    asks = [
        Ask(i, dimension, round_, a2_judge_question(dimension, description, golden))
        for i, (description, golden) in enumerate(items)
        for dimension in (DIMENSIONS if golden else A2_GOLDEN_FREE_DIMENSIONS)
        for round_ in range(spec.rounds)
    ]
    final = ask_until_readable(spec, asks, lambda reply, _: parse_judge_score(reply), "A2", make_judge=make_judge)
    judgements = [Judgement(scores={}, invalid=0, asked=0) for _ in items]
    for ask, (reply, score) in zip(asks, final):
        judgement = judgements[ask.item]
        judgement.asked += 1
        judgement.scores.setdefault(ask.dimension, [])
        judgement.replies.setdefault(ask.dimension, []).append(reply)
        if score is None:
            judgement.invalid += 1
        else:
            judgement.scores[ask.dimension].append(score)
    return judgements


def judged_records(spec: JudgeSpec, descriptions: Sequence[str], golden: Sequence[str | None]) -> list[dict]:
    """{description, scores, invalid, asked, replies} per description: the judge filter's output,
    which ``qbench_tasks.a2_scoring.item_metrics`` reads."""
    judged = judge_descriptions(spec, list(zip(descriptions, golden)))
    return [{"description": d, **asdict(j)} for d, j in zip(descriptions, judged)]


class JudgeFilter(Filter):
    """lm-eval filter for qbench_a2: each description becomes {description, judgement}.

    Runs once per task over all its responses, so the judge sees every request in one go.
    Without a judge configured the descriptions pass through unscored (predict-only).
    """

    def apply(self, resps, docs):
        descriptions = [resp[0] for resp in resps]
        spec = JudgeSpec.from_json(docs[0][JUDGE_FIELD]) if docs else None
        if spec is None:
            logger.warning(
                "qbench A2: no judge configured, so descriptions are generated but not scored. "
                "Pass --metadata with judge_model and judge_model_args, or score the logged "
                "samples later with `qbench judge --samples ...`."
            )
            return [{"description": d} for d in descriptions]
        return judged_records(spec, descriptions, [doc.get("golden_description") for doc in docs])
