"""A1, Q-Bench+ and A-Bench with no data directory read ``q-future/Q-Bench-HF`` /
``q-future/Q-Bench2-HF`` / ``q-future/A-Bench-HF`` through ``datasets.load_dataset``: here from a
local stand-in of the hub (``fixture_hub``, pointed
at with ``HF_ENDPOINT``) holding the demo questions in the hub's layout, in a plain ``lm_eval`` run
beside the demo tasks that read the same questions from converted files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_hub import COMMIT, LocalHub, dataset_repo_files, running

from qbench_tasks.a1.llvisionqa import HUB_DATASET_ID as A1_HUB
from qbench_tasks.abench.abench import HUB_DATASET_ID as ABENCH_HUB
from qbench_tasks.data.parquet import load_parquet_dataset
from qbench_tasks.demo.data import ensure_demo_a1_dataset, ensure_demo_abench_dataset, ensure_demo_pair_dataset
from qbench_tasks.qbench2.pairs import HUB_DATASET_ID as PAIRS_HUB

BIN = Path(sys.executable).parent
LIMIT = 6


def a1_hub_layout(split):
    """Converted LLVisionQA questions as q-future/Q-Bench-HF has them (option0..3 padded with "N/A")."""
    def convert(doc):
        options = doc["candidates"] + ["N/A"] * (4 - len(doc["candidates"]))
        letter = "ABCD"[doc["candidates"].index(doc["correct_ans"])] if doc["correct_ans"] else ""
        return {"id": doc["img_path"], "question": doc["question"],
                **{f"option{i}": option for i, option in enumerate(options)},
                "question_type": doc["type"], "question_concern": doc["concern"], "correct_choice": letter}

    return split.map(convert, remove_columns=["img_path", "candidates", "type", "concern", "correct_ans",
                                              "image_sha256"])


def pairs_hub_layout(split):
    """Converted pairs as q-future/Q-Bench2-HF has them: no img_path, no content hashes."""
    return split.remove_columns(["img_path", "image1_sha256", "image2_sha256"])


def lm_eval(hub_url: str, tasks: str, model, out: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(tmp_path / "hf-home"),
               HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"))
    return subprocess.run([str(BIN / "lm_eval"), "--tasks", tasks, "--model", "hf-multimodal",
                           "--model_args", f"pretrained={model}", "--device", "cpu", "--limit", str(LIMIT),
                           "--gen_kwargs", "max_gen_toks=2", "--log_samples", "--output_path", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)


def samples(out: Path, task: str) -> list[dict]:
    (found,) = out.rglob(f"samples_{task}_*.jsonl")
    return sorted(map(json.loads, found.read_text().splitlines()), key=lambda s: s["doc_id"])


def _prompt(sample: dict) -> tuple[str, int]:
    arguments = sample["arguments"]["gen_args_0"]
    return arguments["arg_0"], len(arguments["arg_2"]["visual"])


@pytest.fixture(scope="module")
def hub_repos():
    a1 = load_parquet_dataset(ensure_demo_a1_dataset())
    pairs = load_parquet_dataset(ensure_demo_pair_dataset())
    abench = load_parquet_dataset(ensure_demo_abench_dataset())  # already in the hub's layout, plus these two
    return {**dataset_repo_files(A1_HUB, {"dev": a1_hub_layout(a1["dev"])}),
            **dataset_repo_files(PAIRS_HUB, {"dev": pairs_hub_layout(pairs["dev"])}),
            **dataset_repo_files(ABENCH_HUB, {"dev": abench["dev"].remove_columns(["img_path", "image_sha256"])})}


def test_the_hub_datasets_give_the_requests_the_converted_files_give(hub_repos, tiny_model, tmp_path):
    with running(LocalHub(files=hub_repos)) as hub:
        proc = lm_eval(hub.url, "qbench_a1_dev,qbench_a1_demo,qbench2_a1_dev,qbench2_a1_demo,abench_dev,abench_demo",
                       tiny_model, tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {path for method, path, _ in hub.requests if method == "GET" and path.endswith(".parquet")} == {
        f"/datasets/{repo}/resolve/{COMMIT}/data/dev-00000-of-00001.parquet"
        for repo in (A1_HUB, PAIRS_HUB, ABENCH_HUB)}
    for hub_task, files_task in (("qbench_a1_dev", "qbench_a1_demo"), ("qbench2_a1_dev", "qbench2_a1_demo"),
                                 ("abench_dev", "abench_demo")):
        via_hub, via_files = samples(tmp_path / "out", hub_task), samples(tmp_path / "out", files_task)
        assert len(via_hub) == LIMIT
        # the same prompt, as many images, the same answer letter
        assert [_prompt(s) for s in via_hub] == [_prompt(s) for s in via_files]
        assert [s["target"] for s in via_hub] == [s["target"] for s in via_files]
        assert [s["target"] for s in via_hub] != [""] * LIMIT


def test_unreachable_hub_and_a_missing_column_are_one_line(hub_repos, tiny_model, tmp_path):
    proc = lm_eval("http://127.0.0.1:9", "qbench_a1_dev", tiny_model, tmp_path / "out", tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = next(line for line in proc.stderr.splitlines() if line.startswith("lm_eval: "))
    assert line.startswith(f"lm_eval: qbench_a1: no data directory is configured and {A1_HUB} could not be "
                           "loaded from the hub (")
    assert "qbench convert a1 --labels llvisionqa_dev.json" in proc.stderr

    pairs = load_parquet_dataset(ensure_demo_pair_dataset())["dev"]
    broken = dataset_repo_files(PAIRS_HUB, {"dev": pairs_hub_layout(pairs).remove_columns("question_concern")})
    with running(LocalHub(files=broken)) as hub:
        proc = lm_eval(hub.url, "qbench2_a1_dev", tiny_model, tmp_path / "out2", tmp_path)
    assert proc.returncode == 1
    assert "q-future/Q-Bench2-HF (dev split) lacks the Q-Bench2 column(s) question_concern" in proc.stderr
