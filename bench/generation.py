"""A1 and A2 generation: lm-eval's batched generation against one request at a time.

Runs ``qbench_a1_demo`` (answers, up to 32 tokens) and ``qbench_a2_demo`` (descriptions, up to 48
tokens; ``--limit`` documents) with the tests' random-weight fixture model (the demo's model is
fitted to answer in a token or two and would hardly generate) through lm_eval's ``evaluate``, at batch 8
and at batch 1, in interleaved rounds (``timing.interleaved``; task loading not timed), and
checks that both give the same text for every document (greedy decoding). Tokens/s counts the
generated text's tokens (a batch runs until its longest answer ends, so the shorter ones are
padding work that this count leaves out).

    python bench/generation.py --limit 24 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from lm_eval.evaluator import evaluate
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.tasks import TaskManager
from timing import interleaved, ratios, spread

import model_wrappers
from qbench_tasks import TASKS_DIR

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' fixture models
from fixture_models import cached_fixture  # noqa: E402


def answers(lm: HFMultimodalLM, task: str, task_dict, limit: int) -> list[str]:
    out = evaluate(lm=lm, task_dict=task_dict, limit=limit, log_samples=True, verbosity="WARNING")
    return [s["resps"][0][0] for s in sorted(out["samples"][task], key=lambda s: s["doc_id"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=24, help="documents per task")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model_wrappers.install_lm_eval_hooks()
    model_dir = str(cached_fixture("tiny"))
    lms = {size: HFMultimodalLM(pretrained=model_dir, device="cpu", batch_size=size) for size in (1, 8)}
    print(f"random-weight fixture model, {torch.get_num_threads()} CPU threads, {args.limit} documents per task, "
          f"{args.repeats} interleaved rounds (median, range)")
    print(f"{'task':<16} | {'batch':>5} | {'seconds':>17} | {'vs batch 1':>17} | {'tokens/s':>8} | same text")
    print("-" * 90)
    for task in ("qbench_a1_demo", "qbench_a2_demo"):
        manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
        load = lambda task=task: manager.load([task])["tasks"]  # noqa: E731
        methods = {size: (lambda tasks, lm=lm, task=task: answers(lm, task, tasks, args.limit))
                   for size, lm in lms.items()}
        timed = interleaved(methods, args.repeats, setups={size: load for size in methods})
        within = ratios(timed, 1)
        tokenizer = lms[1].tokenizer
        tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in timed[1].result)
        for size, t in timed.items():
            same = t.result == timed[1].result
            print(f"{task:<16} | {size:>5} | {spread(t.seconds):>17} | {spread(within[size]):>17} | "
                  f"{tokens / t.median:>8.1f} | {same}")


if __name__ == "__main__":
    main()
