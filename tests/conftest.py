"""Shared fixtures. Everything is built locally in a per-session temporary folder: no network."""

import os
import tempfile
from pathlib import Path

# Before datasets / lm-eval are imported: keep their caches and ours inside this session.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="qbench-tests-"))
os.environ["QBENCH_CACHE_DIR"] = str(_SESSION_DIR / "qbench-cache")
os.environ["HF_DATASETS_CACHE"] = str(_SESSION_DIR / "hf-datasets")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("QBENCH_DATA_DIR", None)

import pytest  # noqa: E402
from lm_eval.api.model import LM  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "qbench_data"

TEXT_TASK_YAML = """\
# A plain-text multiple-choice task on local data: stands in for "another suite".
task: qbench_test_text_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data_file}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
metadata:
  version: 1.0
"""
TEXT_TASK_ROWS = [
    {"question": "The quality of the image is", "choices": ["good", "poor", "image"], "answer": 0},
    {"question": "Is there blur in the image?", "choices": ["Yes", "No"], "answer": 1},
    {"question": "The image has", "choices": ["noise", "clear focus", "bad lighting"], "answer": 2},
    {"question": "Rate the quality of the image.", "choices": ["high", "low"], "answer": 0},
]


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def text_task_dir() -> Path:
    """Folder holding qbench_test_text_mc (YAML + JSON lines with an absolute path)."""
    import json

    folder = _SESSION_DIR / "text_task"
    folder.mkdir(exist_ok=True)
    data = folder / "text_mc.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in TEXT_TASK_ROWS))
    (folder / "qbench_test_text_mc.yaml").write_text(TEXT_TASK_YAML.format(data_file=data))
    return folder


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from fixture_models import cached_fixture

    return cached_fixture("tiny")


@pytest.fixture(scope="session")
def family_model(session_dir, tiny_model):
    """name -> the tiny model of that family (tests/model_matrix.py), built once per session."""
    import model_matrix

    built = {"llava": tiny_model}

    def model_dir(name):
        if name not in built:
            built[name] = model_matrix.build(name, session_dir / "matrix" / name)
        return built[name]
    return model_dir


@pytest.fixture(scope="session")
def signal_model() -> Path:
    """The demo's model: fitted to the demo data, so its A3 scores follow MOS and it answers the
    demo questions (``qbench_tasks/demo/model.py``)."""
    from qbench_tasks.demo.model import demo_model

    return demo_model()


@pytest.fixture(scope="session")
def demo_dataset_dir() -> Path:
    from qbench_tasks.demo.data import ensure_demo_a3_dataset

    return ensure_demo_a3_dataset()


@pytest.fixture(scope="session")
def official_a3_labels() -> Path:
    folder = SHARED_DATA / "a3_iqa_databases"
    if not folder.is_dir():
        pytest.skip(f"official Q-Bench label files not found at {folder} (CI provides ../shared)")
    return folder


def run_lm_eval(tasks, model_dir, *, model="hf-multimodal", batch_size=1, metadata=None,
                apply_chat_template=False, extra_include=(), log_samples=True, limit=None, use_cache=None,
                bootstrap_iters=100000, model_args="", gen_kwargs=None, predict_only=False, num_fewshot=None):
    """lm-eval's simple_evaluate on the Q-Bench include path, in this process."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from qbench_tasks import TASKS_DIR

    include = [str(TASKS_DIR), *map(str, extra_include)]
    return lm_eval.simple_evaluate(
        model=model,
        model_args=f"pretrained={model_dir}" + (f",{model_args}" if model_args else ""),
        tasks=tasks,
        # Built-in tasks are not indexed: that alone takes lm-eval ~12 s per call.
        task_manager=TaskManager(include_path=include, include_defaults=False, metadata=metadata or {}),
        batch_size=batch_size,
        device="cpu",
        log_samples=log_samples,
        apply_chat_template=apply_chat_template,
        limit=limit,
        use_cache=use_cache,
        bootstrap_iters=bootstrap_iters,
        gen_kwargs=gen_kwargs,
        predict_only=predict_only,
        num_fewshot=num_fewshot,
    )


def sample_scores(results, task) -> dict[str, float]:
    """img_path -> A3 score from a run's logged samples."""
    return {s["doc"]["img_path"]: s["srcc"][0] for s in results["samples"][task]}



class ScriptedLM(LM):
    """Answers every generate_until request by a rule over its document (no model involved)."""

    MULTIMODAL = True  # lm-eval's flag for models that accept image requests

    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def generate_until(self, requests, disable_tqdm=False):
        return [self.answer(request.doc) for request in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def evaluate_scripted(answer, task, metadata, log_samples=False, limit=None):
    """simple_evaluate of ``task`` with a ScriptedLM giving ``answer(doc)``."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import model_wrappers  # noqa: F401 - the tasks' code imports it too
    from qbench_tasks import TASKS_DIR

    return lm_eval.simple_evaluate(
        model=ScriptedLM(answer),
        tasks=[task],
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata),
        log_samples=log_samples,
        limit=limit,
    )
