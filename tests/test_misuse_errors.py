"""The wrong file to the right command: each gets one line saying what is wrong, no traceback.

Samples and results come from one real lm-eval run of the demo tasks (the files users have)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qbench_tasks import cli
from qbench_tasks.judging.asking import load_judge
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.settings import read_settings

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def demo_run(signal_model, tmp_path_factory):
    """task -> its samples file, plus "results": the results file, of one logged demo run."""
    out = tmp_path_factory.mktemp("demo-run")
    subprocess.run([str(BIN / "lm_eval"), "--tasks", "qbench_a1_demo,qbench_a1_demo_mc,qbench_a2_demo,qbench_a3_demo",
                    "--model", "hf-multimodal", "--model_args", f"pretrained={signal_model}", "--device", "cpu",
                    "--limit", "3", "--log_samples", "--output_path", str(out)], check=True, capture_output=True)
    files = {path.name.split("_20")[0].removeprefix("samples_"): path for path in out.rglob("samples_*.jsonl")}
    (files["results"],) = out.rglob("results_*.json")
    return files


def one_line_exit(argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    message = str(exit_.value.code)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("kind,task,problem", [
    ("a2", "qbench_a3_demo", "its document is no LLDescribe image"),
    ("a2", "qbench_a1_demo", "its document is no LLDescribe image"),
    ("a1", "qbench_a3_demo", "its document is no A1 question"),
    ("a1", "qbench_a1_demo_mc", "multiple-choice tasks (qbench_a1_*_mc) score options"),
    ("a1", "qbench_a2_demo", "its document is no A1 question"),
])
def test_export_of_another_tasks_samples_is_refused(kind, task, problem, demo_run, tmp_path):
    message = one_line_exit(["export", kind, "--samples", demo_run[task], "--out", tmp_path / "x.json"])
    assert message.startswith(f"qbench export: {demo_run[task]}: line 1 is not a sample of")
    assert problem in message
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("kind,task", [("a1", "qbench_a1_demo"), ("a2", "qbench_a2_demo")])
def test_export_of_the_right_samples_still_works(kind, task, demo_run, tmp_path):
    cli.main(["export", kind, "--samples", str(demo_run[task]), "--out", str(tmp_path / "x.json")])
    assert len(json.loads((tmp_path / "x.json").read_text())) == 3


def test_judging_samples_that_are_not_descriptions_is_refused(demo_run, tmp_path):
    message = one_line_exit(["judge", "--samples", demo_run["qbench_a3_demo"], "--judge-model", "hf",
                             "--out", tmp_path / "judged"])
    assert "line 1 is not a sample of an A2 task" in message


def test_report_on_results_without_a_qbench_task_is_refused(demo_run, tmp_path):
    data = json.loads(demo_run["results"].read_text())
    data["results"] = {"arc_easy": {"acc,none": 0.5}}
    other = tmp_path / "results_other.json"
    other.write_text(json.dumps(data))
    message = one_line_exit(["report", other, "--out", tmp_path / "report"])
    assert message == f"qbench report: {other}: holds no Q-Bench task results (tasks: arc_easy)"
    assert not (tmp_path / "report" / "report.md").exists()


@pytest.mark.parametrize("content", [b"\x00garbage" * 200, b"SQLite format 3\x00" + b"\xff" * 200])
def test_a_garbage_judge_cache_is_named_before_any_work(content, demo_run, tmp_path):
    cache = tmp_path / "replies.sqlite3"
    cache.write_bytes(content)
    message = one_line_exit(["judge", "--samples", demo_run["qbench_a2_demo"], "--judge-model", "hf",
                             "--cache", cache, "--out", tmp_path / "judged"])
    assert message.startswith(f"qbench judge: {cache}: not a judge reply cache")
    with pytest.raises(ValueError, match="not a judge reply cache"):  # the lm_eval route: at task load
        JudgeSpec.from_settings(read_settings({"judge_model": "hf", "judge_cache": str(cache)}))


def test_a_cache_of_another_programs_table_is_refused(tmp_path):
    import sqlite3

    cache = tmp_path / "other.sqlite3"
    with sqlite3.connect(cache) as db:
        db.execute("CREATE TABLE replies (id INTEGER, text TEXT)")
    with pytest.raises(ValueError, match="not a judge reply cache .*no such column: key"):
        JudgeSpec.from_settings(read_settings({"judge_model": "hf", "judge_cache": str(cache)}))


@pytest.mark.parametrize("labels", ["folder", "deep"])
def test_a_label_file_that_is_a_folder_or_nested_too_deep_is_named(labels, tmp_path):
    path = tmp_path / "labels.json"
    if labels == "folder":
        path.mkdir()
    else:
        path.write_text("[" * 200_000 + "]" * 200_000)
    (tmp_path / "images").mkdir()
    message = one_line_exit(["convert", "a3", "--database", "koniq", "--labels", path,
                             "--images", tmp_path / "images", "--out", tmp_path / "data"])
    assert message == f"qbench convert: {path}: " + ("not a file" if labels == "folder"
                                                       else "nested too deeply to be a label file")


def test_a_local_judge_without_a_device_goes_where_the_evaluated_model_would(tmp_path):
    """lm-eval's hf default device is "cuda": a CPU-only machine failed with "Torch not compiled
    with CUDA enabled"."""
    import torch
    from fixture_models import cached_fixture

    judge = load_judge(JudgeSpec(model="hf", model_args=f"pretrained={cached_fixture('judge')}"))
    assert judge.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    pinned = load_judge(JudgeSpec(model="hf", model_args=f"pretrained={cached_fixture('judge')},device=cpu"))
    assert pinned.device.type == "cpu"


@pytest.mark.parametrize("command, options", [(["export", "a2"], []), (["judge"], ["--judge-model", "hf"])])
def test_a_samples_file_with_a_string_doc_id_is_named(command, options, demo_run, tmp_path):
    lines = demo_run["qbench_a2_demo"].read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "doc_id": "1"})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    message = one_line_exit([*command, "--samples", samples, *options, "--out", tmp_path / "out"])
    assert f"{samples}: line 2 has doc_id '1', not a whole number" in message


def converted_a3(tmp_path) -> Path:
    from qbench_tasks.demo.data import ensure_demo_a3_dataset

    return Path(shutil.copytree(ensure_demo_a3_dataset(), tmp_path / "demo"))


@pytest.mark.parametrize("damage", ["cut in half", "footer flipped"])
def test_a_damaged_shard_is_named(damage, tmp_path):
    from qbench_tasks.data.lazy_images import load_detached
    from qbench_tasks.data.location import CorruptDatasetError

    path = converted_a3(tmp_path)
    (shard,) = path.glob("data/*.parquet")
    data = shard.read_bytes()
    # The footer's length field and magic sit in the last 8 bytes; its metadata just before them.
    shard.write_bytes(data[: len(data) // 2] if damage == "cut in half"
                      else data[:-40] + bytes(b ^ 0xFF for b in data[-40:-8]) + data[-8:])
    with pytest.raises(CorruptDatasetError, match=rf"{shard}: not a readable parquet shard .*convert the dataset"):
        load_detached(path)


def test_a_card_that_is_not_text_is_named(tmp_path):
    from qbench_tasks.data.location import CorruptDatasetError, recorded_identity

    path = converted_a3(tmp_path)
    (path / "README.md").write_bytes(b"---\nqbench_dataset: a3/\xff\xfe\n---\n")
    with pytest.raises(CorruptDatasetError, match=rf"{path / 'README.md'}: the dataset card is not UTF-8 text"):
        recorded_identity(path)


@pytest.mark.parametrize("command", [["lm_eval"], ["qbench", "run"]])
def test_an_output_path_that_cannot_be_written_ends_a_qbench_run_before_the_model_loads(command, tmp_path):
    """lm-eval found out after the whole computation, warned, exited 0 and lost the results. The
    model path does not exist: had the model been loaded first, that would be the error."""
    (tmp_path / "blocker").write_text("a file where a folder should be")
    args = ["--tasks", "qbench_a3_demo", "--model", "hf-multimodal", "--model_args", "pretrained=/nonexistent",
            "--output_path", str(tmp_path / "blocker" / "out")]
    proc = subprocess.run([str(BIN / command[0]), *command[1:], *args], capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"lm_eval: --output_path {tmp_path / 'blocker' / 'out'} cannot be written (Not a directory: "
        f"{tmp_path / 'blocker' / 'out'}); nothing was run, so no results are lost. Choose a folder you can write")


def test_a_run_without_qbench_tasks_keeps_lm_evals_own_behaviour(tmp_path):
    (tmp_path / "blocker").write_text("")
    proc = subprocess.run([str(BIN / "lm_eval"), "--tasks", "arc_easy", "--model", "hf", "--model_args",
                           "pretrained=/nonexistent", "--output_path", str(tmp_path / "blocker" / "out")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "cannot be written" not in proc.stderr and "/nonexistent" in proc.stderr
