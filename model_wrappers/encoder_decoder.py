"""Encoder-decoder VLMs (InstructBLIP / BLIP-2 with Flan-T5) through ``hf-multimodal``.

lm-eval's seq2seq convention, kept for images: the image(s) and the whole context go to the
encoder side (for InstructBLIP: vision tower -> Q-Former with the instruction -> T5 encoder), and
a continuation is read by the decoder from its start token, its tokens encoded on their own.

* Log-likelihoods (``score_encoder_decoder``): one encoder pass per context, which also gives
  the decoder's first step (all that A3's " good" / " poor" need); continuations longer than a
  token are read in one more decoder pass over the kept encoder states, for every option of a
  multiple-choice question at once. ``--metadata '{"a3_answer_prefix_side": "decoder"}'`` moves
  A3's answer prefix ("The quality of the image is") to the decoder's side, as its start.
* Generation (``generate_answer_after_context``): lm-eval's ``generate_until`` keeps what
  follows the context's length of each output, which is right for a decoder-only model (its
  output starts with the prompt) but cut an encoder-decoder model's answer (the decoder's
  output is the answer alone); its length limit and stop sequences also counted from the
  context's length. The hook generates the answer with both counted from the decoder's start
  and hands lm-eval the answer behind the context.
"""

from __future__ import annotations

import torch
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.models.utils_hf import stop_sequences_criteria
from transformers.modeling_outputs import BaseModelOutput

from model_wrappers.lm_eval_hooks import patch

_LM_EVAL_GENERATE = HFMultimodalLM._model_multimodal_generate


def is_encoder_decoder(config) -> bool:
    """Whether the model's language model reads the prompt in an encoder and answers in a decoder."""
    text = getattr(config, "text_config", None)
    return bool(getattr(config, "is_encoder_decoder", False) or getattr(text, "is_encoder_decoder", False)
                or getattr(config, "use_decoder_only_language_model", True) is False)


def _seq2seq_language_model(lm: HFMultimodalLM):
    """The model's encoder-decoder language model (what reads a continuation from kept encoder
    states), refused by name where the family keeps it elsewhere."""
    language_model = getattr(lm.model, "language_model", None)
    if not getattr(getattr(language_model, "config", None), "is_encoder_decoder", False):
        raise ValueError(f"{lm.config.model_type}: an encoder-decoder language model that is not the model's "
                         "`language_model` (as InstructBLIP's and BLIP-2's are) cannot be scored here")
    return language_model


def _encoder_states(outputs) -> torch.Tensor:
    """The encoder's last hidden states in a forward's output (InstructBLIP and BLIP-2 keep the
    language model's output apart)."""
    for holder in (outputs, getattr(outputs, "language_model_outputs", None)):
        states = getattr(holder, "encoder_last_hidden_state", None)
        if states is not None:
            return states
    raise ValueError("the model's forward returned no encoder states (encoder_last_hidden_state)")


def answer_prefix_to_decoder(lm: HFMultimodalLM, context: str, prefix: str) -> tuple[str, list[int]]:
    """An A3 context with ``a3_answer_prefix_side`` "decoder": the context without its answer
    prefix (for the encoder) and the prefix's tokens (the decoder's start, before the choice word)."""
    if not context.endswith(prefix):
        raise ValueError(f"an A3 context that does not end with its answer prefix {prefix!r}: {context[-80:]!r}")
    return context[: -len(prefix)].rstrip(), lm.tokenizer(prefix, add_special_tokens=False)["input_ids"]


def _decoder_inputs(sequences: list[list[int]], device) -> dict[str, torch.Tensor]:
    """Decoder token sequences padded on the right (a decoder attends causally: a pad only
    follows what is read), with their mask."""
    ids = torch.zeros((len(sequences), max(map(len, sequences))), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, sequence in enumerate(sequences):
        ids[k, : len(sequence)] = torch.tensor(sequence)
        mask[k, : len(sequence)] = 1
    return {"decoder_input_ids": ids.to(device), "decoder_attention_mask": mask.to(device)}


def score_encoder_decoder(lm: HFMultimodalLM, rows, encoding, log_softmax) -> list[list[tuple[float, bool]]]:
    """(log-likelihood, is-greedy) per member of each row (one row per image + context;
    ``encoding``: the processor's batch of them). A row's shared continuation tokens are the
    decoder's start after its start token (the A3 answer prefix on the decoder side), else none."""
    language_model = _seq2seq_language_model(lm)
    start = language_model.config.decoder_start_token_id
    inputs = {k: v.to(lm.device, lm.model.dtype) if v.is_floating_point() else v.to(lm.device)
              for k, v in encoding.items()}
    prefixes = [[start, *row.shared_continuation] for row in rows]
    first = lm.model(**inputs, **_decoder_inputs(prefixes, lm.device))
    first_steps = log_softmax(torch.stack([first.logits[i, len(prefix) - 1] for i, prefix in enumerate(prefixes)]))
    members = [(i, ids) for i, row in enumerate(rows) for _, ids in row.members]
    later = None
    if any(len(ids) > 1 for _, ids in members):  # the rest of each continuation, from the kept encoder states
        which = torch.tensor([i for i, _ in members], device=lm.device)
        later = log_softmax(language_model(
            encoder_outputs=BaseModelOutput(last_hidden_state=_encoder_states(first)[which]),
            attention_mask=inputs["attention_mask"][which],
            **_decoder_inputs([prefixes[i] + ids[:-1] for i, ids in members], lm.device)).logits)
    scored, k = [], 0
    for i, row in enumerate(rows):
        answers = []
        for _, ids in row.members:
            steps = [first_steps[i], *(later[k, len(prefixes[i]) - 1 + j] for j in range(1, len(ids)))]
            answers.append((sum(float(step[token]) for step, token in zip(steps, ids)),
                            all(int(step.argmax()) == token for step, token in zip(steps, ids))))
            k += 1
        scored.append(answers)
    return scored


def generate_answer_after_context(self: HFMultimodalLM, inputs, max_length, stop, **generation_kwargs):
    """``_model_multimodal_generate`` for both kinds (module docstring)."""
    if not is_encoder_decoder(self.config):
        return _LM_EVAL_GENERATE(self, inputs, max_length, stop, **generation_kwargs)
    context = inputs["input_ids"]
    temperature = generation_kwargs.pop("temperature", 0.0)
    if temperature == 0.0 and generation_kwargs.get("do_sample") is None:
        generation_kwargs["do_sample"] = False
    if generation_kwargs.get("do_sample"):
        generation_kwargs["temperature"] = temperature
    answers = self.model.generate(
        **inputs,
        max_new_tokens=max_length - context.shape[1],
        stopping_criteria=stop_sequences_criteria(self.tokenizer, stop, 1, context.shape[0]),
        pad_token_id=self.tokenizer.pad_token_id,
        use_cache=True,
        **generation_kwargs,
    )
    return torch.cat([context, answers.to(context.device)], dim=1)


def install_encoder_decoder_generation_hook() -> bool:
    """Give lm-eval's ``hf-multimodal`` the generation above; True when in effect."""
    return patch(HFMultimodalLM, "_model_multimodal_generate", generate_answer_after_context,
                 "encoder-decoder generation")
