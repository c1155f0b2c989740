"""The model families people evaluate, through plain ``--model hf-multimodal``: A3 and A1
multiple choice equal a direct computation, batch 1 equals batch 4, A1 generation runs.

Each family is a tiny random model built from configs (``model_matrix``), run on demo documents
whose images differ in size, so batches are padded (and, for Qwen-VL, image token counts differ).
The direct computation is the family's processor on the logged context + continuation, one
forward, log-softmax at the continuation's tokens.
"""

import pytest
import torch
import transformers
from conftest import run_lm_eval

from model_wrappers.image_placeholder import prompt_image_placeholder
from qbench_tasks.data.lazy_images import doc_to_lazy_image

TASKS = ["qbench_a3_demo", "qbench_a1_demo_mc"]
DOCS = 6  # per task: 6 A3 images (12 requests) and 6 A1 questions (2-4 options each)

# What each family's processor reads as one image in a plain prompt (from its released chat
# template; the processor's image_token where it has no template).
MARKERS = {
    "llava": "<image>",
    "llava_next": "<image>",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "gemma3": "<start_of_image>",
    "paligemma": "",  # these processors place the image themselves: a marker would be a second one
    "idefics3": "<image>",
    "mllama": "<|image|>",
    "idefics": "",
    "instructblip": "",
    "kosmos2": "",
    "fuyu": "",
    "instructblip_flan_t5": "",
    "blip2_opt": "",
    "blip2_flan_t5": "",
}
# Families released without a chat template.
NO_CHAT_TEMPLATE = {"paligemma", "idefics", "instructblip", "kosmos2", "fuyu", "instructblip_flan_t5", "blip2_opt",
                    "blip2_flan_t5"}
# lm-eval 0.4.13 refuses a model whose config names no image token unless given one (then unused).
MODEL_ARGS = {"idefics": "image_string=<image>", "kosmos2": "image_string=<image>"}
# Compared in float32 (to 1e-4): Kosmos-2's text model overflows its masks in float64.
FLOAT32 = {"kosmos2"}
RUNS = [(name, False) for name in MARKERS] + [(name, True) for name in MARKERS if name not in NO_CHAT_TEMPLATE]


def direct_loglikelihood(model, processor, context, continuation, image, marker) -> float:
    """The family's processor on (context, context + continuation), one forward, log-softmax;
    ``image``: the request's image, or the list of its images in order."""
    image = image if isinstance(image, list) else [image]
    context = context.replace("<image>", marker)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:  # lm-eval moves a context's trailing spaces to the continuation
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    if model.config.is_encoder_decoder or not getattr(model.config, "use_decoder_only_language_model", True):
        return direct_encoder_decoder_loglikelihood(model, processor, context, continuation, image)
    prefix = processor(text=[context], images=image, return_tensors="pt")["input_ids"].shape[1]
    if isinstance(processor, transformers.FuyuProcessor):  # it ends every prompt with its own answer token
        whole = processor(text=[context], images=image, return_tensors="pt")
        tokenizer = processor.tokenizer
        text_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
        appended = tokenizer(context + continuation, add_special_tokens=False)["input_ids"][len(text_ids):]
        whole["input_ids"] = torch.cat([whole["input_ids"], torch.tensor([appended])], dim=1)
        whole["attention_mask"] = torch.ones_like(whole["input_ids"])
        end = whole["input_ids"].shape[1]
    elif isinstance(processor, transformers.PaliGemmaProcessor):  # the answer is PaliGemma's suffix
        whole = processor(text=[context], images=image, suffix=[continuation], return_tensors="pt")
        del whole["labels"]
        end = whole["input_ids"].shape[1] - 1  # the suffix ends with eos
    else:
        whole = processor(text=[context + continuation], images=image, return_tensors="pt")
        end = whole["input_ids"].shape[1]
        if "qformer_input_ids" in whole:  # InstructBLIP's Q-Former reads the instruction, not the answer
            instruction = processor(text=[context], images=image, return_tensors="pt")
            whole["qformer_input_ids"] = instruction["qformer_input_ids"]
            whole["qformer_attention_mask"] = instruction["qformer_attention_mask"]
    inputs = {k: v.to(model.dtype) if v.is_floating_point() else v for k, v in whole.items()}
    with torch.no_grad():
        logits = model(**inputs).logits[0]
    targets = whole["input_ids"][0, prefix:end]
    log_probs = torch.log_softmax(logits[prefix - 1 : end - 1], dim=-1)
    return float(log_probs.gather(1, targets[:, None]).sum())


def direct_encoder_decoder_loglikelihood(model, processor, context, continuation, images) -> float:
    """An encoder-decoder model: the processor on the images and the context for the encoder, the
    continuation's own tokens read by the decoder from its start token."""
    encoded = processor(text=[context], images=images, return_tensors="pt")
    inputs = {k: v.to(model.dtype) if v.is_floating_point() else v for k, v in encoded.items()}
    targets = processor.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    start = model.language_model.config.decoder_start_token_id
    with torch.no_grad():
        logits = model(**inputs, decoder_input_ids=torch.tensor([[start, *targets[:-1]]])).logits[0]
    return float(torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(targets)[:, None]).sum())


def logged_requests(results):
    """(context, continuation, image, log-likelihood) of every request of every task."""
    for task in TASKS:
        for sample in results["samples"][task]:
            (image,) = doc_to_lazy_image(sample["doc"])  # logged samples hold a hash of a decoded image
            for (context, continuation, _), (loglik, _) in zip(sample["arguments"], sample["filtered_resps"]):
                yield context, continuation, image.decode(), loglik


@pytest.mark.parametrize("name", list(MARKERS))
def test_processor_image_marker(family_model, name):
    processor = transformers.AutoProcessor.from_pretrained(family_model(name))
    assert prompt_image_placeholder(processor) == MARKERS[name]


@pytest.mark.parametrize("name, chat", RUNS, ids=[f"{n}-{'chat' if c else 'plain'}" for n, c in RUNS])
def test_loglikelihoods_equal_a_direct_forward(family_model, name, chat):
    path = family_model(name)
    # In float64 both sides agree to rounding: what is compared is the computation, not float32
    # noise between a cached prefix and a full forward (about 1e-6 relative).
    dtype, tolerance = ("float32", 1e-4) if name in FLOAT32 else ("float64", 1e-6)
    results = run_lm_eval(TASKS, path, batch_size=4, limit=DOCS, apply_chat_template=chat,
                          model_args=",".join(filter(None, [f"dtype={dtype}", MODEL_ARGS.get(name)])))
    model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    processor = transformers.AutoProcessor.from_pretrained(path)
    compared = 0
    for context, continuation, image, loglik in logged_requests(results):
        expected = direct_loglikelihood(model, processor, context, continuation, image, MARKERS[name])
        assert loglik == pytest.approx(expected, abs=tolerance), (context, continuation)
        compared += 1
    assert compared >= 2 * DOCS + 2 * DOCS


@pytest.mark.parametrize("name", list(MARKERS))
def test_batch_1_equals_batch_4_and_a1_generation_runs(family_model, name):
    path = family_model(name)
    extra = MODEL_ARGS.get(name, "")
    one = run_lm_eval(TASKS, path, batch_size=1, limit=DOCS, model_args=extra)
    four = run_lm_eval([*TASKS, "qbench_a1_demo"], path, batch_size=4, limit=DOCS, model_args=extra)
    for task in TASKS:
        for a, b in zip(one["samples"][task], four["samples"][task]):
            assert [r[0] for r in a["filtered_resps"]] == pytest.approx([r[0] for r in b["filtered_resps"]], abs=1e-4)
    answers = [sample["filtered_resps"][0] for sample in four["samples"]["qbench_a1_demo"]]
    assert len(answers) == DOCS and all(isinstance(answer, str) for answer in answers)


@pytest.mark.parametrize("name", ["paligemma", "qwen2_vl"])
def test_full_forward_path_equals_a_direct_forward(family_model, name, monkeypatch):
    """Options scored by appending their tokens to the context in one forward (not from a cached
    prefix): PaliGemma's appended tokens must be its suffix, Qwen-VL's keep M-RoPE positions."""
    import model_wrappers.hf_multimodal_loglik as loglik_module

    monkeypatch.setattr(loglik_module, "SHARE_PREFIX_CACHE", False)
    path = family_model(name)
    results = run_lm_eval(TASKS, path, batch_size=4, limit=DOCS, model_args="dtype=float64")
    model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float64).eval()
    processor = transformers.AutoProcessor.from_pretrained(path)
    for context, continuation, image, loglik in logged_requests(results):
        expected = direct_loglikelihood(model, processor, context, continuation, image, MARKERS[name])
        assert loglik == pytest.approx(expected, abs=1e-6), (context, continuation)


def test_batches_padded_on_the_left_score_as_batch_1(family_model, monkeypatch):
    """The class behind Fuyu (a processor that pads on the left whatever its tokenizer says):
    LLaVA's processor made to pad on the left gives the same log-likelihoods at batch 4 as at 1."""
    import model_wrappers.hf_multimodal_loglik as loglik_module

    private_processor = loglik_module._private_processor

    def padding_on_the_left(lm):
        processor = private_processor(lm)
        processor.tokenizer.padding_side = "left"
        return processor

    path = family_model("llava")
    one = run_lm_eval(TASKS, path, batch_size=1, limit=DOCS)
    monkeypatch.setattr(loglik_module, "_private_processor", padding_on_the_left)
    four = run_lm_eval(TASKS, path, batch_size=4, limit=DOCS)
    for task in TASKS:
        for a, b in zip(one["samples"][task], four["samples"][task]):
            assert [r[0] for r in a["filtered_resps"]] == pytest.approx([r[0] for r in b["filtered_resps"]], abs=1e-4)


def test_a_batch_whose_padding_cannot_be_read_is_refused():
    from model_wrappers.hf_multimodal_loglik import _token_spans

    assert _token_spans(torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]])) == [
        slice(2, 4), slice(0, 2), slice(0, 4)]
    with pytest.raises(ValueError, match="batch row 1 is not one run of tokens"):
        _token_spans(torch.tensor([[1, 1, 1, 1], [0, 1, 1, 0]]))
    with pytest.raises(ValueError, match="batch row 0 is not one run"):
        _token_spans(torch.tensor([[1, 0, 1, 1]]))


def test_the_run_log_says_how_the_a3_choice_words_tokenise(family_model, caplog):
    path = family_model("qwen2_vl")
    with caplog.at_level("INFO", logger="model_wrappers.hf_multimodal_loglik"):
        run_lm_eval(["qbench_a3_demo"], path, limit=2, log_samples=False)
        run_lm_eval(["qbench_a3_demo"], path, limit=2, log_samples=False,
                    metadata={"a3_choice_words": ["superb", "awful"]})
    said = [r.getMessage() for r in caplog.records if "A3 choice words" in r.getMessage()]
    assert "' good' = ['Ġgood']" in said[0] and "one token each" in said[0]
    assert "' superb' = [" in said[1] and "whole log-likelihood" in said[1]
    assert caplog.records[-1].levelname == "WARNING"


def test_the_readmes_custom_model_scores_a3_and_a1_multiple_choice():
    """The "Adding a model" example, run exactly as docs/models.md writes it."""
    import re

    import lm_eval
    from conftest import REPO
    from lm_eval.tasks import TaskManager

    from qbench_tasks import TASKS_DIR

    page = (REPO / "docs" / "models.md").read_text()
    example = re.search(r"\*\*Adding a model\.\*\*.*?```python\n(.*?)```", page, re.S)[1]
    namespace = {}
    exec(compile(example, "docs/models.md (Adding a model)", "exec"), namespace)
    seen = []

    class Recording(namespace["BrightnessLM"]):
        def loglikelihood(self, requests, disable_tqdm=False):
            seen.extend(type(r.args[2]["visual"][0]).__name__ for r in requests)
            return super().loglikelihood(requests, disable_tqdm)

    out = lm_eval.simple_evaluate(model=Recording(), tasks=["qbench_a3_demo", "qbench_a1_demo_mc"],
                                  task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False))
    a3, a1 = out["results"]["qbench_a3_demo"], out["results"]["qbench_a1_demo_mc"]
    assert -1 <= a3["srcc,none"] <= 1 and a3["srcc,none"] != 0 and 0 <= a1["acc,none"] <= 1
    assert set(seen) == {"LazyImage", "Image"}  # A3 hands references, A1 decoded images: both handled


def test_the_a3_answer_prefix_can_start_the_decoder(family_model):
    """a3_answer_prefix_side "decoder": the encoder reads the prompt alone and the decoder reads
    " good" / " poor" after [start] + the answer prefix, equal to a direct forward so laid out."""
    path = family_model("instructblip_flan_t5")
    side = {side: run_lm_eval(["qbench_a3_demo"], path, batch_size=2, limit=4, model_args="dtype=float64",
                              metadata={"a3_answer_prefix_side": side}) for side in ("encoder", "decoder")}
    model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float64).eval()
    processor = transformers.AutoProcessor.from_pretrained(path)
    start = model.language_model.config.decoder_start_token_id
    samples = (side[name]["samples"]["qbench_a3_demo"] for name in ("decoder", "encoder"))
    for sample, other in zip(*samples):
        (image,) = doc_to_lazy_image(sample["doc"])
        prefix = sample["doc"]["answer_prefix"]
        for (context, word, _), (loglik, _), (encoder_side, _) in zip(
                sample["arguments"], sample["filtered_resps"], other["filtered_resps"]):
            encoder_text = context.replace("<image>", MARKERS["instructblip_flan_t5"]).removesuffix(prefix).rstrip()
            encoded = processor(text=[encoder_text], images=[image.decode()], return_tensors="pt")
            encoded = {k: v.double() if v.is_floating_point() else v for k, v in encoded.items()}
            decoder = [start, *processor.tokenizer(prefix, add_special_tokens=False)["input_ids"]]
            (target,) = processor.tokenizer(word, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(**encoded, decoder_input_ids=torch.tensor([decoder])).logits[0, -1]
            assert loglik == pytest.approx(float(torch.log_softmax(logits, dim=-1)[target]), abs=1e-6)
            assert loglik != pytest.approx(encoder_side, abs=1e-6)


@pytest.mark.parametrize("name", ["instructblip_flan_t5", "blip2_flan_t5"])
def test_an_encoder_decoder_models_answer_is_generated_whole(family_model, name):
    """lm-eval cuts the context's length off each output, as a decoder-only model's output starts
    with the prompt; an encoder-decoder model's is the answer alone, which must come back whole."""
    path = family_model(name)
    # No token twice: a random model otherwise repeats one token, which reads the same wherever it is cut.
    results = run_lm_eval(["qbench_a1_demo"], path, batch_size=2, limit=4,
                          gen_kwargs="max_gen_toks=6,no_repeat_ngram_size=1")
    model = transformers.AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = transformers.AutoProcessor.from_pretrained(path)
    for sample in results["samples"]["qbench_a1_demo"]:
        context = sample["arguments"][0][0]
        images = [image.decode() if hasattr(image, "decode") else image for image in doc_to_lazy_image(sample["doc"])]
        encoded = processor(text=[context.replace("<image>", "")], images=images, return_tensors="pt")
        with torch.no_grad():
            tokens = model.generate(**encoded, max_new_tokens=6, do_sample=False, no_repeat_ngram_size=1)
        expected = processor.tokenizer.decode(tokens[0], skip_special_tokens=True).split("\n\n")[0]
        assert sample["resps"][0][0] == expected and len(set(tokens[0].tolist())) > 2
