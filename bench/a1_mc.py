"""A1 multiple choice: one cached image + question prefix per question against a full forward
per option, at the fixture's 64 image tokens and at LLaVA-1.5's 576.

Runs ``qbench_a1_demo_mc`` (91 questions, 2-4 options of 1-3 tokens) through lm_eval's
``evaluate`` with the shared-prefix cache (the default) and without it (``SHARE_PREFIX_CACHE =
False``: every distinct option prefix is a full forward over image + question + option), in
interleaved rounds (``timing.interleaved``), for two models of the fixture's architecture: the
demo's signal model (128-pixel input, patch 16: 64 image tokens) and a random-weight one with
LLaVA-1.5's vision geometry (336-pixel input, patch 14: 576 image tokens). Task loading is not
timed. Prints model calls, tokens run through the model, seconds (median and range over the
rounds, and of the within-round ratio), accuracy, and the largest difference between the two
paths' option log-likelihoods.

    python bench/a1_mc.py --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from lm_eval.evaluator import evaluate
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.tasks import TaskManager
from timing import interleaved, ratios, spread

import model_wrappers
from model_wrappers import hf_multimodal_loglik
from qbench_tasks import TASKS_DIR
from qbench_tasks.demo.model import demo_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' model builders
from fixture_models import build_tiny_llava  # noqa: E402

TASK = "qbench_a1_demo_mc"


def run(lm: HFMultimodalLM, task_dict, share_prefix: bool) -> tuple[int, int, list[float], float]:
    hf_multimodal_loglik.SHARE_PREFIX_CACHE = share_prefix
    calls = {"forwards": 0, "tokens": 0}

    def count(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls["forwards"] += 1
        calls["tokens"] += ids.numel()

    handle = lm.model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        out = evaluate(lm=lm, task_dict=task_dict, log_samples=True, verbosity="WARNING")
    finally:
        handle.remove()
        hf_multimodal_loglik.SHARE_PREFIX_CACHE = True
    samples = sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
    logliks = [float(resp[0][0]) for s in samples for resp in s["resps"]]
    return calls["forwards"], calls["tokens"], logliks, out["results"][TASK]["acc,none"]


def compare(label: str, model_dir: Path, repeats: int) -> None:
    lm = HFMultimodalLM(pretrained=str(model_dir), device="cpu", batch_size=8)
    load = lambda: TaskManager(include_path=str(TASKS_DIR), include_defaults=False).load([TASK])["tasks"]  # noqa: E731
    methods = {"per-option forwards": lambda tasks: run(lm, tasks, False),
               "shared prefix cache": lambda tasks: run(lm, tasks, True)}
    timed = interleaved(methods, repeats, setups={name: load for name in methods})
    within = ratios(timed, "per-option forwards")
    base_ll = timed["per-option forwards"].result[2]
    print(f"\n{TASK}: {label}, batch 8, {torch.get_num_threads()} CPU threads, {repeats} interleaved rounds")
    print(f"{'path':<20} | {'forwards':>8} | {'tokens':>7} | {'seconds':>17} | {'vs per-option':>17} | "
          f"{'acc':>6} | {'max |d loglik|':>14}")
    print("-" * 108)
    for name, t in timed.items():
        forwards, tokens, logliks, acc = t.result
        diff = max(abs(a - b) for a, b in zip(logliks, base_ll))
        print(f"{name:<20} | {forwards:>8} | {tokens:>7} | {spread(t.seconds):>17} | {spread(within[name]):>17} | "
              f"{acc:>6.4f} | {diff:>14.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model_wrappers.install_lm_eval_hooks()
    compare("signal fixture (128 px, patch 16: 64 image tokens)", demo_model(), args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        big = build_tiny_llava(Path(tmp) / "llava-336", image_size=336, patch_size=14)
        compare("random fixture (336 px, patch 14: 576 image tokens, as LLaVA-1.5)", big, args.repeats)


if __name__ == "__main__":
    main()
