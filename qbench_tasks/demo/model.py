"""The demo's model: a tiny LLaVA-architecture model built locally from configs.

Nothing here downloads anything: the tokenizer is trained on a small built-in corpus and the
weights are seeded; the model is saved with ``save_pretrained`` so that it loads through the same
``AutoModelForImageTextToText`` / ``AutoProcessor`` path as any hub model. Its " good" minus
" poor" next-token logit is an increasing function of one image statistic, the mean over image
patches of a small per-patch network (see ``build_signal_llava``). That network is fitted for a
few seconds to the demo set's MOS, so on the demo set the model's scores follow MOS: a test can
then tell whether each image reached the model paired with its own document. (It is fitted to the
demo images themselves: it proves plumbing, not quality-assessment skill.) The tests' other
models (random weights, CLIP, the rule judge) build on this one in ``tests/fixture_models.py``.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from qbench_tasks import prompts
from qbench_tasks.data.location import cache_dir
from qbench_tasks.data.parquet import replace_dir
from qbench_tasks.demo.data import demo_items

# Bump when the architecture, corpus or training recipe changes: cached builds are keyed by it.
FIXTURE_VERSION = "1"

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", IMAGE_TOKEN]
IMAGE_SIZE = 128
PATCH_SIZE = 16
# Vision width: one channel per 2-D DCT coefficient of a patch, plus a +c / -c channel pair.
VISION_HIDDEN = PATCH_SIZE * PATCH_SIZE + 2
TEXT_HIDDEN = 64

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

_QUALITY_WORDS = ["good", "poor", "high", "low", "excellent", "bad", "fair", "fine", "average"]
_LOW_LEVEL_WORDS = [
    "blur", "noise", "exposure", "artifact", "color", "lighting", "focus", "composition",
    "sharp", "clear", "dark", "bright", "compression", "distortion", "image", "photo",
]


def _tokenizer_corpus() -> list[str]:
    """Sentences in the register the fixtures will see: the Q-Bench prompts and answers."""
    lines = [
        prompts.A3_PROMPT,
        f"{prompts.A3_ANSWER_PREFIX} good.",
        "USER: Rate the quality of the image. ASSISTANT: The answer is",
    ]
    for word in _QUALITY_WORDS:
        lines.append(f"{prompts.A3_ANSWER_PREFIX} {word}.")
        lines.append(f"The {word} image has {word} quality and {word} clarity.")
    for word in _LOW_LEVEL_WORDS:
        lines.append(f"Is there {word} in the image? Yes, the {word} is visible. No {word}.")
    lines += [f"{letter}. {letter}) ({letter}) Answer: {letter}" for letter in "ABCD"]
    return lines * 20


def train_tokenizer(vocab_size: int = 512) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (GPT-2/LLaMA-3 style) trained on the built-in corpus."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer)
    bos_id = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=512,
    )
    for word in prompts.A3_CHOICE_WORDS:
        ids = fast(" " + word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"fixture tokenizer splits ' {word}' into {ids}; A3 needs one token")
    return fast


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


def _config(tokenizer, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE) -> transformers.LlavaConfig:
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
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
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


def _new_model_and_processor(seed: int, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE):
    """The fixture architecture with random weights; other image geometries for the benchmarks
    (336 pixels, patch 14: LLaVA-1.5's 576 image tokens)."""
    torch.manual_seed(seed)
    tokenizer = train_tokenizer()
    config = _config(tokenizer, image_size, patch_size)
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


def _wire_mean_pool_readout(model, good_id: int, poor_id: int, scale: float = 8.0) -> None:
    """Language model -> margin(" good" - " poor") increasing in the mean of channel 0 over tokens.

    Layer 0's queries are zero, so the last position attends uniformly to every position before
    it and copies channel 0 of their (RMS-normalised) states; text embeddings are zero in
    channels 0-1, so only image tokens contribute. Every other block adds nothing, and the
    " good" / " poor" rows of the output layer read channel 0 with opposite signs.
    """
    lm = model.model.language_model
    with torch.no_grad():
        lm.embed_tokens.weight[:, :2] = 0
        for layer in lm.layers:
            layer.mlp.down_proj.weight.zero_()
            layer.self_attn.o_proj.weight.zero_()
        attention = lm.layers[0].self_attn
        attention.q_proj.weight.zero_()
        attention.v_proj.weight.zero_()
        attention.v_proj.weight[0, 0] = 1.0
        attention.o_proj.weight[0, 0] = 1.0
        model.lm_head.weight[[good_id, poor_id]] = 0
        model.lm_head.weight[good_id, 0] = scale
        model.lm_head.weight[poor_id, 0] = -scale


def _patch_signal(projected: torch.Tensor) -> torch.Tensor:
    """Per-image signal from projector outputs (..., patches, TEXT_HIDDEN), as the LM pools it."""
    normed = projected[..., 0] * torch.rsqrt(projected.pow(2).mean(-1) + 1e-6)
    return normed.mean(-1)


def build_signal_llava(out_dir: str | os.PathLike, seed: int = 0, steps: int = 600) -> Path:
    """Tiny LLaVA whose " good" - " poor" logit follows the demo set's MOS (module docstring).

    Vision tower and language model are wired by hand (``_wire_*``); only the projector, a
    per-patch two-layer network, is fitted (seconds on a CPU) so that the mean of its channel-0
    output over patches tracks MOS on the demo images and their mirror images.
    """
    model, processor = _new_model_and_processor(seed)
    tok = processor.tokenizer
    good_id, poor_id = (
        tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in prompts.A3_CHOICE_WORDS
    )
    _wire_patch_features(model)
    _wire_mean_pool_readout(model, good_id, poor_id)

    images, targets = [], []
    for item in demo_items():
        for view in (item.image, item.image.transpose(0)):  # 0: Image.Transpose.FLIP_LEFT_RIGHT
            images.append(view)
            targets.append(item.mos)
    target = torch.tensor(targets)
    target = (target - target.min()) / (target.max() - target.min())
    with torch.no_grad():
        pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
        hidden = model.model.vision_tower(pixels, output_hidden_states=True).hidden_states
        features = hidden[model.config.vision_feature_layer][:, 1:]  # "default": drop CLS

    projector = model.model.multi_modal_projector
    with torch.no_grad():
        projector.linear_2.weight[2:] = 0
        projector.linear_2.bias[2:] = 0
        projector.linear_2.bias[1] = 3.0  # a steady channel 1 keeps the RMS norm from saturating
    torch.manual_seed(seed)
    readout = torch.nn.Parameter(torch.tensor([4.0, 0.0]))
    optimiser = torch.optim.Adam([*projector.parameters(), readout], lr=3e-3)
    for _ in range(steps):
        margin = readout[0] * _patch_signal(projector(features)) + readout[1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(margin, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():  # only channels 0-1 may carry anything into the language model
            projector.linear_2.weight[2:] = 0
            projector.linear_2.bias[2:] = 0
    return save_atomically(Path(out_dir), model.eval(), processor)


def demo_model() -> Path:
    """Path of the demo's fitted model, building it on first use (a few seconds)."""
    path = cache_dir() / f"fixtures-v{FIXTURE_VERSION}" / "llava-signal"
    if not (path / "config.json").exists():
        build_signal_llava(path)
    return path
