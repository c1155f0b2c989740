"""A2 (LLDescribe): judge prompts and reply parsing, scoring, conversion, the judge through
lm-eval (a local hf model and an OpenAI-compatible server), its cache, and after-the-fact judging."""

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler

import datasets
import pytest
from conftest import evaluate_scripted
from fixture_judge import JUDGE_MARKERS, QuietHTTPServer
from lm_eval.models.huggingface import HFLM
from PIL import Image

from qbench_tasks.a2.convert import convert_a2
from qbench_tasks.a2.export import a2_submission
from qbench_tasks.a2.judge import judge_descriptions, parse_judge_score
from qbench_tasks.a2.judge_command import ITEMS_FILE, METRICS_FILE, judge_samples
from qbench_tasks.a2.scoring import aggregate, item_metrics
from qbench_tasks.data.conversion import ConversionError
from qbench_tasks.demo.data import demo_golden_description, demo_items
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.prompts import A2_JUDGE_QUESTIONS, a2_judge_question, judge_flat_prompt
from qbench_tasks.settings import read_settings

MARKERS = list(JUDGE_MARKERS)  # <score-0>, <score-1>, <score-2>, <score-none>


@pytest.mark.parametrize(
    "reply, score",
    [
        ("Score: 2", 2), ("score:1.", 1), ("2", 2), (" 0.\n", 0), ("Score: 0", 0),
        ("SCORE : 1", 1), ("**Score:** 2", 2), ("Score: **1**", 1), ("Score: 2/2", 2),
        ("Score: 2.0", 2), ("The score is 1.", 1), ("I would give a score of 0.", 0),
        ("Score: 1\nThe description misses the noise. A score of 2 needs all of it.", 1),
        ("Score - 2", 2),
        ("Score: 3", None), ("3", None), ("Score: 1.5", None), ("Score: -1", None),
        ("I think 1", None), ("", None), ("   ", None), ("Score:", None), ("Score: two", None),
        ("Scores: 2", None), ("It is 2 or 1", None), ("12", None),
    ],
)
def test_judge_reply_parsing(reply, score):
    assert parse_judge_score(reply) == score


def test_judge_prompts_are_the_papers_form():
    completeness = a2_judge_question("completeness", "DESC", "GOLD")
    assert completeness == (
        "Evaluate whether the description DESC completely includes the low-level visual "
        "information in the reference description GOLD. Please rate score 2 for completely or "
        "almost completely including reference information, 0 for not including at all, 1 for "
        "including part of the information or similar description. Please only provide the "
        "result in the following format: Score:"
    )
    assert judge_flat_prompt(completeness).startswith("#System: You are a helpful assistant. #User: Evaluate")
    for dimension, template in A2_JUDGE_QUESTIONS.items():
        assert "[MLLM_DESC]" in template and template.endswith("Score:")
        assert ("[GOLDEN_DESC]" in template) == (dimension != "relevance")
    # One substitution pass: a description quoting a placeholder is not itself substituted.
    assert "says [GOLDEN_DESC] here" in a2_judge_question("precision", "says [GOLDEN_DESC] here", "G")


def judged(description, **scores):
    """A judge-filter record: dimension -> list of readable scores; ``invalid`` unreadable ones."""
    invalid = scores.pop("invalid", 0)
    return {"description": description, "scores": scores, "invalid": invalid,
            "asked": sum(map(len, scores.values())) + invalid}


def test_metrics_match_hand_computed_leaderboard_numbers():
    items = [
        judged("a", completeness=[2, 2, 1], precision=[0, 0], relevance=[2, 2, 2, 2], invalid=3),
        judged("b", completeness=[0, 1, 1], precision=[1, 2], relevance=[1, 1, 1, 1], invalid=0),
        judged("", completeness=[], precision=[2], relevance=[0, 2, 2, 2], invalid=5),
    ]
    m = aggregate([item_metrics(item) for item in items])
    # completeness: items a, b only (c has no readable score): P0 = (0 + 1/3)/2, P1 = (1/3 + 2/3)/2.
    assert m["completeness_p0"] == pytest.approx(1 / 6)
    assert m["completeness_p1"] == pytest.approx(1 / 2)
    assert m["completeness_p2"] == pytest.approx(1 / 3)
    assert m["completeness"] == pytest.approx((5 / 3 + 2 / 3) / 2)
    assert m["completeness"] == pytest.approx(m["completeness_p1"] + 2 * m["completeness_p2"])
    assert (m["precision_p0"], m["precision_p1"], m["precision_p2"]) == pytest.approx((1 / 3, 1 / 6, 1 / 2))
    assert m["precision"] == pytest.approx((0 + 1.5 + 2) / 3)
    assert m["relevance"] == pytest.approx((2 + 1 + 1.5) / 3)
    assert m["relevance_p0"] == pytest.approx((0 + 0 + 0.25) / 3)
    assert m["total"] == pytest.approx(m["completeness"] + m["precision"] + m["relevance"])
    assert m["judge_invalid_rate"] == pytest.approx((3 / 12 + 0 / 10 + 5 / 10) / 3)
    assert m["empty_rate"] == pytest.approx(1 / 3)


def test_without_golden_only_relevance_and_without_judge_only_empty_rate():
    relevance_only = item_metrics(judged("x", relevance=[1, 2]))
    assert set(relevance_only) == {"empty_rate", "relevance", "relevance_p0", "relevance_p1",
                                   "relevance_p2", "judge_invalid_rate"}
    assert item_metrics({"description": " "}) == {"empty_rate": 1.0}


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"judge_model": "hf", "judge_rounds": "five"}, "judge_rounds must be a whole number"),
        ({"judge_model": "hf", "judge_retries": -1}, "judge_retries must be"),
        ({"judge_model": "hf", "judge_temperature": "hot"}, "judge_temperature must be"),
        ({"judge_model": "hf", "judge_model_args": {"pretrained": "x"}}, "judge_model_args must be a string"),
        ({"judge_rounds": 3}, "no judge_model"),
    ],
)
def test_bad_judge_settings_are_named(metadata, message):
    with pytest.raises(ValueError, match=message):
        JudgeSpec.from_settings(read_settings(metadata))


def test_no_judge_settings_means_no_judge():
    assert JudgeSpec.from_settings(read_settings({"qbench_data_dir": "x"})) is None


# --- conversion -------------------------------------------------------------------------------

@pytest.fixture()
def lldescribe_images(tmp_path):
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["b.jpg", "a.png", "sub/c.JPG"]):
        image = Image.new("RGB", (20 + i, 16), (40 * i, 90, 200))
        image.save(folder / name, format="PNG" if name.endswith("png") else "JPEG")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_convert_without_golden_takes_every_image_and_loads_with_load_dataset(lldescribe_images, tmp_path):
    report = convert_a2(lldescribe_images, tmp_path / "data")
    assert report.written == 3
    folder = tmp_path / "data" / "lldescribe"
    data = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert data["test"]["img_path"] == ["a.png", "b.jpg", "sub/c.JPG"]
    assert data["test"]["golden_description"] == [None, None, None]
    assert data["test"][2]["image"].size == (22, 16)
    assert "0 rows carry a golden" in (folder / "README.md").read_text()


def test_convert_with_golden_keeps_its_rows_and_order(lldescribe_images, tmp_path):
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps([
        {"img_path": "sub/c.JPG", "golden_description": "Sharp, well exposed."},
        {"img_path": "a.png", "golden_description": "Blurry and dark."},
    ]))
    convert_a2(lldescribe_images, tmp_path / "data", golden)
    data = datasets.load_dataset(str(tmp_path / "data" / "lldescribe"), cache_dir=str(tmp_path / "hf-cache"))
    assert data["test"]["img_path"] == ["sub/c.JPG", "a.png"]
    assert data["test"]["golden_description"] == ["Sharp, well exposed.", "Blurry and dark."]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"img_path": "a.png"}], r"row 0 \(a.png\): 'golden_description' must be a non-empty string"),
        ([{"img_path": "a.png", "golden_description": "  "}], "must be a non-empty string"),
        ([{"golden_description": "x"}], "row 0: expected an object with a string 'img_path'"),
        ([{"img_path": "a.png", "golden_description": "x"}, {"img_path": "a.png", "golden_description": "y"}],
         r"row 1 \(a.png\): img_path already given in row 0"),
        ([{"img_path": "gone.png", "golden_description": "x"}], r"row 0 \(gone.png\): image file .* is missing"),
        ([], "non-empty JSON list"),
    ],
)
def test_bad_golden_rows_are_named_and_nothing_is_written(lldescribe_images, tmp_path, rows, message):
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps(rows))
    with pytest.raises(ConversionError, match=message):
        convert_a2(lldescribe_images, tmp_path / "data", golden)
    assert not (tmp_path / "data" / "lldescribe").exists()


def test_convert_of_a_folder_without_images_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="no image files"):
        convert_a2(tmp_path / "empty", tmp_path / "data")


def test_demo_golden_descriptions_say_how_each_image_was_made():
    items = {item.img_path: item for item in demo_items()}
    assert demo_golden_description(items["chelsea_blur4.png"]) == (
        "The colour photo of the cat is severely blurred: edges are soft and fine texture is lost, "
        "with no visible noise. Overall, its quality is low."
    )
    assert "grey-scale photo of the cameraman is sharp" in demo_golden_description(items["camera_ref.png"])


# --- judging through lm-eval --------------------------------------------------------------------

def marker_description(doc):
    """A scripted description carrying the judge marker chosen by the image's name."""
    marker = MARKERS[sum(map(ord, doc["img_path"])) % len(MARKERS)]
    return f"The photo looks soft. {marker}"


def expected_score(doc):
    """The fixture judge's score for ``marker_description(doc)``; None: it replies "?"."""
    reply = JUDGE_MARKERS[MARKERS[sum(map(ord, doc["img_path"])) % len(MARKERS)]]
    return None if reply == "?" else int(reply)


@pytest.fixture(scope="module")
def judge_model():
    from fixture_models import cached_fixture

    return cached_fixture("judge")


@pytest.fixture()
def count_hf_judge_requests(monkeypatch):
    """Counts the generate_until requests that reach lm-eval's hf model (the judge here)."""
    counter = {"requests": 0}
    original = HFLM.generate_until

    def counting(self, requests, disable_tqdm=False):
        counter["requests"] += len(requests)
        return original(self, requests, disable_tqdm=disable_tqdm)

    monkeypatch.setattr(HFLM, "generate_until", counting)
    return counter


def judge_metadata(judge_model, cache, rounds=2, retries=1):
    return {"judge_model": "hf", "judge_model_args": f"pretrained={judge_model},device=cpu,batch_size=64",
            "judge_rounds": rounds, "judge_retries": retries, "judge_cache": str(cache)}


def test_local_hf_judge_end_to_end_with_invalid_replies_retries_and_cache(
    judge_model, count_hf_judge_requests, tmp_path
):
    metadata = judge_metadata(judge_model, tmp_path / "replies.sqlite3", rounds=2, retries=1)
    out = evaluate_scripted(marker_description, "qbench_a2_demo", metadata, log_samples=True)
    results = out["results"]["qbench_a2_demo"]
    docs = [sample["doc"] for sample in out["samples"]["qbench_a2_demo"]]
    scores = [expected_score(doc) for doc in docs]
    valid = [s for s in scores if s is not None]
    n_invalid = scores.count(None)
    assert len(docs) == 91 and 0 < n_invalid < 91 and len(set(valid)) == 3

    # Every dimension of a described image got its marker's score; unreadable ones are left out.
    for dimension in ("completeness", "precision", "relevance"):
        for k in (0, 1, 2):
            assert results[f"{dimension}_p{k},judge"] == pytest.approx(valid.count(k) / len(valid))
        assert results[f"{dimension},judge"] == pytest.approx(sum(valid) / len(valid))
    assert results["total,judge"] == pytest.approx(3 * sum(valid) / len(valid))
    assert results["judge_invalid_rate,judge"] == pytest.approx(n_invalid / 91)
    # 3 dimensions x 2 rounds, and each unreadable judgement asked once more; a (prompt, round,
    # attempt) that two descriptions share is asked once. Only readable replies are stored.
    replies = [r for (r,) in sqlite3.connect(tmp_path / "replies.sqlite3").execute("SELECT reply FROM replies")]
    stored, asked = len(replies), count_hf_judge_requests["requests"]
    assert set(replies) == {"0", "1", "2"}
    assert stored < asked <= 91 * 3 * 2 + n_invalid * 3 * 2
    assert stored > 91 * 2  # most prompts are distinct

    count_hf_judge_requests["requests"] = 0
    again = evaluate_scripted(marker_description, "qbench_a2_demo", metadata)["results"]["qbench_a2_demo"]
    assert count_hf_judge_requests["requests"] == asked - stored  # only the unreadable ones, asked again
    assert again == results

    # After the fact: the logged samples, judged again with a third round, give the same metrics
    # and ask only the new round (rounds 0-1 are in the cache).
    samples = tmp_path / "samples_qbench_a2_demo.jsonl"
    samples.write_text("".join(json.dumps(s, default=str) + "\n" for s in out["samples"]["qbench_a2_demo"]))
    spec = JudgeSpec.from_settings(read_settings({**metadata, "judge_rounds": 3}))
    count_hf_judge_requests["requests"] = 0
    metrics = judge_samples(samples, spec, tmp_path / "rejudged")
    now_stored = sqlite3.connect(tmp_path / "replies.sqlite3").execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    assert now_stored - stored <= 91 * 3
    # The new round's readable replies, its unreadable ones asked twice, and rounds 0-1's unreadable ones.
    assert count_hf_judge_requests["requests"] == now_stored - stored + (asked - stored) * 3 // 2
    for name, value in metrics.items():
        assert value == pytest.approx(results[f"{name},judge"]), name
    records = [json.loads(line) for line in (tmp_path / "rejudged" / ITEMS_FILE).read_text().splitlines()]
    assert [r["img_path"] for r in records] == [doc["img_path"] for doc in docs]
    assert records[0]["replies"]["relevance"] == [JUDGE_MARKERS[records[0]["description"].split()[-1]]] * 3
    assert json.loads((tmp_path / "rejudged" / METRICS_FILE).read_text())["n"] == 91

    assert a2_submission(out["samples"]["qbench_a2_demo"])[0] == {
        "img_path": docs[0]["img_path"], "description": marker_description(docs[0])}


def metric_names(task_results):
    return {key.split(",")[0] for key in task_results if key.endswith(",judge") and "_stderr," not in key}


def test_without_a_judge_the_task_only_generates(lldescribe_images, tmp_path, caplog):
    caplog.set_level("WARNING", logger="qbench_tasks.a2.judge")
    convert_a2(lldescribe_images, tmp_path / "data")
    metadata = {"qbench_data_dir": str(tmp_path / "data")}
    results = evaluate_scripted(lambda doc: "", "qbench_a2", metadata, limit=5)["results"]["qbench_a2"]
    assert metric_names(results) == {"empty_rate"}
    assert results["empty_rate,judge"] == 1.0
    assert "no judge configured" in caplog.text


def test_converted_data_without_golden_is_judged_on_relevance_only(
    lldescribe_images, judge_model, tmp_path
):
    convert_a2(lldescribe_images, tmp_path / "data")
    metadata = {**judge_metadata(judge_model, tmp_path / "replies.sqlite3", rounds=1, retries=0),
                "qbench_data_dir": str(tmp_path / "data")}
    results = evaluate_scripted(lambda doc: "Sharp. <score-2>", "qbench_a2", metadata)["results"]["qbench_a2"]
    assert metric_names(results) == {"relevance", "relevance_p0", "relevance_p1", "relevance_p2",
                       "judge_invalid_rate", "empty_rate"}
    assert results["relevance,judge"] == 2.0 and results["judge_invalid_rate,judge"] == 0.0


# --- an OpenAI-compatible server as judge --------------------------------------------------------

class ChatServer(BaseHTTPRequestHandler):
    """A stand-in for an OpenAI-compatible /v1/chat/completions endpoint, replying from markers."""

    payloads: list = []

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).payloads.append(payload)
        self.respond(payload["messages"][-1]["content"])

    def respond(self, user: str, status: int = 200, body: bytes | None = None):
        if body is None:
            marker = next((m for m in MARKERS if m in user), "<score-none>")
            reply = "I cannot judge this." if marker == "<score-none>" else f"Score: {JUDGE_MARKERS[marker]}"
            body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_openai_compatible_server_as_judge(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    ChatServer.payloads = []
    server = QuietHTTPServer(("127.0.0.1", 0), ChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
        spec = JudgeSpec(model="local-chat-completions", model_args=f"model=judge-llm,base_url={url},max_retries=1",
                         rounds=3, retries=1, cache=str(tmp_path / "replies.sqlite3"))
        items = [("Clear. <score-2>", "Sharp photo."), ("Odd. <score-none>", None), ("Dim. <score-0>", None)]
        judgements = judge_descriptions(spec, items)
    finally:
        server.shutdown()
        server.server_close()
    assert judgements[0].scores == {"completeness": [2, 2, 2], "precision": [2, 2, 2], "relevance": [2, 2, 2]}
    assert judgements[1].scores == {"relevance": []} and judgements[1].invalid == 3
    assert judgements[2].scores == {"relevance": [0, 0, 0]}
    # (3 + 1 + 1 dimensions) x 3 rounds, plus one retry of each of the 3 unreadable ones.
    assert len(ChatServer.payloads) == 15 + 3
    first = ChatServer.payloads[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][0]["content"] == "You are a helpful assistant."
    assert first["model"] == "judge-llm" and first["temperature"] == 1.0
    # Every (prompt, round, attempt) is sent with its own seed, so rounds are independent draws.
    relevance_of_first = [p for p in ChatServer.payloads if "Clear." in p["messages"][-1]["content"]
                          and "is relevant" in p["messages"][-1]["content"]]
    assert len({p["seed"] for p in relevance_of_first}) == 3


class FaultyChatServer(ChatServer):
    """The stand-in server, failing on a marker: an empty `choices`, HTTP 500, malformed JSON, or
    no answer within the client's time-out."""

    def respond(self, user: str, status: int = 200, body: bytes | None = None):
        if "<fault-empty>" in user:
            return super().respond(user, body=b'{"choices": []}')
        if "<fault-500>" in user:
            return super().respond(user, status=500, body=b"internal error")
        if "<fault-json>" in user:
            return super().respond(user, body=b'{"choices": [')
        if "<fault-hang>" in user:
            time.sleep(3)
        return super().respond(user)


def test_judge_failures_of_every_kind_never_end_the_run(tmp_path, monkeypatch):
    """Each failing request is retried, then counted invalid; every other reply is scored and stored."""
    import qbench_tasks.judging.asking as asking

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(asking, "BACKOFF_SECONDS", 0.0)
    FaultyChatServer.payloads = []
    server = QuietHTTPServer(("127.0.0.1", 0), FaultyChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    items = [("Clear. <score-2>", None), ("Empty <fault-empty>", None), ("Dim. <score-0>", None),
             ("Error <fault-500>", None), ("Broken <fault-json>", None), ("Slow <fault-hang>", None),
             ("Fine. <score-1>", None)]
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
        spec = JudgeSpec(model="local-chat-completions", model_args=f"model=judge-llm,base_url={url},max_retries=1",
                         rounds=1, retries=1, timeout=1, cache=str(tmp_path / "replies.sqlite3"))
        judgements = judge_descriptions(spec, items)
    finally:
        server.shutdown()
        server.server_close()
    assert [j.scores["relevance"] for j in judgements] == [[2], [], [0], [], [], [], [1]]
    assert [j.invalid for j in judgements] == [0, 1, 0, 1, 1, 1, 0]
    stored = sqlite3.connect(tmp_path / "replies.sqlite3").execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    assert stored == 3  # the three replies; a failed request stores nothing, so a rerun asks it again


class InterruptedJudge:
    """A judge reporting replies through lm-eval's cache hook, killed after ``stop_after`` of them."""

    def __init__(self, stop_after=None):
        self.stop_after, self.asked = stop_after, 0
        self.cache_hook = None

    def generate_until(self, requests, disable_tqdm=False):
        replies = []
        for request in requests:
            if self.stop_after is not None and self.asked == self.stop_after:
                raise KeyboardInterrupt  # the run is killed here
            self.asked += 1
            replies.append("Score: 1")
            self.cache_hook.add_partial("generate_until", request.args, replies[-1])
        return replies


def test_a_killed_judge_run_keeps_every_reply_that_arrived(tmp_path):
    spec = JudgeSpec(model="stand-in", rounds=1, retries=0, cache=str(tmp_path / "replies.sqlite3"))
    items = [(f"Description {i}.", None) for i in range(10)]
    with pytest.raises(KeyboardInterrupt):
        judge_descriptions(spec, items, make_judge=lambda _: InterruptedJudge(stop_after=7))
    resumed = InterruptedJudge()
    judgements = judge_descriptions(spec, items, make_judge=lambda _: resumed)
    assert resumed.asked == 3 and all(j.scores == {"relevance": [1]} for j in judgements)
