"""The HTTP exchange with an API judge (any lm-eval ``TemplateAPI`` model: local-chat-completions,
openai-chat-completions, ...). lm-eval still builds each request's payload and reads its reply;
only the POST in between is replaced (``use_judge_transport``), because lm-eval's:

- times out per socket read (``requests``), so a reply trickling in a byte at a time never ends:
  here ``timeout`` is a deadline for the whole request, connection to last byte;
- retries a 429 a second later whatever the server asked: here ``Retry-After`` is waited (capped);
- retries 401/403 like any error and then counts every judgement invalid, the run exiting 0:
  here the first refusal ends the judging with what to fix (``JudgeRefused``).

Both of lm-eval's paths (one request at a time, and ``num_concurrent`` > 1) go through ``post``.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import json
import time
import types

import aiohttp

# The longest wait a server's Retry-After gets; a longer one is cut to this.
RETRY_AFTER_CAP_SECONDS = 60.0
# Without Retry-After: 1 s before the second try, doubling, at most 10 s (lm-eval's own waits).
FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 10.0
# A reply body larger than this is a fault, not a judgement (a whole reply is read before parsing).
MAX_BODY_BYTES = 16 * 2**20
_REFUSED = (401, 403)
_RATE_LIMITED = (429, 503)


class JudgeRefused(ValueError):
    """The judge server refused the credentials (HTTP 401/403): no later request would fare better."""


class JudgeHTTPError(RuntimeError):
    """A judge request failed with an HTTP status; ``retry_after`` is the server's requested wait."""

    def __init__(self, status: int, text: str, retry_after: float | None):
        super().__init__(f"HTTP {status}: {text[:200]}")
        self.status, self.retry_after = status, retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header as seconds from now (delta-seconds or an HTTP date), capped; None
    when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


async def _post_once(session: aiohttp.ClientSession, url: str, payload: dict, headers: dict,
                     deadline: float, verify: bool) -> dict:
    timeout = aiohttp.ClientTimeout(total=deadline)
    async with session.post(url, json=payload, headers=headers, timeout=timeout,
                            ssl=None if verify else False) as response:
        body = bytearray()
        async for chunk in response.content.iter_chunked(2**16):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise ValueError(f"{url} sent a reply over {MAX_BODY_BYTES} bytes")
        text = body.decode("utf-8", errors="replace")
        if response.status in _REFUSED:
            raise JudgeRefused(f"{url} answered HTTP {response.status} ({text[:200]!r}): the judge's key is "
                               "missing or not accepted. Set it in the environment (OPENAI_API_KEY for lm-eval's "
                               "OpenAI-compatible models) or as api_key= in judge_model_args")
        if response.status >= 400:
            raise JudgeHTTPError(response.status, text, retry_after_seconds(response.headers.get("Retry-After")))
        return json.loads(body)


async def post(judge, payload: dict, session: aiohttp.ClientSession | None = None) -> dict:
    """``payload`` posted to the judge's URL: up to the judge's ``max_retries`` tries, each within
    its ``timeout`` seconds; a 429/503 waits its ``Retry-After``, other failures 1, 2, 4... s."""
    tries = judge.qbench_tries
    own_session = session is None
    session = session or aiohttp.ClientSession()
    try:
        for attempt in range(tries):
            try:
                return await _post_once(session, judge.base_url, payload, judge.header, judge.timeout,
                                        judge.verify_certificate)
            except JudgeRefused:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, JudgeHTTPError, ValueError) as err:
                if attempt + 1 == tries:
                    raise
                wait = getattr(err, "retry_after", None)
                if wait is None:
                    wait = min(FIRST_WAIT_SECONDS * 2 ** attempt, MAX_WAIT_SECONDS)
                await asyncio.sleep(wait)
    finally:
        if own_session:
            await session.close()


def _payload(judge, messages, generate: bool, gen_kwargs: dict | None, **kwargs) -> dict:
    return judge._create_payload(judge.create_message(messages), generate=generate,
                                 gen_kwargs=copy.deepcopy(gen_kwargs), seed=judge._seed, **kwargs)


def _model_call(self, messages, *, generate=True, gen_kwargs=None, **kwargs):
    """lm-eval's one-request-at-a-time path."""
    return asyncio.run(post(self, _payload(self, messages, generate, gen_kwargs, eos=self.eos_string, **kwargs)))


async def _amodel_call(self, session, sem, messages, *, generate=True, cache_keys=None, ctxlens=None,
                       gen_kwargs=None, **kwargs):
    """lm-eval's concurrent path (``num_concurrent`` > 1): its session and semaphore, this POST.

    A failure is kept on the judge for ``take_failure`` and the batch answered None, not raised:
    lm-eval gathers these calls, and a raise there leaves the others running on a closed session,
    their errors logged when garbage collection finds them. After a refusal nothing more is sent."""
    payload = _payload(self, messages, generate, gen_kwargs, **kwargs)
    try:
        async with sem:
            if isinstance(self.qbench_failure, JudgeRefused):
                return [None] * len(messages)
            outputs = await post(self, payload, session)
    except Exception as err:  # noqa: BLE001 - every failure is the caller's to handle, via take_failure
        if not isinstance(self.qbench_failure, JudgeRefused):
            self.qbench_failure = err
        return [None] * len(messages)
    if generate:
        answers = self.parse_generations(outputs=outputs)
    else:
        answers = self.parse_logprobs(outputs=outputs, tokens=messages, ctxlens=ctxlens)
    for answer, key in zip(answers, cache_keys or []):
        if answer is not None:
            self.cache_hook.add_partial("generate_until" if generate else "loglikelihood", key, answer)
    return answers


def take_failure(judge) -> Exception | None:
    """The failure a concurrent call kept on ``judge`` since the last call to this (then cleared)."""
    failure, judge.qbench_failure = getattr(judge, "qbench_failure", None), None
    return failure


def use_judge_transport(judge) -> None:
    """Route ``judge``'s requests through ``post``. Its ``max_retries`` becomes ``post``'s number of
    tries, and lm-eval's own retry loop around each call is cut to one pass so tries do not multiply."""
    judge.qbench_failure = None
    judge.qbench_tries = max(int(judge.max_retries), 1)
    judge.max_retries = 1
    judge.model_call = types.MethodType(_model_call, judge)
    judge.amodel_call = types.MethodType(_amodel_call, judge)
