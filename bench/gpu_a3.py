"""A3 on a GPU with a LLaVA-shaped model of 7B-class dimensions: images/s and achieved TFLOP/s
at batch 1 against larger batches, then the same images on vLLM where it is installed.

Self-contained (torch, transformers, Pillow, numpy only), so it runs on a bare GPU machine:
the model is built from a config with random bf16 weights (LLaVA-1.5-7B's shapes: CLIP ViT-L/14
at 336 px, a two-layer projector, a 32-layer 4096-wide Llama; nothing is downloaded), the
tokenizer is trained locally, and the images are generated. Each image is scored the A3 way —
one forward over image + prompt + answer prefix, softmax of the " good" / " poor" logits at
temperature 100 — with right padding, as the harness batches. TFLOP/s counts 2 x parameters x
tokens per forward (the usual estimate; attention's extra work is left out).

The vLLM arm (where ``import vllm`` works; otherwise the script says why it did not run) saves the
same weights, frees the GPU, starts one engine (``--vllm-max-num-seqs``) and reads each image's
" good" / " poor" log-probabilities as ``vllm-vlm`` does in Q-Bench (``SamplingParams(max_tokens=1,
logprob_token_ids=[good, poor])``, every image handed over at once): images/s against the batch-1
row, engine start apart, and the largest difference of an image's score from batch 1's.

    python bench/gpu_a3.py                      # on the GPU: 256 images, batch 1, 16 and 64, then vLLM
    python bench/gpu_a3.py --scale tiny --images 16 --device cpu   # a quick check anywhere
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qbench_tasks.demo.model import use_vllm_weight_names  # noqa: E402
from qbench_tasks.demo.tokenizer import IMAGE_TOKEN, base_corpus, train_tokenizer  # noqa: E402
from qbench_tasks.prompts import A3_ANSWER_PREFIX, A3_CHOICE_WORDS, A3_PROMPT  # noqa: E402

SCALES = {
    # LLaVA-1.5-7B: CLIP ViT-L/14-336 + Vicuna-7B (Llama-2-7B shapes).
    "7b": dict(image_size=336, patch=14, vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                                      num_attention_heads=16),
               text=dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=32, vocab_size=32000)),
    "tiny": dict(image_size=56, patch=14, vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                       num_attention_heads=2),
                 # heads of 32: the smallest vLLM's CPU attention takes (the vLLM arm on a CPU)
                 text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=2, vocab_size=1024)),
}


def build(scale: str, device: str, dtype: torch.dtype):
    spec = SCALES[scale]
    tokenizer = train_tokenizer(base_corpus())
    vision = transformers.CLIPVisionConfig(image_size=spec["image_size"], patch_size=spec["patch"], **spec["vision"])
    text = transformers.LlamaConfig(max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
                                    bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                    **spec["text"])
    config = transformers.LlavaConfig(vision_config=vision, text_config=text,
                                      image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                                      vision_feature_select_strategy="default", vision_feature_layer=-2)
    with torch.device(device):
        torch.manual_seed(0)
        model = transformers.LlavaForConditionalGeneration(config).to(dtype).eval()
    # The Pillow-backed class where this transformers has it (5.x), else the classic one.
    image_processor_class = getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)
    image_processor = image_processor_class(
        size={"shortest_edge": spec["image_size"]},
        crop_size={"height": spec["image_size"], "width": spec["image_size"]})
    processor = transformers.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                            patch_size=spec["patch"], vision_feature_select_strategy="default",
                                            num_additional_image_tokens=1)
    return model, processor


def images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8))
            .resize((1024, 768), Image.Resampling.BICUBIC)
            for _ in range(n)]


@torch.no_grad()
def score(model, processor, batch: list[Image.Image], device: str, sync) -> tuple[list[float], int, float]:
    """A3 scores of a batch, the number of tokens the forward ran over and the seconds spent in
    the model (the rest of a batch's time is the processor's, on the CPU)."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "right"
    prompt = f"{IMAGE_TOKEN}{A3_PROMPT} {A3_ANSWER_PREFIX}"
    inputs = processor(text=[prompt] * len(batch), images=batch, padding="longest", return_tensors="pt")
    started = time.perf_counter()
    inputs = {k: v.to(device, model.dtype) if v.is_floating_point() else v.to(device) for k, v in inputs.items()}
    logits = model(**inputs).logits
    last = inputs["attention_mask"].sum(dim=1) - 1
    good, poor = (tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in A3_CHOICE_WORDS)
    pair = logits[torch.arange(len(batch)), last][:, [good, poor]].float()
    scores = torch.softmax(pair / 100, dim=-1)[:, 0].tolist()  # waits for the GPU
    sync()
    return scores, int(inputs["attention_mask"].sum()), time.perf_counter() - started


def run(model, processor, pictures, batch_size: int, device: str) -> tuple[float, float, int, list[float]]:
    """(seconds, of which in the model, tokens, scores) over all ``pictures``."""
    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    score(model, processor, pictures[:batch_size], device, sync)  # warm-up
    started, in_model, tokens, scores = time.perf_counter(), 0.0, 0, []
    for start in range(0, len(pictures), batch_size):
        batch_scores, batch_tokens, seconds = score(model, processor, pictures[start:start + batch_size], device, sync)
        scores += batch_scores
        tokens += batch_tokens
        in_model += seconds
    return time.perf_counter() - started, in_model, tokens, scores


def vllm_arm(model, processor, pictures, device: str, max_num_seqs: int):
    """(engine start seconds, scoring seconds, scores) on vLLM, or None where vLLM cannot run here
    (said on stdout). The transformers model is saved and dropped first, so that vLLM has the GPU."""
    try:
        from vllm import LLM, SamplingParams, TokensPrompt
    except Exception as err:  # noqa: BLE001 - any reason is reported, and the transformers rows stand
        print(f"vLLM arm: not run (import vllm: {type(err).__name__}: {err})")
        return None
    tokenizer = processor.tokenizer
    good, poor = (tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in A3_CHOICE_WORDS)
    prompt_ids = tokenizer(f"{IMAGE_TOKEN}{A3_PROMPT} {A3_ANSWER_PREFIX}")["input_ids"]
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        use_vllm_weight_names(Path(tmp))
        dtype = str(model.dtype).removeprefix("torch.")
        model.to("meta")
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        started = time.perf_counter()
        extra = {} if device.startswith("cuda") else dict(gpu_memory_utilization=0.1, enforce_eager=True)
        llm = LLM(model=tmp, dtype=dtype, max_num_seqs=max_num_seqs, seed=0, **extra)
        start_seconds = time.perf_counter() - started
    params = SamplingParams(max_tokens=1, temperature=0, logprob_token_ids=[good, poor], detokenize=False)
    prompts = [TokensPrompt(prompt_token_ids=prompt_ids, multi_modal_data={"image": [p]}) for p in pictures]
    llm.generate(prompts[:max_num_seqs], params, use_tqdm=False)  # warm-up
    started = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    pair = torch.tensor([[o.outputs[0].logprobs[0][t].logprob for t in (good, poor)] for o in outputs])
    return start_seconds, seconds, torch.softmax(pair / 100, dim=-1)[:, 0].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=SCALES, default="7b")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--vllm-max-num-seqs", type=int, default=256,
                        help="the vLLM arm's max_num_seqs (the sequences it schedules at once)")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    built = time.perf_counter()
    model, processor = build(args.scale, args.device, dtype)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{args.scale}: {parameters / 1e9:.2f} B parameters, {dtype}, {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
          + f", built in {time.perf_counter() - built:.0f} s; {args.images} images")
    pictures = images(args.images)
    rows, reference = [], None
    for batch_size in args.batch_sizes:
        seconds, in_model, tokens, scores = run(model, processor, pictures, batch_size, args.device)
        reference = reference or scores
        diff = max(abs(a - b) for a, b in zip(scores, reference))
        rows.append((batch_size, seconds, in_model, tokens, diff))
    base = rows[0][1]
    # TFLOP/s over the whole time, and over the model's share alone (what the GPU achieves while busy).
    print(f"{'batch':>5} | {'images/s':>8} | {'vs first':>8} | {'in model':>8} | {'tokens':>8} | {'TFLOP/s':>8} | "
          f"{'in model':>8} | {'max |score diff|':>16}")
    print("-" * 96)
    for batch_size, seconds, in_model, tokens, diff in rows:
        flops = 2 * parameters * tokens
        print(f"{batch_size:>5} | {args.images / seconds:>8.1f} | {base / seconds:>7.2f}x | "
              f"{in_model / seconds:>8.0%} | {tokens:>8} | {flops / seconds / 1e12:>8.1f} | "
              f"{flops / in_model / 1e12:>8.1f} | {diff:>16.1e}")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    vllm = vllm_arm(model, processor, pictures, args.device, args.vllm_max_num_seqs)
    if vllm is not None:
        start_seconds, seconds, scores = vllm
        diff = max(abs(a - b) for a, b in zip(scores, reference))
        fastest = min(rows, key=lambda row: row[1])
        print(f"vLLM (max_num_seqs {args.vllm_max_num_seqs}): {args.images / seconds:.1f} images/s: "
              f"{base / seconds:.2f}x batch {rows[0][0]}, {fastest[1] / seconds:.2f}x the fastest batch "
              f"({fastest[0]}); engine start {start_seconds:.0f} s; max |score diff| vs batch {rows[0][0]} {diff:.1e}")


if __name__ == "__main__":
    main()
