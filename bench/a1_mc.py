"""A1 multiple choice: one cached image + question prefix per question against a full forward
per option.

Runs ``qbench_a1_demo_mc`` (91 questions, 2-4 options of 1-3 tokens) with the signal fixture
through lm_eval twice, in this process, after a warm-up: with the shared-prefix cache (the
default) and without it (``SHARE_PREFIX_CACHE = False``: every distinct option prefix is a full
forward over image + question + option). Prints model calls, tokens run through the model,
seconds, and the largest difference between the two runs' option log-likelihoods.

    python bench/a1_mc.py
"""

from __future__ import annotations

import time

import lm_eval
import torch
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.tasks import TaskManager

import model_wrappers
from model_wrappers import hf_multimodal_loglik
from model_wrappers.fixture_models import cached_fixture
from qbench_tasks import TASKS_DIR

TASK = "qbench_a1_demo_mc"


def run(lm: HFMultimodalLM, share_prefix: bool) -> tuple[float, int, int, list[float], float]:
    hf_multimodal_loglik.SHARE_PREFIX_CACHE = share_prefix
    calls = {"forwards": 0, "tokens": 0}

    def count(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls["forwards"] += 1
        calls["tokens"] += ids.numel()

    handle = lm.model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        started = time.perf_counter()
        out = lm_eval.simple_evaluate(
            model=lm, tasks=[TASK], log_samples=True,
            task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False),
        )
        seconds = time.perf_counter() - started
    finally:
        handle.remove()
    # Each option's response is [[log-likelihood, is-greedy]].
    logliks = [float(resp[0][0]) for s in sorted(out["samples"][TASK], key=lambda s: s["doc_id"]) for resp in s["resps"]]
    return seconds, calls["forwards"], calls["tokens"], logliks, out["results"][TASK]["acc,none"]


def main() -> None:
    model_wrappers.install_lm_eval_hooks()
    lm = HFMultimodalLM(pretrained=str(cached_fixture("signal")), device="cpu", batch_size=8)
    run(lm, True)  # warm-up
    rows = {"per-option forwards": run(lm, False), "shared prefix cache": run(lm, True)}
    _, base_forwards, base_tokens, base_ll, _ = rows["per-option forwards"]
    base_seconds = rows["per-option forwards"][0]
    print(f"{TASK}: signal fixture (64 image tokens), batch 8, {torch.get_num_threads()} CPU threads")
    print(f"{'path':<20} | {'forwards':>8} | {'tokens':>7} | {'seconds':>7} | {'vs per-option':>13} | {'acc':>6} | {'max |d loglik|':>14}")
    print("-" * 94)
    for name, (seconds, forwards, tokens, ll, acc) in rows.items():
        diff = max(abs(a - b) for a, b in zip(ll, base_ll))
        print(f"{name:<20} | {forwards:>8} | {tokens:>7} | {seconds:>7.2f} | {seconds / base_seconds:>12.2f}x | {acc:>6.4f} | {diff:>14.1e}")


if __name__ == "__main__":
    main()
