"""No credential reaches a file: a planted key is looked for in everything a run writes."""

import lm_eval
import pytest
from conftest import ScriptedLM, session_dir  # noqa: F401 - session_dir: the fixture
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.loggers import EvaluationTracker
from lm_eval.tasks import TaskManager

from qbench_tasks import TASKS_DIR
from qbench_tasks.credentials import REDACTED, redact, redact_text

PLANTED = "sk-PLANTED-7f3a9c"


@register_model("qbench-test-keyed-judge")
class KeyedJudge(LM):
    """A judge that takes (and ignores) an api_key, as an API judge does; it scores everything 1."""

    def __init__(self, **kwargs):
        super().__init__()
        assert kwargs.get("api_key") == PLANTED  # the judge itself still receives the real key

    @classmethod
    def create_from_arg_obj(cls, arg_dict, additional_config=None):
        return cls(**arg_dict)

    def generate_until(self, requests, disable_tqdm=False):
        return ["Score: 1" for _ in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


@pytest.mark.parametrize("text,expected", [
    ("model=gpt-4o,api_key=sk-1,max_tokens=32", f"model=gpt-4o,api_key={REDACTED},max_tokens=32"),
    ("base_url=http://h/v1,token=abc", f"base_url=http://h/v1,token={REDACTED}"),
    ('{"model_args": "model=x,hf_token=hf_1"}', f'{{"model_args": "model=x,hf_token={REDACTED}"}}'),
    ("password = hunter2, x=1", f"password = {REDACTED}, x=1"),
    ("max_tokens=32,max_gen_toks=5,tokens=3", "max_tokens=32,max_gen_toks=5,tokens=3"),
    # Any name naming a key, token, secret, password, credential or authorization, in any case.
    ("model=x,openai_api_key=sk-2", f"model=x,openai_api_key={REDACTED}"),
    ("secret_key=s3,session_token=t0k", f"secret_key={REDACTED},session_token={REDACTED}"),
    ("OPENAI_API_KEY=sk-3 apiKey=k4 x-api-key=k5", f"OPENAI_API_KEY={REDACTED} apiKey={REDACTED} x-api-key={REDACTED}"),
    ("db_credentials=c1,Authorization=basic", f"db_credentials={REDACTED},Authorization={REDACTED}"),
    ('{"OPENAI_API_KEY": "sk-4", "judge_model": "hf"}', f'{{"OPENAI_API_KEY": "{REDACTED}", "judge_model": "hf"}}'),
    ("{'secret_key': 'sk-5'}", f"{{'secret_key': '{REDACTED}'}}"),
    ("header: Authorization: Bearer abc.def-1", f"header: Authorization: Bearer {REDACTED}"),
    # Tokenizer settings are not credentials.
    ("add_bos_token=True,pad_token_id=0,max_new_tokens=9", "add_bos_token=True,pad_token_id=0,max_new_tokens=9"),
])
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_redact_nested_values_and_credential_keys():
    value = {"judge_model_args": "model=x,api_key=k", "args": [{"Client_Secret": "s"}, ("token=t",)], "n": 3}
    assert redact(value) == {"judge_model_args": f"model=x,api_key={REDACTED}",
                             "args": [{"Client_Secret": REDACTED}, (f"token={REDACTED}",)], "n": 3}


def test_a_planted_key_reaches_no_file(session_dir, tmp_path):  # noqa: F811
    from qbench_tasks.cli import main

    metadata = {"judge_model": "qbench-test-keyed-judge",
                "judge_model_args": f"model=judge,api_key={PLANTED},secret_key={PLANTED}2,session_token={PLANTED}3",
                "OPENAI_API_KEY": f"{PLANTED}4",
                "judge_rounds": 1, "judge_cache": str(tmp_path / "replies.sqlite3"), "a1_judge": True}
    tracker = EvaluationTracker(output_path=str(tmp_path / "out"))
    out = lm_eval.simple_evaluate(
        model=ScriptedLM(lambda doc: "Looking closely" if "question" in doc else "A sharp photo."),
        tasks=["qbench_a2_demo", "qbench_a1_demo"], limit=6, log_samples=True, evaluation_tracker=tracker,
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata))
    # What lm-eval's CLI does with a run's results (lm_eval/_cli/run.py).
    samples = out.pop("samples")
    tracker.save_results_aggregated(results=out, samples=samples)
    for task_name in out["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    assert out["results"]["qbench_a2_demo"]["relevance,judge"] == 1.0  # the judge was reached
    (samples_file,) = (tmp_path / "out").rglob("samples_qbench_a2_demo_*.jsonl")
    main(["judge", "--samples", str(samples_file), "--judge-model", "qbench-test-keyed-judge",
          "--judge-model-args", f"api_key={PLANTED},openai_api_key={PLANTED}5", "--rounds", "1",
          "--cache", str(tmp_path / "replies.sqlite3"), "--out", str(tmp_path / "judged")])

    written = [path for root in (tmp_path, session_dir) for path in root.rglob("*") if path.is_file()]
    assert len([p for p in written if p.is_relative_to(tmp_path)]) >= 5  # results, 2 samples, cache, judged
    leaking = [str(path) for path in written if PLANTED.encode() in path.read_bytes()]
    assert leaking == []
    assert f"api_key={REDACTED}" in samples_file.read_text()  # the judge settings, redacted
