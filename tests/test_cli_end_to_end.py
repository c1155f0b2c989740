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


def test_plain_lm_eval_hf_multimodal_and_qbench_run_loglik_agree(signal_model, tmp_path):
    plain = run(str(BIN / "lm_eval"), "--tasks", "qbench_a3_demo",
                "--model", "hf-multimodal", *lm_eval_args(signal_model, tmp_path / "plain"))
    assert "qbench_a3_demo" in plain.stdout and "srcc" in plain.stdout and "plcc" in plain.stdout
    wrapped = run(str(BIN / "qbench"), "run", "--tasks", "qbench_a3_demo",
                  "--model", "hf-multimodal-loglik", *lm_eval_args(signal_model, tmp_path / "wrapped"))
    assert "srcc" in wrapped.stdout
    a = results_file(tmp_path / "plain")["results"]["qbench_a3_demo"]
    b = results_file(tmp_path / "wrapped")["results"]["qbench_a3_demo"]
    assert a["srcc,none"] > 0.8
    assert (a["srcc,none"], a["plcc,none"]) == pytest.approx((b["srcc,none"], b["plcc,none"]), abs=1e-9)


def test_qbench_run_adds_a_users_include_path_beside_the_qbench_tasks(signal_model, text_task_dir, tmp_path):
    run(str(BIN / "qbench"), "run", "--include_path", str(text_task_dir),
        "--tasks", "qbench_a3_demo,qbench_test_text_mc",
        "--model", "hf-multimodal", *lm_eval_args(signal_model, tmp_path / "both"))
    both = results_file(tmp_path / "both")["results"]
    alone = run_lm_eval(["qbench_test_text_mc"], signal_model, extra_include=[text_task_dir])["results"]
    assert both["qbench_test_text_mc"]["acc,none"] == alone["qbench_test_text_mc"]["acc,none"]
    assert both["qbench_a3_demo"]["srcc,none"] > 0.8


def test_apply_chat_template_through_the_cli(signal_model, tmp_path):
    run(str(BIN / "lm_eval"), "--tasks", "qbench_a3_demo",
        "--model", "hf-multimodal", *lm_eval_args(signal_model, tmp_path, "--apply_chat_template"))
    assert results_file(tmp_path)["results"]["qbench_a3_demo"]["srcc,none"] > 0.8


def test_missing_data_is_a_clear_error(tiny_model, tmp_path):
    proc = run(str(BIN / "lm_eval"), "--tasks", "qbench_a3_koniq",
               "--model", "hf-multimodal", *lm_eval_args(tiny_model, tmp_path), check=False)
    assert proc.returncode != 0
    assert "qbench convert a3 --database koniq --labels koniq.json" in proc.stderr


def test_wheel_ships_task_yamls_task_code_and_cards(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", str(tmp_path), str(REPO))
    (wheel,) = tmp_path.glob("lm_eval_qbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("qbench_tasks/_qbench.yaml", "qbench_tasks/a1/_template_yaml",
                     "qbench_tasks/a1/qbench_a1_test.yaml", "qbench_tasks/a1/utils.py",
                     "qbench_tasks/a2/_template_yaml", "qbench_tasks/a2/qbench_a2.yaml",
                     "qbench_tasks/a2/utils.py", "qbench_tasks/demo/qbench_a2_demo.yaml",
                     "qbench_tasks/demo/qbench_a1_demo_mc.yaml", "qbench_tasks/data/image_policy.py",
                     "qbench_tasks/data_cards/lldescribe.md", "qbench_tasks/demo/model.py",
                     "qbench_tasks/data_cards/llvisionqa.md", "qbench_tasks/a3/_template_yaml",
                     "qbench_tasks/a3/_qbench_a3.yaml",
                     "qbench_tasks/qbench2/_template_yaml", "qbench_tasks/qbench2/utils.py",
                     "qbench_tasks/data_cards/llvisionqa_pairs.md",
                     "qbench_tasks/a3/qbench_a3_koniq.yaml", "qbench_tasks/a3/utils.py",
                     "qbench_tasks/demo/qbench_a3_demo.yaml", "qbench_tasks/data_cards/qbench_a3.md",
                     "model_wrappers/hf_multimodal_loglik.py", "qbench-lm-eval.pth", "qbench_lm_eval_autoload.py"):
        assert expected in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    declared = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "qbench = qbench_tasks.cli:main" in declared
    assert "[lm_eval.models]\nclip-iqa = model_wrappers.iqa_baselines:CLIPIQALM" in declared


def test_qbench_demo_prints_the_results_table():
    proc = run(str(BIN / "qbench"), "demo", "--batch-size", "4", "--limit", "20")
    rows = [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("|qbench")]
    assert rows == ["qbench2_a1_demo", "qbench2_a1_demo_mc", "qbench_a1_demo", "qbench_a1_demo_mc",
                    "qbench_a2_demo", "qbench_a3_demo"]
    for metric in ("srcc", "plcc", "acc_incontext_other", "acc_joint", "unparsed_rate", "empty_rate"):
        assert f"|{metric}" in proc.stdout.replace(" ", "")


def test_a2_generate_then_judge_and_export_the_logged_samples(tiny_model, tmp_path):
    """lm_eval writes the descriptions (no judge: predict-only); qbench judge scores them later
    with a local hf judge, and qbench export a2 writes the submission file. The data: the demo's
    LLDescribe-format dataset, read as qbench_a2 reads a converted one (the demo task would judge)."""
    from fixture_models import cached_fixture

    from qbench_tasks.demo.data import ensure_demo_a2_dataset

    metadata = json.dumps({"qbench_data_dir": str(ensure_demo_a2_dataset().parent)})
    proc = run(str(BIN / "lm_eval"), "--tasks", "qbench_a2", "--metadata", metadata,
               "--model", "hf-multimodal", "--limit", "6", "--log_samples",
               *lm_eval_args(tiny_model, tmp_path / "run"))
    assert "no judge configured" in proc.stderr and "empty_rate" in proc.stdout
    (samples_file,) = (tmp_path / "run").rglob("samples_qbench_a2_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(samples) == 6 and samples[0]["doc"]["golden_description"]
    # Stand in for a model whose descriptions the fixture judge can score (see fixture_judge.py).
    for i, sample in enumerate(samples):
        sample["resps"] = [[f"Description {i}. <score-{i % 3}>"]]
    samples_file.write_text("".join(json.dumps(s) + "\n" for s in samples))

    judge = run(str(BIN / "qbench"), "judge", "--samples", str(samples_file), "--judge-model", "hf",
                "--judge-model-args", f"pretrained={cached_fixture('judge')},device=cpu,batch_size=16",
                "--rounds", "2", "--cache", str(tmp_path / "replies.sqlite3"), "--out", str(tmp_path / "judged"))
    metrics = json.loads((tmp_path / "judged" / "metrics.json").read_text())["metrics"]
    assert metrics["relevance"] == metrics["completeness"] == pytest.approx(1.0)  # scores 0,1,2,0,1,2
    assert metrics["total"] == pytest.approx(3.0) and metrics["judge_invalid_rate"] == 0.0
    assert "total" in judge.stdout

    run(str(BIN / "qbench"), "export", "a2", "--samples", str(samples_file), "--out", str(tmp_path / "a2.json"))
    exported = json.loads((tmp_path / "a2.json").read_text())
    assert exported[1] == {"img_path": samples[1]["doc"]["img_path"], "description": "Description 1. <score-1>"}


def test_qbench_convert_a2_reports_a_missing_image(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "golden.json").write_text(json.dumps([{"img_path": "x.jpg", "golden_description": "Sharp."}]))
    proc = run(str(BIN / "qbench"), "convert", "a2", "--images", str(tmp_path / "images"),
               "--golden", str(tmp_path / "golden.json"), "--out", str(tmp_path / "data"), check=False)
    assert proc.returncode != 0 and "row 0 (x.jpg): image file" in proc.stderr and "--skip-bad" in proc.stderr


def test_killed_generation_run_resumes_mid_way_with_use_cache(tiny_model, tmp_path):
    """SIGKILL an lm_eval run once its first chunk of A1 answers is stored; the rerun generates
    only the rest and logs the same answers as a run that was never interrupted. The random-weight
    model, with answers cut at 8 tokens: slow enough to be killed between chunks, quick to rerun."""
    import signal
    import sqlite3
    import time

    from model_wrappers.resumable_generation import RESUME_CHUNK

    def command(out, *extra):
        return [str(BIN / "lm_eval"), "--tasks", "qbench_a1_demo",
                "--model", "hf-multimodal", "--log_samples", "--gen_kwargs", "max_gen_toks=8",
                *lm_eval_args(tiny_model, out), *extra]

    cache = tmp_path / "cache"
    db = tmp_path / "cache_rank0.db"
    first = subprocess.Popen(command(tmp_path / "killed", "--use_cache", str(cache)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    stored = 0
    while stored < RESUME_CHUNK and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if db.exists():
            try:
                stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM unnamed").fetchone()[0]
            except sqlite3.OperationalError:  # table not created yet, or locked for a moment
                pass
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL  # killed, not finished
    assert RESUME_CHUNK <= stored < 91

    resumed = run(*command(tmp_path / "resumed", "--use_cache", str(cache)))
    assert f"Cached requests: {stored}, Requests remaining: {91 - stored}" in resumed.stderr
    run(*command(tmp_path / "fresh"))

    def answers(out):
        (samples,) = out.rglob("samples_qbench_a1_demo_*.jsonl")
        return {s["doc_id"]: s["resps"] for s in map(json.loads, samples.read_text().splitlines())}

    assert answers(tmp_path / "resumed") == answers(tmp_path / "fresh")
