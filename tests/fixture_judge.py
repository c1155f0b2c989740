"""A tiny causal LM, wired by hand, that judges by rule: the A2 judge for tests (and the HTTP
server the stand-in API judges run on).

It is a real ``LlamaForCausalLM`` with a saved tokenizer, so it loads through lm-eval's ``hf``
model like any local judge, but its reply is known in advance: the marker token that occurs most
often in the prompt decides it (``JUDGE_MARKERS``: "<score-2>" -> "2", ..., "<score-none>" ->
"?", an unreadable reply); a prompt without a marker also gets "?". After its one-character
reply it ends the generation. A test can then put markers into descriptions and know every score.
"""

from __future__ import annotations

import os
from http.server import ThreadingHTTPServer
from pathlib import Path

import torch
import transformers

from qbench_tasks.demo.model import demo_tokenizer, save_atomically

# Marker token -> the judge's whole reply.
JUDGE_MARKERS = {"<score-0>": "0", "<score-1>": "1", "<score-2>": "2", "<score-none>": "?"}
DEFAULT_REPLY = "?"  # for a prompt without a marker

_HIDDEN = 64
_CONSTANT = 4  # channel that is 1 in every token's embedding
_REPLY = 5  # channel that marks the reply tokens, after which the generation ends
_COUNTS = 8  # channels _COUNTS + k: the share of prompt tokens that are marker k


def build_keyword_judge(out_dir: str | os.PathLike) -> Path:
    """Save the rule judge (module docstring) at ``out_dir``.

    One decoder layer. Its attention has zero queries, so the last position averages every
    position's normalised embedding; the value/output projections copy marker channel k into
    channel ``_COUNTS + k``. The output layer gives reply k a logit proportional to that share,
    the default reply a smaller constant one, and end-of-text a dominant one right after a reply.
    Every other logit is zero.
    """
    tokenizer = demo_tokenizer()
    tokenizer.add_tokens(list(JUDGE_MARKERS))
    tokenizer.model_max_length = 4096
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    ids = tokenizer.convert_tokens_to_ids
    markers = [ids(marker) for marker in JUDGE_MARKERS]
    replies = [ids(reply) for reply in JUDGE_MARKERS.values()]
    default = ids(DEFAULT_REPLY)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for norm in (model.model.norm, model.model.layers[0].input_layernorm,
                     model.model.layers[0].post_attention_layernorm):
            norm.weight.fill_(1.0)
        model.model.embed_tokens.weight[:, _CONSTANT] = 1.0
        attention = model.model.layers[0].self_attn
        for k, (marker, reply) in enumerate(zip(markers, replies)):
            model.model.embed_tokens.weight[marker, k] = 1.0
            model.model.embed_tokens.weight[reply, _REPLY] = 1.0
            attention.v_proj.weight[_COUNTS + k, k] = 1.0
            attention.o_proj.weight[_COUNTS + k, _COUNTS + k] = 1.0
            # A single marker among ~500 prompt tokens still outweighs the default reply.
            model.lm_head.weight[reply, _COUNTS + k] = 1000.0
            model.lm_head.weight[reply, _REPLY] = -1000.0
        model.lm_head.weight[default, _CONSTANT] = 2.0
        model.lm_head.weight[tokenizer.eos_token_id, _REPLY] = 1000.0
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return save_atomically(Path(out_dir), model, tokenizer)


class QuietHTTPServer(ThreadingHTTPServer):
    """The stand-in HTTP judges' server. Clients that give up mid-reply are expected (time-outs),
    so their connection errors are not printed: a traceback printed in a handler thread while the
    main thread parses Python source trips CPython 3.11's AST recursion check (a SystemError)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        pass
