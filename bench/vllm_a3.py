"""A3 throughput on vLLM (``vllm-vlm``) against ``hf-multimodal``, at batch 1, 8 and 32.

Run in the vLLM environment (``make test-vllm`` builds ``.venv-vllm``):

    .venv-vllm/bin/python bench/vllm_a3.py --images 256 --repeats 3

Both score the same generated KonIQ-sized images with the same random-weight tiny LLaVA (the
vLLM tests' fixture: 64 image tokens, text attention heads of 32), in float32, through lm-eval's
``evaluate`` on the loaded task: request building, the model's requests, scoring and metrics,
what a user's run pays for. "Batch" is ``hf-multimodal``'s ``batch_size`` and vLLM's
``max_num_seqs`` (the sequences its scheduler runs at once; vLLM is handed every request at once).
Models and engines load once, timed apart (vLLM without compilation unless ``--compile``). The
runs are timed in interleaved rounds (``timing.interleaved``): median and range of the rounds, and
of each round's ratio to ``hf-multimodal`` at batch 1; the last column is the largest difference of
an image's A3 score from that baseline's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from a3_throughput import harness, load_task
from generated_data import make_database
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.models.vllm_vlms import VLLM_VLM
from timing import interleaved, ratios, spread

import model_wrappers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' model builders
from fixture_models import build_vllm_llava  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--compile", action="store_true", help="let vLLM compile its model (slower start)")
    args = parser.parse_args()
    model_wrappers.install_lm_eval_hooks()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_vllm_llava(Path(tmp) / "llava-vllm")
        data_dir = make_database(Path(tmp), args.images)
        fixed, lms = {}, {}
        for batch_size in args.batch_sizes:
            started = time.perf_counter()
            lms[f"hf-multimodal, batch {batch_size}"] = HFMultimodalLM(
                pretrained=str(model_dir), device="cpu", dtype="float32", batch_size=batch_size)
            fixed[f"hf-multimodal batch {batch_size}: model loading"] = time.perf_counter() - started
        for batch_size in args.batch_sizes:
            started = time.perf_counter()
            lms[f"vllm-vlm, batch {batch_size}"] = VLLM_VLM(
                pretrained=str(model_dir), dtype="float32", max_num_seqs=batch_size, gpu_memory_utilization=0.1,
                enforce_eager=not args.compile, seed=0)
            fixed[f"vllm-vlm batch {batch_size}: engine start"] = time.perf_counter() - started
        methods = {name: (lambda task_dict, lm=lm: harness(lm, task_dict)) for name, lm in lms.items()}
        timed = interleaved(methods, args.repeats, {name: lambda: load_task(data_dir) for name in methods})

    first = f"hf-multimodal, batch {args.batch_sizes[0]}"  # the baseline
    baseline = timed[first].result
    within = ratios(timed, first)
    print(f"A3, {args.images} images of 1024x768, tiny LLaVA (64 image tokens), float32, "
          f"{torch.get_num_threads()} CPU threads, {args.repeats} interleaved rounds (median, range)")
    speed_column = f"speed vs hf b{args.batch_sizes[0]}"
    print(f"{'method':<24} | {'seconds':>17} | {'images/s':>8} | {speed_column:>17} | {'max |score diff|':>16}")
    print("-" * 95)
    for name, t in timed.items():
        diff = max(abs(t.result[k] - baseline[k]) for k in baseline)
        speed = [1 / r for r in within[name]]
        print(f"{name:<24} | {spread(t.seconds):>17} | {args.images / t.median:>8.1f} | {spread(speed):>17} | "
              f"{diff:>16.1e}")
    print("\nfixed overheads, once per run (seconds):")
    for name, seconds in fixed.items():
        print(f"  {name:<40} {seconds:6.2f}")


if __name__ == "__main__":
    main()
