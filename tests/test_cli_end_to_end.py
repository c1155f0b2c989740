"""The commands users type: lm_eval and qbench, as subprocesses."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, run_lm_eval

BIN = Path(sys.executable).parent


def run(*command, check=True):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{command} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def results_file(output_path: Path) -> dict:
    (found,) = output_path.rglob("results_*.json")
    return json.loads(found.read_text())


@pytest.fixture(scope="module")
def tasks_dir():
    return run(str(BIN / "qbench"), "tasks-dir").stdout.strip()


def test_tasks_dir_is_the_include_path(tasks_dir):
    assert (Path(tasks_dir) / "a3" / "_template_yaml").is_file()
    assert (Path(tasks_dir) / "demo" / "qbench_a3_demo.yaml").is_file()


def lm_eval_args(model_dir, output_path, *extra):
    return ["--model_args", f"pretrained={model_dir}", "--device", "cpu", "--batch_size", "4",
            "--output_path", str(output_path), *extra]


def test_plain_lm_eval_hf_multimodal_and_qbench_run_loglik_agree(tasks_dir, signal_model, tmp_path):
    plain = run(str(BIN / "lm_eval"), "--include_path", tasks_dir, "--tasks", "qbench_a3_demo",
                "--model", "hf-multimodal", *lm_eval_args(signal_model, tmp_path / "plain"))
    assert "qbench_a3_demo" in plain.stdout and "srcc" in plain.stdout and "plcc" in plain.stdout
    wrapped = run(str(BIN / "qbench"), "run", "--tasks", "qbench_a3_demo",
                  "--model", "hf-multimodal-loglik", *lm_eval_args(signal_model, tmp_path / "wrapped"))
    assert "srcc" in wrapped.stdout
    a = results_file(tmp_path / "plain")["results"]["qbench_a3_demo"]
    b = results_file(tmp_path / "wrapped")["results"]["qbench_a3_demo"]
    assert a["srcc,none"] > 0.8
    assert (a["srcc,none"], a["plcc,none"]) == pytest.approx((b["srcc,none"], b["plcc,none"]), abs=1e-9)


def test_qbench_task_beside_a_text_task_in_one_call(tasks_dir, signal_model, text_task_dir, tmp_path):
    text_yaml = text_task_dir / "qbench_test_text_mc.yaml"
    run(str(BIN / "lm_eval"), "--include_path", tasks_dir, "--tasks", f"qbench_a3_demo,{text_yaml}",
        "--model", "hf-multimodal", *lm_eval_args(signal_model, tmp_path / "both"))
    both = results_file(tmp_path / "both")["results"]
    alone = run_lm_eval(["qbench_test_text_mc"], signal_model, extra_include=[text_task_dir])["results"]
    assert both["qbench_test_text_mc"]["acc,none"] == alone["qbench_test_text_mc"]["acc,none"]
    assert both["qbench_a3_demo"]["srcc,none"] > 0.8


def test_apply_chat_template_through_the_cli(tasks_dir, signal_model, tmp_path):
    run(str(BIN / "lm_eval"), "--include_path", tasks_dir, "--tasks", "qbench_a3_demo",
        "--model", "hf-multimodal", *lm_eval_args(signal_model, tmp_path, "--apply_chat_template"))
    assert results_file(tmp_path)["results"]["qbench_a3_demo"]["srcc,none"] > 0.8


def test_missing_data_is_a_clear_error(tasks_dir, tiny_model, tmp_path):
    proc = run(str(BIN / "lm_eval"), "--include_path", tasks_dir, "--tasks", "qbench_a3_koniq",
               "--model", "hf-multimodal", *lm_eval_args(tiny_model, tmp_path), check=False)
    assert proc.returncode != 0
    assert "qbench convert a3 --database koniq --labels koniq.json" in proc.stderr


def test_qbench_run_refuses_a_second_include_path(tmp_path):
    proc = run(str(BIN / "qbench"), "run", "--include_path", str(tmp_path), "--tasks", "x", check=False)
    assert proc.returncode != 0 and "sets --include_path" in proc.stderr


def test_wheel_ships_task_yamls_task_code_and_cards(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", str(tmp_path), str(REPO))
    (wheel,) = tmp_path.glob("lm_eval_qbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("qbench_tasks/_qbench.yaml", "qbench_tasks/a1/_template_yaml",
                     "qbench_tasks/a1/qbench_a1_test.yaml", "qbench_tasks/a1/utils.py",
                     "qbench_tasks/data_cards/llvisionqa.md", "qbench_tasks/a3/_template_yaml", "qbench_tasks/a3/_qbench_a3.yaml",
                     "qbench_tasks/a3/qbench_a3_koniq.yaml", "qbench_tasks/a3/utils.py",
                     "qbench_tasks/demo/qbench_a3_demo.yaml", "qbench_tasks/data_cards/qbench_a3.md",
                     "model_wrappers/hf_multimodal_loglik.py"):
        assert expected in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "qbench = qbench_tasks.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_qbench_demo_prints_the_results_table():
    proc = run(str(BIN / "qbench"), "demo", "--batch-size", "4", "--limit", "20")
    rows = [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("|qbench_")]
    assert rows == ["qbench_a1_demo", "qbench_a3_demo"]
    for metric in ("srcc", "plcc", "acc_incontext_other", "unparsed_rate"):
        assert f"|{metric}" in proc.stdout.replace(" ", "")
