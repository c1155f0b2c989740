"""The demo's model: a tiny LLaVA-architecture model built locally from configs, fitted to the demo.

Nothing here downloads anything: the tokenizer is trained on a small built-in corpus and the
weights are seeded; the model is saved with ``save_pretrained`` so that it loads through the same
``AutoModelForImageTextToText`` / ``AutoProcessor`` path as any hub model.

The vision tower is wired by hand to give each patch's DCT spectrum (``_wire_patch_features``);
the projector and the language model keep their seeded random weights, a fixed "trunk". Only the
"head" - the last decoder layer's MLP, the final norm and the output layer - is fitted (seconds
on a CPU, ``_fit_head``), on the trunk's states at every position where a demo task reads the
model, so that on the demo data it

* answers each A1, Q-Bench+ and A-Bench question with its option's letter, then ends (generation),
* gives the right option's text the most likelihood (the multiple-choice tasks),
* describes each A2 image in the demo's words (``demo.data.demo_description``), and
* gives a " good" minus " poor" margin that follows MOS (A3, plain prompt and chat template).

It is fitted to the demo's own images and questions: it proves the plumbing (each image reaches
the model with its own document; a shuffled pairing loses the signal), not skill. The tests'
other models (random weights, CLIP, the rule judge) build on this module in
``tests/fixture_models.py``.
"""

from __future__ import annotations

import math
import os
import tempfile
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import torch
import transformers

from qbench_tasks import prompts
from qbench_tasks.data.location import cache_dir
from qbench_tasks.data.parquet import replace_dir
from qbench_tasks.demo.data import (
    demo_abench_question,
    demo_description,
    demo_pair_questions,
    demo_question,
    demo_recipes,
)
from qbench_tasks.demo.tokenizer import IMAGE_TOKEN, base_corpus, train_tokenizer

# Bump when the architecture, corpus or training recipe changes: cached builds are keyed by it.
FIXTURE_VERSION = "6"

IMAGE_SIZE = 128
PATCH_SIZE = 16
# Vision width: one channel per 2-D DCT coefficient of a patch, plus a +c / -c channel pair.
VISION_HIDDEN = PATCH_SIZE * PATCH_SIZE + 2
TEXT_HIDDEN = 64
# The MLP width: the last layer's MLP is the fitted head, wide enough that the fit gets every
# demo answer right with a margin (``_fit_head``).
TEXT_INTERMEDIATE = 512

# LLaVA-1.5 ("vicuna_v1") conversation layout. The processor renders it with trim_blocks, so
# newlines are written as expressions.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}{{ ' ' }}"
    "{% else %}{{ message['role'] | upper }}{{ ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>' }}{{ '\\n' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if not loop.last %}{{ ' ' }}{% endif %}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ ' ASSISTANT:' }}{% endif %}"
)

def _tokenizer_corpus() -> list[str]:
    """The tokenizer's base corpus plus the demo's questions and descriptions (so that the demo's
    contexts stay short)."""
    recipes = list(demo_recipes())
    questions = [demo_question(i, recipe) for i, recipe in enumerate(recipes)] + demo_pair_questions(recipes)
    questions += [{**q, "candidates": q["answers"]} for q in map(demo_abench_question, *zip(*enumerate(recipes)))]
    # Each question once, behind the pair labels (what counts is that every word occurs).
    lines = [prompts.a1_pair_images("") + prompts.a1_prompt(q["question"], q["candidates"]) for q in questions]
    return [*base_corpus(), *lines, prompts.A2_PROMPT, *map(demo_description, recipes)]


def demo_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """The tokenizer of the demo's model and of the tests' fixtures."""
    return train_tokenizer(_tokenizer_corpus())


def _processor(tokenizer, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE) -> transformers.LlavaProcessor:
    image_processor = transformers.LlavaImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    )
    return transformers.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
        chat_template=CHAT_TEMPLATE,
    )


def _config(tokenizer, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE,
            text_heads: int = 4) -> transformers.LlavaConfig:
    vision = transformers.CLIPVisionConfig(
        hidden_size=VISION_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
    )
    text = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_HIDDEN,
        intermediate_size=TEXT_INTERMEDIATE,
        num_hidden_layers=2,
        num_attention_heads=text_heads,
        num_key_value_heads=text_heads,
        max_position_embeddings=max(512, 2 * (image_size // patch_size) ** 2),  # image tokens and the text
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return transformers.LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )


def _new_model_and_processor(seed: int, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE,
                             text_heads: int = 4):
    """The fixture architecture with random weights; other image geometries for the benchmarks
    (336 pixels, patch 14: LLaVA-1.5's 576 image tokens), and fewer, wider attention heads for
    vLLM's CPU backend (2 heads of 32)."""
    torch.manual_seed(seed)
    tokenizer = demo_tokenizer()
    config = _config(tokenizer, image_size, patch_size, text_heads)
    tokenizer.model_max_length = config.text_config.max_position_embeddings
    model = transformers.LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), _processor(tokenizer, image_size, patch_size)


def save_atomically(out_dir: Path, *parts) -> Path:
    """``save_pretrained`` of every part (model, processor, tokenizer, ...) into ``out_dir``,
    swapped in whole."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    for part in parts:
        part.save_pretrained(tmp)
    replace_dir(tmp, out_dir)
    return out_dir


def use_vllm_weight_names(model_dir: Path) -> Path:
    """Rename a saved LLaVA's vision weights to what vLLM's LLaVA loader reads,
    ``vision_tower.vision_model.*`` (as hub LLaVA checkpoints have them; transformers 5 writes
    ``vision_tower.*`` and reads both)."""
    from safetensors.torch import load_file, save_file

    prefix, vllm_prefix = "vision_tower.", "vision_tower.vision_model."
    for weights in sorted(model_dir.glob("*.safetensors")):
        tensors = load_file(weights)
        save_file({vllm_prefix + name[len(prefix):] if name.startswith(prefix) and not name.startswith(vllm_prefix)
                   else name: tensor for name, tensor in tensors.items()}, weights, metadata={"format": "pt"})
    return model_dir


def _dct_basis(n: int) -> torch.Tensor:
    """Orthonormal 2-D DCT-II basis, shape (n*n, n, n)."""
    k = torch.arange(n, dtype=torch.float64)
    basis_1d = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    basis_1d[0] /= math.sqrt(2)
    return torch.einsum("ux,vy->uvxy", basis_1d, basis_1d).reshape(n * n, n, n)


def _wire_patch_features(model) -> None:
    """Vision tower -> fixed per-patch spectrum features.

    The patch embedding takes the 2-D DCT of each patch's grey level; position embeddings add a
    constant +c / -c channel pair, so CLIP's pre-LayerNorm output keeps the patch's contrast
    (c over the patch's AC energy) besides its normalised spectrum. Both encoder layers are made
    identities (zero output projections), so the features LLaVA reads at layer -2 are exactly
    that LayerNorm output.
    """
    tower = model.model.vision_tower
    weight = torch.zeros(VISION_HIDDEN, 3, PATCH_SIZE, PATCH_SIZE, dtype=torch.float64)
    weight[2:] = _dct_basis(PATCH_SIZE)[:, None] / 3  # grey = mean of the normalised channels
    position = torch.zeros_like(tower.embeddings.position_embedding.weight)
    position[:, 0], position[:, 1] = 1.0, -1.0
    with torch.no_grad():
        tower.embeddings.patch_embedding.weight.copy_(weight)
        tower.embeddings.position_embedding.weight.copy_(position)
        for layer in tower.encoder.layers:
            for linear in (layer.self_attn.out_proj, layer.mlp.fc2):
                linear.weight.zero_()
                linear.bias.zero_()


class _Reads(NamedTuple):
    """Demo requests as one padded batch, each context followed by the continuation the model is
    fitted to give; ``at`` marks the positions whose next-token logits are fitted."""

    inputs: dict  # input_ids, attention_mask, pixel_values
    at: torch.Tensor  # (row, position) pairs
    targets: torch.Tensor  # the token each of those positions is fitted to predict


def _batch(processor, requests) -> _Reads:
    """``requests``: (context, images, continuation token ids). Contexts are encoded as lm-eval's
    hf-multimodal encodes them (the processor, on the text with its images), continuations apart."""
    rows, pixels = [], []
    for context, images, continuation in requests:
        encoded = processor(images=images, text=[context], return_tensors="pt")
        rows.append((encoded["input_ids"][0].tolist(), continuation))
        pixels.append(encoded["pixel_values"])
    width = max(len(context) + len(continuation) for context, continuation in rows)
    ids = torch.full((len(rows), width), processor.tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    at, targets = [], []
    for k, (context, continuation) in enumerate(rows):
        ids[k, : len(context) + len(continuation)] = torch.tensor(context + continuation)
        mask[k, : len(context) + len(continuation)] = 1
        at += [(k, len(context) - 1 + i) for i in range(len(continuation))]
        targets += continuation
    inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": torch.cat(pixels)}
    return _Reads(inputs, torch.tensor(at), torch.tensor(targets))


def _trunk_states(model, reads: _Reads) -> torch.Tensor:
    """The residual stream entering the last decoder layer's MLP, at ``reads.at``: what the head sees."""
    captured = []
    last_layer = model.model.language_model.layers[-1]
    hook = last_layer.post_attention_layernorm.register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            model(**reads.inputs)
    finally:
        hook.remove()
    return captured[0][reads.at[:, 0], reads.at[:, 1]]


def _head_features(model, states: torch.Tensor) -> torch.Tensor:
    """What the output layer reads, from trunk states: the rest of the forward up to it
    (LlamaDecoderLayer's MLP block, the final norm)."""
    last_layer = model.model.language_model.layers[-1]
    hidden = states + last_layer.mlp(last_layer.post_attention_layernorm(states))
    return model.model.language_model.norm(hidden)


def _head(model, states: torch.Tensor) -> torch.Tensor:
    """Next-token logits from trunk states."""
    return model.lm_head(_head_features(model, states))


def _finish_a3_margins(model, rated_states: torch.Tensor, margins: torch.Tensor, good_id: int, poor_id: int) -> None:
    """The A3 margins' last step in closed form: the change to the " good" - " poor" direction of
    the output layer that fits the margins best (ridge least squares, float64), split between the
    two words' rows: the best fit the head's features allow, where Adam stops a little short of
    it (a gain of about 0.001 in PLCC, measured at 3,000 steps). No demo answer uses either word,
    so no answer moves."""
    with torch.no_grad():
        features = _head_features(model, rated_states).double()
        weight = model.lm_head.weight
        residual = margins.double() - features @ (weight[good_id] - weight[poor_id]).double()
        ridge = 1e-3 * len(features) * torch.eye(features.shape[1], dtype=torch.float64)
        change = torch.linalg.solve(features.T @ features + ridge, features.T @ residual)
        weight[good_id] += (change / 2).to(weight.dtype)
        weight[poor_id] -= (change / 2).to(weight.dtype)


# The tasks the demo's model is fitted on: the demo run's tasks (the tag qbench_demo).
DEMO_TASKS = ("qbench_a1_demo", "qbench_a1_demo_mc", "qbench2_a1_demo", "qbench2_a1_demo_mc",
              "qbench_a2_demo", "qbench_a3_demo", "abench_demo", "abench_demo_mc")


def _task_requests(processor, chat: bool) -> list:
    """Every request of the demo tasks as lm-eval builds it for ``hf-multimodal`` on this
    processor: with the plain prompt, or (``chat``) rendered by hf-multimodal's own
    ``apply_chat_template``, as ``--apply_chat_template`` renders it."""
    from lm_eval.models.hf_vlms import HFMultimodalLM
    from lm_eval.tasks import TaskManager

    # What hf-multimodal's apply_chat_template reads of its model (its defaults otherwise).
    renderer = SimpleNamespace(processor=processor, interleave=True, max_images=999, chat_applied=False)
    instances = []
    for task in TaskManager().load(list(DEMO_TASKS))["tasks"].values():
        task.build_all_requests(apply_chat_template=chat,
                                chat_template=partial(HFMultimodalLM.apply_chat_template, renderer))
        instances += task.instances
    return instances


def _continuation_ids(tokenizer, context: str, continuation: str) -> list[int]:
    """The continuation's tokens after the context, as hf-multimodal splits them (the whole
    text's tokens after the context's own)."""
    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
    return tokenizer(context + continuation, add_special_tokens=False)["input_ids"][len(context_ids):]


def _demo_requests(processor) -> tuple[list, list, list[float]]:
    """The demo tasks' requests in both prompt styles (``_task_requests``), as fitting targets:

    * answers: (context, images, continuation ids) - A1 and Q-Bench+ letters and A2 descriptions,
      each ending with end-of-text, and the multiple-choice tasks' right option;
    * ratings: (context, images, " good" ids) for A3, with each one's MOS.
    """
    from qbench_tasks.a1.llvisionqa import doc_to_answer_index, doc_to_answer_letter
    from qbench_tasks.data.lazy_images import decoded

    tokenizer = processor.tokenizer
    described = {recipe.img_path: demo_description(recipe) for recipe in demo_recipes()}
    answers, ratings, mos = [], [], []
    for chat in (False, True):
        for request in _task_requests(processor, chat):
            context, second, aux = request.args
            doc, images = request.doc, [decoded(image) for image in aux["visual"]]
            if request.request_type == "generate_until":  # an A1 / Q-Bench+ letter or an A2 description
                a2 = request.task_name == "qbench_a2_demo"
                said = described[doc["img_path"]] if a2 else doc_to_answer_letter(doc)
                ids = _continuation_ids(tokenizer, context, said) + [tokenizer.eos_token_id]
                answers.append((context, images, ids))
            elif "choice_words" in doc:  # A3: its first choice word carries the margin
                if request.idx == 0:
                    ratings.append((context, images, _continuation_ids(tokenizer, context, second)))
                    mos.append(float(doc["mos"]))
            elif request.idx == doc_to_answer_index(doc):  # multiple choice: the right option
                answers.append((context, images, _continuation_ids(tokenizer, context, second)))
    return answers, ratings, mos


A3_WEIGHT = 0.3  # of the A3 margin's squared error beside the answers' cross-entropy (``_fit_head``)


def _fit_head(model, processor, seed: int, steps: int) -> None:
    """Fit the head (module docstring) by full-batch Adam on the trunk's states: cross-entropy
    for every continuation token, and for A3 the squared error of the " good" - " poor" margin
    against MOS mapped linearly onto [-2, 2] (the official score, a softmax at temperature 100, is
    nearly linear in the margin, so its PLCC then follows too), weighted down so that the answers'
    tokens keep most of the head's capacity.

    Why the figures do not move with the CPU: the fit is not reproducible bit for bit (the CPU's
    kernels, AVX2 or AVX-512, and the thread count round differently, and a non-convex fit carries
    1e-16 apart into weights 0.1 apart, in float64 as in float32). What is reproducible is that it
    fits: the head is wide enough (``TEXT_INTERMEDIATE``) and the fit long enough that every
    answer's every token is the model's first choice by a logit margin of at least 3.2
    (measured), far beyond what rounding moves, and the A3 margins follow MOS to PLCC 0.999. The
    1,500-step fit of a 128-wide head left 9% of the answers wrong, a different 9% on each CPU;
    at 3,000 steps every answer was right everywhere but A3's PLCC still ranged 0.984-0.997.
    """
    tokenizer = processor.tokenizer
    good_id, poor_id = (tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in prompts.A3_CHOICE_WORDS)
    answers, ratings, mos = _demo_requests(processor)
    # Answers in batches of similar length (a pair's two images, a description's words): little padding.
    answers.sort(key=lambda request: (len(request[1]), len(request[2]), request[0]))
    reads = [_batch(processor, answers[start:start + 64]) for start in range(0, len(answers), 64)]
    states = torch.cat([_trunk_states(model, r) for r in reads])
    targets = torch.cat([r.targets for r in reads])
    rated_states = torch.cat([_trunk_states(model, _batch(processor, ratings[start:start + 64]))
                              for start in range(0, len(ratings), 64)])
    margins = 4 * (torch.tensor(mos) - min(mos)) / (max(mos) - min(mos)) - 2

    last_layer = model.model.language_model.layers[-1]
    head = [*last_layer.post_attention_layernorm.parameters(), *last_layer.mlp.parameters(),
            *model.model.language_model.norm.parameters(), *model.lm_head.parameters()]
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(head, lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for _ in range(steps):
        rating = _head(model, rated_states)
        loss = torch.nn.functional.cross_entropy(_head(model, states), targets) + A3_WEIGHT * (
            torch.nn.functional.mse_loss(rating[:, good_id] - rating[:, poor_id], margins))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    _finish_a3_margins(model, rated_states, margins, good_id, poor_id)


def build_demo_model(out_dir: str | os.PathLike, seed: int = 0, steps: int = 5000) -> Path:
    """The demo's model (module docstring), saved at ``out_dir``."""
    model, processor = _new_model_and_processor(seed)
    _wire_patch_features(model)
    _fit_head(model, processor, seed, steps)
    return save_atomically(Path(out_dir), model.eval(), processor)


def demo_model() -> Path:
    """Path of the demo's fitted model, building it on first use (about 3 minutes on 2 CPU cores)."""
    path = cache_dir() / f"fixtures-v{FIXTURE_VERSION}" / "llava-demo"
    if not (path / "config.json").exists():
        build_demo_model(path)
    return path
