"""Tiny random-weight models of the families people evaluate, built offline from configs.

Each builder saves a model, its processor (image processor + a tokenizer trained locally, with
the family's own special tokens) and, where the family has one, a chat template that writes the
image the way the family's released template does. Hidden sizes are 32-64, images a few dozen
pixels: what is tested is the plumbing (placeholders, token expansion, positions, masks,
padding), which does not depend on size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
import transformers

from qbench_tasks.demo.model import demo_tokenizer, save_atomically

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=2048)


def chat_template(image_text: str, bos: str = "") -> str:
    """A two-role template writing each image as ``image_text`` (the family's own markup)."""
    return (
        bos + "{% for message in messages %}{{ message['role'] | capitalize }}{{ ': ' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for item in message['content'] %}{% if item['type'] == 'image' %}" + image_text +
        "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{% if not loop.last %}{{ '\\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '\\nAssistant:' }}{% endif %}"
    )


def tokenizer_with(*special: str, **named: str) -> transformers.PreTrainedTokenizerFast:
    """The fixtures' locally trained tokenizer plus the family's special tokens; ``named`` ones
    also become tokenizer attributes (e.g. Gemma3's ``boi_token``), as the family's tokenizer has."""
    tokenizer = demo_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": [*special, *named.values()]})
    if named:
        tokenizer = transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizer.backend_tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
            model_max_length=2048, extra_special_tokens=named)
    return tokenizer


def ids(tokenizer, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in tokens]


def text_config(tokenizer, **extra) -> dict:
    return dict(TEXT, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **extra)


def clip_vision(image_size: int, patch_size: int) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                image_size=image_size, patch_size=patch_size)


def llava_next():
    tok = tokenizer_with("<image>")
    size = 32
    processor = transformers.LlavaNextProcessor(
        image_processor=transformers.LlavaNextImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size},
            image_grid_pinpoints=[[size, size], [size, 2 * size], [2 * size, size]]),
        tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=chat_template("{{ '<image>\\n' }}"))
    config = transformers.LlavaNextConfig(
        vision_config=dict(clip_vision(size, 8), model_type="clip_vision_model"),
        text_config=dict(text_config(tok), model_type="llama"), image_token_index=ids(tok, "<image>")[0],
        image_grid_pinpoints=[[size, size], [size, 2 * size], [2 * size, size]],
        vision_feature_select_strategy="default", vision_feature_layer=-2)
    return transformers.LlavaNextForConditionalGeneration(config), processor


def _qwen_vl(config_class, model_class, image_processor_class, video_processor_class, processor_class, vision,
             text_heads: int = 4):
    tok = tokenizer_with("<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>")
    pixels = dict(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 9)
    processor = processor_class(
        image_processor=image_processor_class(**pixels), video_processor=video_processor_class(**pixels),
        tokenizer=tok, chat_template=chat_template("{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"))
    start, image, _, video = ids(tok, "<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>")
    half = TEXT["hidden_size"] // text_heads // 2  # M-RoPE's sections cover half a head: 8 -> [2, 3, 3]
    config = config_class(
        text_config=text_config(tok, rope_scaling={"type": "mrope", "mrope_section": [half // 4, 3 * half // 8,
                                                                                       3 * half // 8]},
                                num_attention_heads=text_heads, num_key_value_heads=min(2, text_heads)),
        vision_config=vision, image_token_id=image, video_token_id=video, vision_start_token_id=start)
    return model_class(config), processor


def qwen2_vl(text_heads: int = 4):
    """``text_heads=2``: heads of 32, the smallest vLLM's CPU attention takes (tests/vllm)."""
    return _qwen_vl(transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration,
                    transformers.Qwen2VLImageProcessor, transformers.Qwen2VLVideoProcessor,
                    transformers.Qwen2VLProcessor,
                    dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14,
                         spatial_merge_size=2, temporal_patch_size=2), text_heads)


def qwen2_5_vl():
    return _qwen_vl(transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration,
                    transformers.Qwen2VLImageProcessor, transformers.Qwen2VLVideoProcessor,
                    transformers.Qwen2_5_VLProcessor,
                    dict(depth=2, hidden_size=32, out_hidden_size=64, intermediate_size=64, num_heads=2,
                         patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                         fullatt_block_indexes=[1]))


def open_gates(model, *names: str):
    """Set the named gates to 1: they start at 0 (tanh(0) = 0), which leaves the image no effect."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(names):
                parameter.fill_(1.0)
    return model


def siglip_vision(image_size: int, patch_size: int) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                image_size=image_size, patch_size=patch_size)


def gemma3():
    tok = tokenizer_with(boi_token="<start_of_image>", image_token="<image_soft_token>", eoi_token="<end_of_image>")
    processor = transformers.Gemma3Processor(
        image_processor=transformers.Gemma3ImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=tok, image_seq_length=4,
        chat_template=chat_template("{{ '<start_of_image>' }}", bos="{{ bos_token }}"))
    boi, image, eoi = ids(tok, "<start_of_image>", "<image_soft_token>", "<end_of_image>")
    config = transformers.Gemma3Config(
        text_config=text_config(tok, head_dim=16, sliding_window=64, query_pre_attn_scalar=16),
        vision_config=siglip_vision(32, 8), mm_tokens_per_image=4,
        boi_token_index=boi, eoi_token_index=eoi, image_token_index=image)
    model = transformers.Gemma3ForConditionalGeneration(config)
    with torch.no_grad():  # initialised to zeros, which would leave every image without effect
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(std=0.2)
    return model, processor


def paligemma():
    tok = tokenizer_with()
    image_processor = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16  # (32 / 8) ** 2 patches, one token each
    processor = transformers.PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)
    config = transformers.PaliGemmaConfig(
        text_config=dict(text_config(tok, head_dim=16), vocab_size=len(processor.tokenizer), model_type="gemma"),
        vision_config=dict(siglip_vision(32, 8), projection_dim=64),
        image_token_index=processor.image_token_id, projection_dim=64, hidden_size=64)
    return transformers.PaliGemmaForConditionalGeneration(config), processor


def idefics3():
    tok = tokenizer_with("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
                         *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)))
    processor = transformers.Idefics3Processor(
        image_processor=transformers.Idefics3ImageProcessor(
            size={"longest_edge": 64}, max_image_size={"longest_edge": 32}),
        tokenizer=tok, image_seq_len=4, chat_template=chat_template("{{ '<image>' }}"))
    config = transformers.Idefics3Config(
        vision_config=siglip_vision(32, 8), text_config=dict(text_config(tok), model_type="llama"),
        scale_factor=2, image_token_id=ids(tok, "<image>")[0])
    return transformers.Idefics3ForConditionalGeneration(config), processor


def mllama():
    tok = tokenizer_with("<|image|>", "<|python_tag|>")
    processor = transformers.MllamaProcessor(
        image_processor=transformers.MllamaImageProcessor(size={"height": 32, "width": 32}, max_image_tiles=2),
        tokenizer=tok, chat_template=chat_template("{{ '<|image|>' }}", bos="{{ bos_token }}"))
    config = transformers.MllamaConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
                           attention_heads=2, image_size=32, patch_size=8, max_num_tiles=2,
                           intermediate_layers_indices=[0], vision_output_dim=64,
                           supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]]),
        text_config=text_config(tok, cross_attention_layers=[1], rope_scaling=None),
        image_token_index=ids(tok, "<|image|>")[0])
    return open_gates(transformers.MllamaForConditionalGeneration(config), "cross_attn_attn_gate",
                      "cross_attn_mlp_gate"), processor


def idefics():
    """IDEFICS (v1), the official Q-Bench demo's model."""
    tok = tokenizer_with("<fake_token_around_image>", "<image>", "<end_of_utterance>")
    processor = transformers.IdeficsProcessor(
        image_processor=transformers.IdeficsImageProcessor(image_size=32), tokenizer=tok, image_size=32)
    config = transformers.IdeficsConfig(
        **text_config(tok), additional_vocab_size=0, cross_layer_interval=1, perceiver_config=dict(use_resampler=False),
        vision_config=dict(embed_dim=32, image_size=32, patch_size=8, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64))
    return open_gates(transformers.IdeficsForVisionText2Text(config), "alpha_cross_attn", "alpha_dense"), processor


def _wordpiece_tokenizer() -> transformers.BertTokenizerFast:
    """A BERT-style tokenizer (InstructBLIP's Q-Former reads the instruction with one)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer()
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(["rate the quality of the image", "is this image blurry", "yes no answer"] * 10,
                                  trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", special.index("[CLS]")), ("[SEP]", special.index("[SEP]"))])
    return transformers.BertTokenizerFast(tokenizer_object=wordpiece, **dict(zip(
        ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), special)))


def _t5(tok) -> dict:
    """A Flan-T5-shaped encoder-decoder language model (gated GELU), starting its decoder at pad."""
    return dict(vocab_size=len(tok), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                feed_forward_proj="gated-gelu", model_type="t5", decoder_start_token_id=tok.pad_token_id,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)


def instructblip(flan_t5: bool = False):
    """InstructBLIP with a Vicuna (LLaMA) language model, as the paper evaluated, or Flan-T5."""
    tok = tokenizer_with("<image>")
    language = _t5(tok) if flan_t5 else dict(text_config(tok), model_type="llama")
    qformer_tokenizer = _wordpiece_tokenizer()
    processor = transformers.InstructBlipProcessor(
        image_processor=transformers.BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok,
        qformer_tokenizer=qformer_tokenizer, num_query_tokens=4)
    config = transformers.InstructBlipConfig(
        vision_config=dict(clip_vision(32, 8), initializer_range=0.02),  # its default, 1e-10, blanks images
        qformer_config=dict(vocab_size=len(qformer_tokenizer), hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=64, encoder_hidden_size=32),
        text_config=language, num_query_tokens=4, image_token_index=ids(tok, "<image>")[0])
    model = transformers.InstructBlipForConditionalGeneration(config)
    with torch.no_grad():  # initialised to zeros: every query would read the image alike
        model.query_tokens.normal_()
    return model, processor


def blip2(flan_t5: bool = False):
    """BLIP-2 with OPT (decoder-only) or Flan-T5 (encoder-decoder) as its language model."""
    tok = tokenizer_with("<image>")
    language = (_t5(tok) if flan_t5 else
                dict(vocab_size=len(tok), hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                     word_embed_proj_dim=64, max_position_embeddings=2048, pad_token_id=tok.pad_token_id,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, model_type="opt"))
    processor = transformers.Blip2Processor(
        image_processor=transformers.BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok,
        num_query_tokens=4)
    config = transformers.Blip2Config(
        vision_config=dict(clip_vision(32, 8), initializer_range=0.02),
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            encoder_hidden_size=32),
        text_config=language, num_query_tokens=4, image_token_index=ids(tok, "<image>")[0])
    model = transformers.Blip2ForConditionalGeneration(config)
    with torch.no_grad():  # initialised to zeros: every query would read the image alike
        model.query_tokens.normal_()
    return model, processor


def kosmos2():
    tok = tokenizer_with()
    tok.add_special_tokens({"unk_token": "<unk>"})  # Kosmos-2 numbers its image placeholders after it
    processor = transformers.Kosmos2Processor(
        image_processor=transformers.CLIPImageProcessor(size={"shortest_edge": 32},
                                                        crop_size={"height": 32, "width": 32}),
        tokenizer=tok)
    config = transformers.Kosmos2Config(
        text_config=dict(vocab_size=len(tok), embed_dim=64, layers=2, attention_heads=4, ffn_dim=128,
                         max_position_embeddings=2048, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id),
        vision_config=clip_vision(32, 8), latent_query_num=64)  # the processor's 64 image tokens
    return transformers.Kosmos2ForConditionalGeneration(config), processor


def _sentencepiece_like_tokenizer(*pieces: str) -> transformers.PreTrainedTokenizerFast:
    """A tokenizer that writes "▁" before every text, as a SentencePiece tokenizer does, with
    ``pieces`` as ordinary one-token words (Fuyu's processor drops the first token of its image
    tokens, the "▁" its real tokenizer puts there)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from qbench_tasks.demo.model import _tokenizer_corpus
    from qbench_tasks.demo.tokenizer import SPECIAL_TOKENS

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Prepend("▁")
    words = "|".join(map(re.escape, ("▁", *pieces)))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(words), "isolated"), pre_tokenizers.Split(Regex(r"\s?\S+"), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    corpus = _tokenizer_corpus() + ["▁" + "".join(pieces)] * 100
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIAL_TOKENS,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>", model_max_length=2048)


def fuyu():
    """Fuyu: its processor pads a batch on the left, whatever the tokenizer's padding side says."""
    tok = _sentencepiece_like_tokenizer("|SPEAKER|", "|NEWLINE|", "<0x04>")
    processor = transformers.FuyuProcessor(
        image_processor=transformers.FuyuImageProcessor(size={"height": 32, "width": 48},
                                                        patch_size={"height": 8, "width": 8}),
        tokenizer=tok)
    config = transformers.FuyuConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=2048, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, model_type="persimmon"),
        patch_size=8, image_size=48, image_token_id=tok.convert_tokens_to_ids("|SPEAKER|"))
    return transformers.FuyuForCausalLM(config), processor


# name -> builder returning (model, processor); the tests' matrix.
BUILDERS: dict[str, Callable] = {
    "llava_next": llava_next,
    "qwen2_vl": qwen2_vl,
    "qwen2_5_vl": qwen2_5_vl,
    "gemma3": gemma3,
    "paligemma": paligemma,
    "idefics3": idefics3,
    "mllama": mllama,
    "idefics": idefics,
    "instructblip": instructblip,
    "kosmos2": kosmos2,
    "instructblip_flan_t5": lambda: instructblip(flan_t5=True),
    "blip2_opt": blip2,
    "blip2_flan_t5": lambda: blip2(flan_t5=True),
    "fuyu": fuyu,
}


# Families built to vLLM's CPU limits, for tests/vllm.
VLLM_BUILDERS: dict[str, Callable] = {"qwen2_vl": lambda: qwen2_vl(text_heads=2)}


def build(name: str, out_dir: Path, seed: int = 0, builders: dict[str, Callable] = BUILDERS) -> Path:
    torch.manual_seed(seed)
    model, processor = builders[name]()
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    return save_atomically(out_dir, model.eval(), processor)
