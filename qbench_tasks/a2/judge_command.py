"""``qbench judge``: score the descriptions of a logged A2 run with a judge, after the fact.

Reads lm-eval's ``--log_samples`` file of qbench_a2 (or the demo), judges every description
exactly as the task's judge filter does (same prompts, cache and parsing) and writes the metrics
and one record per image, so trying another judge never regenerates the descriptions.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from qbench_tasks.a2.export import A2_DESCRIPTIONS, description_of
from qbench_tasks.a2.judge import judged_records
from qbench_tasks.a2.scoring import aggregate, item_metrics
from qbench_tasks.judging.spec import JudgeSpec
from qbench_tasks.samples import read_samples

METRICS_FILE = "metrics.json"
ITEMS_FILE = "judgements.jsonl"


def judge_samples(samples_file: str | os.PathLike, spec: JudgeSpec, out_dir: str | os.PathLike) -> dict:
    """Judge the samples; write ``out_dir/metrics.json`` and ``out_dir/judgements.jsonl``."""
    samples = read_samples(Path(samples_file), A2_DESCRIPTIONS)
    descriptions = [description_of(sample) for sample in samples]
    golden = [sample["doc"]["golden_description"] for sample in samples]
    judged = judged_records(spec, descriptions, golden)
    per_item = [item_metrics(record) for record in judged]
    metrics = aggregate(per_item)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"samples": str(samples_file), "judge": asdict(spec.public()), "n": len(samples), "metrics": metrics}
    (out_dir / METRICS_FILE).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    with (out_dir / ITEMS_FILE).open("w", encoding="utf-8") as f:
        for sample, record, values in zip(samples, judged, per_item):
            row = {"img_path": sample["doc"]["img_path"], **record, "metrics": values}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return metrics
