"""The tests' locally built models, cached once per cache folder: the demo's fitted model and,
built on the same architecture and tokenizer, a random-weight one, a tiny CLIP and the rule judge."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import transformers
from fixture_judge import build_keyword_judge

from qbench_tasks.data.location import cache_dir
from qbench_tasks.demo.model import (
    FIXTURE_VERSION,
    _new_model_and_processor,
    demo_model,
    demo_tokenizer,
    save_atomically,
    use_vllm_weight_names,
)


def build_tiny_llava(out_dir: str | os.PathLike, seed: int = 0, **geometry) -> Path:
    """Random-weight tiny LLaVA saved at ``out_dir``: exercises every code path. ``geometry``:
    ``image_size`` / ``patch_size`` other than the fixture's (the benchmarks' 576-token variant)."""
    model, processor = _new_model_and_processor(seed, **geometry)
    return save_atomically(Path(out_dir), model, processor)


def build_vllm_llava(out_dir: str | os.PathLike, seed: int = 0, **geometry) -> Path:
    """Random-weight tiny LLaVA that vLLM's CPU backend runs: text attention heads of 32 (its CPU
    attention takes head sizes 32, 64, 80, ...; 16 ends the engine at its first request), and the
    vision weights under the names vLLM's loader reads."""
    return use_vllm_weight_names(build_tiny_llava(out_dir, seed, text_heads=2, **geometry))


def build_tiny_clip(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Random-weight tiny CLIP (32-pixel images) with the local tokenizer, for ``clip-iqa``."""
    torch.manual_seed(seed)
    tokenizer = demo_tokenizer()
    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    processor = transformers.CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return save_atomically(Path(out_dir), transformers.CLIPModel(config).eval(), tokenizer, processor)


def cached_fixture(name: str) -> Path:
    """Path of fixture ``name`` ("tiny", "vllm", "signal", "judge" or "clip"), building it on first use."""
    if name == "signal":
        return demo_model()
    builders = {"tiny": build_tiny_llava, "vllm": build_vllm_llava, "judge": build_keyword_judge,
                "clip": build_tiny_clip}
    if name not in builders:
        raise ValueError(f"unknown fixture {name!r}; choose from {sorted([*builders, 'signal'])}")
    folder = {"tiny": "llava-tiny", "vllm": "llava-vllm"}.get(name, name)
    path = cache_dir() / f"fixtures-v{FIXTURE_VERSION}" / folder
    if not (path / "config.json").exists():
        builders[name](path)
    return path
