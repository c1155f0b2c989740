"""An API judge over real HTTP (a stand-in OpenAI-compatible server): the deadline holds, a
Retry-After is waited, the key in judge_model_args is the key sent and a refused key ends the
judging, unreadable replies are not stored, long replies are cut, and a stored reply is never
replaced. Each test runs lm-eval's one-at-a-time path and its concurrent one (num_concurrent)."""

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from fixture_judge import QuietHTTPServer

import qbench_tasks.judging.asking as asking
from qbench_tasks.a2.judge import judge_descriptions
from qbench_tasks.judging.cache import ReplyCache
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.judging.transport import JudgeRefused

KEY = "sk-test-key-91"


class Judge(BaseHTTPRequestHandler):
    """Replies "Score: 2" unless ``behaviour`` (set per test) says otherwise; records each request."""

    behaviour = staticmethod(lambda handler, n: None)  # returns True when it answered itself
    requests: list = []

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((time.monotonic(), self.headers.get("Authorization"), payload))
        if not type(self).behaviour(self, len(type(self).requests)):
            self.reply("Score: 2")

    def reply(self, content, status=200, headers=()):
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        self.send(status, body.encode(), headers)

    def send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(asking, "BACKOFF_SECONDS", 0.0)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    Judge.requests = []
    Judge.behaviour = staticmethod(lambda handler, n: None)
    httpd = QuietHTTPServer(("127.0.0.1", 0), Judge)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat/completions"
    httpd.shutdown()
    httpd.server_close()


def spec_for(url, tmp_path, concurrent, extra="", **fields):
    args = f"model=judge-llm,base_url={url},num_concurrent={concurrent}{extra}"
    return JudgeSpec(model="local-chat-completions", model_args=args, rounds=1,
                     cache=str(tmp_path / "replies.sqlite3"), **{"retries": 0, **fields})


def stored(tmp_path):
    return dict(sqlite3.connect(tmp_path / "replies.sqlite3").execute("SELECT key, reply FROM replies"))


ITEMS = [("Clear photo.", None), ("Dim photo.", None)]
BOTH_PATHS = pytest.mark.parametrize("concurrent", [1, 2])


@BOTH_PATHS
def test_the_timeout_is_a_deadline_for_the_whole_request(server, tmp_path, concurrent):
    def trickle(handler, n):  # headers at once, then one byte of the body every 0.3 s
        handler.send_response(200)
        handler.send_header("Content-Length", "200")
        handler.end_headers()
        for _ in range(200):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.3)
        return True

    Judge.behaviour = staticmethod(trickle)
    start = time.monotonic()
    judgements = judge_descriptions(spec_for(server, tmp_path, concurrent, ",max_retries=1", timeout=1), ITEMS)
    assert time.monotonic() - start < 6  # two requests of 1 s each (60 s per request before)
    assert [j.invalid for j in judgements] == [1, 1]


@BOTH_PATHS
def test_a_retry_after_is_waited_then_the_reply_scored(server, tmp_path, concurrent):
    Judge.behaviour = staticmethod(
        lambda handler, n: n == 1 and handler.send(429, b"slow down", [("Retry-After", "2")]) is None)
    judgements = judge_descriptions(spec_for(server, tmp_path, concurrent), ITEMS[:1])
    assert judgements[0].scores == {"relevance": [2]}
    (first, *_), (second, *_) = Judge.requests
    assert second - first >= 1.9  # not lm-eval's 1 s


@BOTH_PATHS
def test_the_key_in_judge_model_args_is_the_key_sent(server, tmp_path, concurrent):
    judgements = judge_descriptions(spec_for(server, tmp_path, concurrent, f",api_key={KEY}"), ITEMS)
    assert [j.scores for j in judgements] == [{"relevance": [2]}] * 2
    assert {auth for _, auth, _ in Judge.requests} == {f"Bearer {KEY}"}


def test_openai_chat_completions_takes_the_key_from_its_args(server, tmp_path):
    # lm-eval's OpenAI model raises without OPENAI_API_KEY; the key in its args is enough.
    spec = JudgeSpec(model="openai-chat-completions", model_args=f"model=gpt-4o,base_url={server},api_key={KEY}",
                     rounds=1, retries=0, cache=str(tmp_path / "replies.sqlite3"))
    assert judge_descriptions(spec, ITEMS[:1])[0].scores == {"relevance": [2]}
    assert Judge.requests[0][1] == f"Bearer {KEY}"


@BOTH_PATHS
def test_a_refused_key_ends_the_judging_at_the_first_request(server, tmp_path, concurrent):
    Judge.behaviour = staticmethod(lambda handler, n: handler.send(401, b'{"error": "invalid key"}') is None)
    items = [(f"Photo {i}.", None) for i in range(6)]
    with pytest.raises(JudgeRefused, match=r"A2 judge local-chat-completions: .*HTTP 401.*OPENAI_API_KEY"):
        judge_descriptions(spec_for(server, tmp_path, concurrent, retries=2), items)
    assert len(Judge.requests) <= concurrent  # not 6 items x 3 attempts x lm-eval's 3 tries


@BOTH_PATHS
def test_an_empty_or_null_reply_is_not_stored_so_a_rerun_asks_again(server, tmp_path, concurrent):
    Judge.behaviour = staticmethod(lambda handler, n: handler.reply(None if n % 2 else "") is None)
    spec = spec_for(server, tmp_path, concurrent, retries=1)
    assert [j.invalid for j in judge_descriptions(spec, ITEMS)] == [1, 1]
    assert stored(tmp_path) == {}
    Judge.behaviour = staticmethod(lambda handler, n: None)  # the judge is healthy again
    assert [j.scores for j in judge_descriptions(spec, ITEMS)] == [{"relevance": [2]}] * 2
    assert set(stored(tmp_path).values()) == {"Score: 2"}


def test_a_long_reply_is_read_and_kept_to_its_first_characters(server, tmp_path):
    Judge.behaviour = staticmethod(lambda handler, n: handler.reply("Score: 1 " + "x" * 2**20) is None)
    spec = spec_for(server, tmp_path, 1)
    (judgement,) = judge_descriptions(spec, ITEMS[:1])
    assert judgement.scores == {"relevance": [1]}
    assert len(judgement.replies["relevance"][0]) == spec.reply_chars() == 8192
    assert [len(reply) for reply in stored(tmp_path).values()] == [8192]


class RacedJudge:
    """A judge whose reply arrives after another run, sharing the cache, stored its own."""

    def __init__(self, cache_path):
        self.cache_path, self.cache_hook = cache_path, None

    def generate_until(self, requests, disable_tqdm=False):
        other = ReplyCache(self.cache_path)
        other.put_new({key: "Score: 2" for keys in self.cache_hook.keys.values() for key in keys})
        other.close()
        for request in requests:
            self.cache_hook.add_partial("generate_until", request.args, "Score: 0")
        return ["Score: 0"] * len(requests)


def test_a_stored_reply_is_never_replaced_and_is_the_one_used(tmp_path):
    spec = JudgeSpec(model="stand-in", rounds=1, retries=0, cache=str(tmp_path / "replies.sqlite3"))
    first = judge_descriptions(spec, ITEMS, make_judge=lambda _: RacedJudge(spec.cache_path()))
    rerun = judge_descriptions(spec, ITEMS, make_judge=lambda _: pytest.fail("everything is stored"))
    assert [j.scores for j in first] == [j.scores for j in rerun] == [{"relevance": [2]}] * 2
    assert set(stored(tmp_path).values()) == {"Score: 2"}
