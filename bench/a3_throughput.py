"""A3 throughput: the official-style loop against lm_eval at batch 1 and batch 8.

Scores the same generated KonIQ-sized images with the same fixture model, in this process:

* official: the Q-Bench A3 script's loop — per image, open the file, run the processor, one
  forward at batch 1, softmax of the " good" / " poor" logits at temperature 100;
* lm_eval with ``hf-multimodal`` at batch 1 and at batch 8: lm-eval's ``evaluate`` on the loaded
  task — request building, the model's requests, scoring and metrics (with their bootstrap
  standard errors), which a user's run pays for.

Fixed overheads — loading the model (each way) and loading the task (reading the converted data)
— are timed once, apart from the per-image work. The per-image work is timed in interleaved
rounds (``timing.interleaved``) and reported as the median (and range) of the rounds, and of the
time ratios within each round. A last, instrumented pass of each shows where the time goes.

    python bench/a3_throughput.py --images 300 --repeats 3 [--image-tokens 576]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import lm_eval.api.task
import torch
import transformers
from generated_data import make_database
from lm_eval.evaluator import evaluate
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.tasks import TaskManager
from PIL import Image
from timing import interleaved, ratios, spread

import model_wrappers
import model_wrappers.hf_multimodal_loglik as loglik_module
import qbench_tasks.data.lazy_images as lazy_images
from qbench_tasks import TASKS_DIR
from qbench_tasks.demo.model import demo_model
from qbench_tasks.prompts import A3_ANSWER_PREFIX, A3_CHOICE_WORDS, A3_PROMPT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' model builders
from fixture_models import build_tiny_llava  # noqa: E402

TASK = "qbench_a3_koniq"


class Official:
    """The official script's per-image loop, with its model and processor loaded once."""

    def __init__(self, model_dir: Path):
        self.processor = transformers.AutoProcessor.from_pretrained(model_dir)
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(model_dir).eval()
        tokenizer = self.processor.tokenizer
        self.words = [tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in A3_CHOICE_WORDS]
        self.prompt = f"<image>{A3_PROMPT} {A3_ANSWER_PREFIX}"

    def __call__(self, images: list[Path], phases: dict | None = None) -> dict[str, float]:
        phases = phases if phases is not None else defaultdict(float)
        scores = {}
        for path in images:
            with clock(phases, "image decode"):
                image = Image.open(path).convert("RGB")
            with clock(phases, "processor"):
                inputs = self.processor(text=self.prompt, images=image, return_tensors="pt")
            with clock(phases, "forward"), torch.no_grad():
                logits = self.model(**inputs).logits[0, -1]
            with clock(phases, "scoring"):
                scores[path.name] = float(torch.softmax(logits[self.words] / 100, dim=0)[0])
        return scores


_lock = threading.Lock()


@contextmanager
def clock(phases: dict, name: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        with _lock:
            phases[name] += time.perf_counter() - started


def load_task(data_dir: Path):
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                          metadata={"qbench_data_dir": str(data_dir)})
    return manager.load([TASK])["tasks"]


def harness(lm: HFMultimodalLM, task_dict) -> dict[str, float]:
    out = evaluate(lm=lm, task_dict=task_dict, log_samples=True, verbosity="WARNING")
    return {s["doc"]["img_path"]: s["srcc"][0] for s in out["samples"][TASK]}


@contextmanager
def instrumented(lm: HFMultimodalLM, phases: dict):
    """Time the harness's phases: request building, the model's requests (decode and processor in
    the prefetch threads, summed over threads; forward in the main thread) and what is left of
    ``evaluate`` (scoring, metrics)."""
    patched = []

    def wrap(owner, name, phase):
        real = getattr(owner, name)

        def timed(*args, **kwargs):
            with clock(phases, phase):
                return real(*args, **kwargs)
        setattr(owner, name, timed)
        patched.append((owner, name, real))

    wrap(lm_eval.api.task.Task, "build_all_requests", "request building")
    wrap(lm_eval.api.task.ConfigurableTask, "build_all_requests", "request building")
    wrap(lazy_images, "decode_image_cell", "image decode (threads)")
    wrap(loglik_module, "_encode_unit", "decode + processor (threads)")
    wrap(type(lm), "loglikelihood", "model requests (wall)")
    started = {}
    pre = lm.model.register_forward_pre_hook(lambda *_: started.__setitem__("t", time.perf_counter()))
    post = lm.model.register_forward_hook(
        lambda *_: phases.__setitem__("forward", phases["forward"] + time.perf_counter() - started["t"]))
    try:
        yield
    finally:
        pre.remove()
        post.remove()
        for owner, name, real in reversed(patched):
            setattr(owner, name, real)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-tokens", type=int, choices=(64, 576), default=64,
                        help="64: the demo's signal model (128 px, patch 16); 576: a random-weight model of the "
                             "same architecture with LLaVA-1.5's vision geometry (336 px, patch 14)")
    args = parser.parse_args()
    model_wrappers.install_lm_eval_hooks()
    with tempfile.TemporaryDirectory() as tmp:
        if args.image_tokens == 64:
            model_dir, label = demo_model(), "signal fixture (64 image tokens)"
        else:
            model_dir = build_tiny_llava(Path(tmp) / "llava-336", image_size=336, patch_size=14)
            label = "random fixture, 336 px / patch 14 (576 image tokens)"
        data_dir = make_database(Path(tmp), args.images)
        images = sorted((Path(tmp) / "images").glob("*.jpg"))
        fixed = {}
        started = time.perf_counter()
        official = Official(model_dir)
        fixed["model loading, official"] = time.perf_counter() - started
        lms = {}
        for batch_size in (1, 8):
            started = time.perf_counter()
            lms[batch_size] = HFMultimodalLM(pretrained=str(model_dir), device="cpu", batch_size=batch_size)
            fixed[f"model loading, hf-multimodal batch {batch_size}"] = time.perf_counter() - started
        started = time.perf_counter()
        load_task(data_dir)
        fixed["task loading (lm_eval)"] = time.perf_counter() - started

        methods = {"official loop (batch 1)": lambda: official(images)}
        setups = {}
        for batch_size, lm in lms.items():
            name = f"lm_eval hf-multimodal, batch {batch_size}"
            methods[name] = lambda task_dict, lm=lm: harness(lm, task_dict)
            setups[name] = lambda: load_task(data_dir)
        timed = interleaved(methods, args.repeats, setups)

        phases = {name: defaultdict(float) for name in methods}
        official(images, phases["official loop (batch 1)"])
        for batch_size, lm in lms.items():
            name = f"lm_eval hf-multimodal, batch {batch_size}"
            task_dict = load_task(data_dir)
            with instrumented(lm, phases[name]):
                started = time.perf_counter()
                harness(lm, task_dict)
                phases[name]["evaluate (wall)"] = time.perf_counter() - started

    baseline = "official loop (batch 1)"
    official_scores = timed[baseline].result
    within = ratios(timed, baseline)
    print(f"{args.images} images of 1024x768, {label}, {torch.get_num_threads()} CPU threads, "
          f"{args.repeats} interleaved rounds (median, range)")
    print(f"{'method':<32} | {'seconds':>17} | {'ms/image':>8} | {'time vs official':>17} | {'max |score diff|':>16}")
    print("-" * 103)
    for name, t in timed.items():
        diff = max(abs(t.result[k] - official_scores[k]) for k in official_scores)
        print(f"{name:<32} | {spread(t.seconds):>17} | {1000 * t.median / args.images:>8.1f} | "
              f"{spread(within[name]):>17} | {diff:>16.1e}")
    print("\nfixed overheads, once per run (seconds):")
    for name, seconds in fixed.items():
        print(f"  {name:<40} {seconds:6.2f}")
    print("\nwhere the time goes, one instrumented pass (seconds; threads summed where marked):")
    for name, parts in phases.items():
        print(f"  {name}: " + ", ".join(f"{part} {seconds:.2f}" for part, seconds in parts.items()))


if __name__ == "__main__":
    main()
