"""lm-eval's data parallelism: two processes on CPU (gloo) give the one-process metrics, because
the per-item results of both ranks are gathered and the correlations computed once over all."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_lm_eval, sample_scores

TASKS = ["qbench_a3_demo", "qbench_a1_demo_mc"]


def test_two_processes_give_the_one_process_metrics(signal_model, tmp_path):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1"}  # accelerate's multi-CPU (gloo) mode
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2", "-m", "qbench_tasks.cli",
         "run", "--tasks", ",".join(TASKS), "--model", "hf-multimodal-loglik",
         "--model_args", f"pretrained={signal_model}", "--batch_size", "4",
         "--output_path", str(tmp_path), "--log_samples"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Each rank built its own share of the documents.
    assert "qbench_a3_demo on rank 0" in proc.stderr and "qbench_a3_demo on rank 1" in proc.stderr
    (results_file,) = tmp_path.rglob("results_*.json")
    two = json.loads(results_file.read_text())["results"]
    one = run_lm_eval(TASKS, signal_model, model="hf-multimodal-loglik", batch_size=4)

    for metric in ("srcc,none", "plcc,none"):
        assert two["qbench_a3_demo"][metric] == pytest.approx(one["results"]["qbench_a3_demo"][metric], abs=1e-6)
    (samples_file,) = tmp_path.rglob("samples_qbench_a3_demo_*.jsonl")
    gathered = {s["doc"]["img_path"]: s["srcc"][0] for s in map(json.loads, samples_file.read_text().splitlines())}
    alone = sample_scores(one, "qbench_a3_demo")
    assert gathered.keys() == alone.keys() and len(alone) == 91
    assert max(abs(gathered[k] - alone[k]) for k in alone) < 1e-5

    a1_two, a1_one = two["qbench_a1_demo_mc"], one["results"]["qbench_a1_demo_mc"]
    metrics = [key for key in a1_one if key.startswith("acc") and "stderr" not in key]
    assert len(metrics) == 8 and {key: a1_two[key] for key in metrics} == {key: a1_one[key] for key in metrics}
