"""A3 throughput: the official-style loop against lm_eval at batch 1 and batch 8.

Scores the same generated KonIQ-sized images with the same fixture model three ways, in this
process, after one warm-up pass of each:

* official: the Q-Bench A3 script's loop — per image, open the file, run the processor, one
  forward at batch 1, softmax of the " good" / " poor" logits at temperature 100;
* lm_eval with ``hf-multimodal`` at batch 1 and at batch 8 (the whole ``simple_evaluate``: data
  loading, request building, scoring, metrics; the models are built before the clock starts),
  and at batch 8 with ``--metadata '{"jpeg_draft": true}'`` (reduced-scale JPEG decoding).

Prints images/s and each time as a ratio of the official loop's, and the largest difference
between the official scores and each harness run's.

    python bench/a3_throughput.py --images 500
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lm_eval
import torch
import transformers
from generated_data import make_database
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.tasks import TaskManager
from PIL import Image

import model_wrappers
from model_wrappers.fixture_models import cached_fixture
from qbench_tasks import TASKS_DIR
from qbench_tasks.lazy_images import JPEG_DRAFT_KEY
from qbench_tasks.prompts import A3_ANSWER_PREFIX, A3_CHOICE_WORDS, A3_PROMPT


def official_loop(model_dir: Path, images: list[Path]) -> dict[str, float]:
    processor = transformers.AutoProcessor.from_pretrained(model_dir)
    model = transformers.AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    good, poor = (processor.tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in A3_CHOICE_WORDS)
    prompt = f"<image>{A3_PROMPT} {A3_ANSWER_PREFIX}"
    scores = {}
    for path in images:
        inputs = processor(text=prompt, images=Image.open(path).convert("RGB"), return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1]
        scores[path.name] = float(torch.softmax(logits[[good, poor]] / 100, dim=0)[0])
    return scores


def harness(lm: HFMultimodalLM, data_dir: Path, jpeg_draft: bool = False) -> dict[str, float]:
    metadata = {"qbench_data_dir": str(data_dir), JPEG_DRAFT_KEY: jpeg_draft}
    out = lm_eval.simple_evaluate(
        model=lm, tasks=["qbench_a3_koniq"], log_samples=True,
        task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata),
    )
    return {s["doc"]["img_path"]: s["srcc"][0] for s in out["samples"]["qbench_a3_koniq"]}


def timed(fn, *args):
    fn(*args)  # warm-up: file cache, dataset cache, lazy imports
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    model_wrappers.install_lm_eval_hooks()
    model_dir = cached_fixture("signal")
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = make_database(Path(tmp), args.images)
        images = sorted((Path(tmp) / "images").glob("*.jpg"))
        runs = {"official loop (batch 1)": timed(official_loop, model_dir, images)}
        for batch_size in (1, 8):
            lm = HFMultimodalLM(pretrained=str(model_dir), device="cpu", batch_size=batch_size)
            runs[f"lm_eval hf-multimodal, batch {batch_size}"] = timed(harness, lm, data_dir)
        runs["  same, jpeg_draft (opt-in)"] = timed(harness, lm, data_dir, True)
    base_seconds, official = runs["official loop (batch 1)"]
    print(f"{args.images} images of 1024x768, signal fixture, {torch.get_num_threads()} CPU threads")
    print(f"{'method':<32} | {'seconds':>8} | {'images/s':>8} | {'time vs official':>16} | {'max |score diff|':>16}")
    print("-" * 92)
    for name, (seconds, scores) in runs.items():
        diff = max(abs(scores[k] - official[k]) for k in official)
        print(f"{name:<32} | {seconds:>8.1f} | {args.images / seconds:>8.1f} | {seconds / base_seconds:>15.2f}x | {diff:>16.1e}")


if __name__ == "__main__":
    main()
